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

    /// <summary>
    /// Registers one of several stores in a container: a keyed singleton <see cref="ChunkRepository"/> under
    /// <paramref name="name"/>, opened from the <see cref="ChunkStoreOptions"/> configured under that name
    /// (<c>services.Configure&lt;ChunkStoreOptions&gt;(name, section)</c>) the first time it is resolved
    /// (<c>GetRequiredKeyedService&lt;ChunkRepository&gt;(name)</c>, or <c>[FromKeyedServices(name)]</c>); the container disposes it.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The store's key and the name of its options.</param>
    /// <param name="configure">Optional extra configuration of the named options.</param>
    /// <returns>The service collection, for chaining.</returns>
    public static IServiceCollection AddKeyedChunkStore(this IServiceCollection services, string name, Action<ChunkStoreOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        services.AddOptions();
        if (configure is not null)
        {
            services.Configure(name, configure);
        }

        services.TryAddKeyedSingleton(name, (provider, _) => ChunkRepository.OpenOrCreate(ResolveOptions(provider, name)));
        return services;
    }

    /// <summary>Returns a copy of the configured options with logging, metrics and the clock taken from the container where unset.</summary>
    /// <param name="provider">The service provider.</param>
    /// <returns>The effective options.</returns>
    public static ChunkStoreOptions ResolveOptions(IServiceProvider provider) => ResolveOptions(provider, Options.Options.DefaultName);

    /// <summary>Returns a copy of the options configured under <paramref name="name"/>, with logging, metrics and the clock taken from the container where unset.</summary>
    /// <param name="provider">The service provider.</param>
    /// <param name="name">The options' name (<see cref="Options.Options.DefaultName"/> for the unnamed ones).</param>
    /// <returns>The effective options.</returns>
    public static ChunkStoreOptions ResolveOptions(IServiceProvider provider, string name)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(name);
        var options = provider.GetRequiredService<IOptionsMonitor<ChunkStoreOptions>>().Get(name).Clone();
        options.LoggerFactory ??= provider.GetService<ILoggerFactory>();
        options.MeterFactory ??= provider.GetService<IMeterFactory>();
        if (ReferenceEquals(options.TimeProvider, TimeProvider.System) && provider.GetService<TimeProvider>() is { } time)
        {
            options.TimeProvider = time;
        }

        return options;
    }
}
