using System.Diagnostics.Metrics;
using ChunkStore;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

// In the DI namespace by convention, so that AddChunkStore shows up next to AddLogging and friends.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers a <see cref="ChunkRepository"/> in a service collection.</summary>
/// <remarks>
/// Bind the options from configuration with the usual
/// <c>services.Configure&lt;ChunkStoreOptions&gt;(configuration.GetSection("ChunkStore"))</c> (keys <c>Root</c>,
/// <c>SyncMode</c>, <c>MaxChunkSize</c>, <c>LockTimeout</c>, <c>LockDirectory</c>, <c>LockStripes</c>), then call
/// <see cref="AddChunkStore"/>. The store picks up <see cref="ILoggerFactory"/>, <see cref="IMeterFactory"/> and
/// <see cref="TimeProvider"/> from the container when they are registered and not set on the options.
/// </remarks>
public static class ChunkStoreServiceCollectionExtensions
{
    /// <summary>
    /// Registers a singleton <see cref="ChunkRepository"/> opened with <see cref="ChunkRepository.OpenOrCreate"/> from
    /// the configured <see cref="ChunkStoreOptions"/> the first time it is resolved; the container disposes it.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Optional extra configuration of the options.</param>
    /// <returns>The service collection, for chaining.</returns>
    public static IServiceCollection AddChunkStore(this IServiceCollection services, Action<ChunkStoreOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions();
        if (configure is not null)
        {
            services.Configure(configure);
        }

        services.TryAddSingleton(provider => ChunkRepository.OpenOrCreate(ResolveOptions(provider)));
        return services;
    }

    /// <summary>Returns a copy of the configured options with logging, metrics and the clock taken from the container where unset.</summary>
    /// <param name="provider">The service provider.</param>
    /// <returns>The effective options.</returns>
    public static ChunkStoreOptions ResolveOptions(IServiceProvider provider)
    {
        ArgumentNullException.ThrowIfNull(provider);
        var options = provider.GetRequiredService<IOptions<ChunkStoreOptions>>().Value.Clone();
        options.LoggerFactory ??= provider.GetService<ILoggerFactory>();
        options.MeterFactory ??= provider.GetService<IMeterFactory>();
        if (ReferenceEquals(options.TimeProvider, TimeProvider.System) && provider.GetService<TimeProvider>() is { } time)
        {
            options.TimeProvider = time;
        }

        return options;
    }
}
