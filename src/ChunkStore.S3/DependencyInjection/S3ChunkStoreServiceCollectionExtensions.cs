using ChunkStore;
using ChunkStore.S3;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

// In the DI namespace by convention, next to AddChunkStore.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers a <see cref="ChunkRepository"/> backed by an S3-compatible bucket in a service collection.</summary>
/// <remarks>
/// <para>Bind both option sets from configuration, e.g.
/// <c>services.Configure&lt;ChunkStoreOptions&gt;(configuration.GetSection("ChunkStore"))</c> (the local cache root
/// <c>Root</c>, <c>LockTimeout</c>, ...) and <c>services.Configure&lt;S3BackendOptions&gt;(configuration.GetSection("S3"))</c>
/// (keys <c>Endpoint</c>, <c>Region</c>, <c>Bucket</c>, <c>KeyPrefix</c>, <c>AccessKey</c>, <c>SecretKey</c>,
/// <c>ForcePathStyle</c>, <c>ChecksumMode</c> = WhenRequired | WhenSupported, <c>UseConditionalWrites</c>,
/// <c>MaxConcurrentRequests</c>, <c>RetryCount</c>, <c>RetryBaseDelay</c>, <c>RequestTimeout</c>,
/// <c>DeleteBatchSize</c>, <c>DeleteBatchMaxAge</c>, <c>CacheCapacityBytes</c>), then call
/// <see cref="AddChunkStoreS3"/>. Keep the secret key in a secret store or the environment rather than a file; it is
/// never logged.</para>
/// <para>Logging, metrics (<see cref="System.Diagnostics.Metrics.IMeterFactory"/>, for both the <c>ChunkStore</c> and
/// the <c>ChunkStore.S3</c> meters) and the clock are taken from the container as
/// <see cref="ChunkStoreServiceCollectionExtensions.ResolveOptions(IServiceProvider)"/> does. Register either this or
/// <see cref="ChunkStoreServiceCollectionExtensions.AddChunkStore"/>, not both: the first registration wins.</para>
/// </remarks>
public static class S3ChunkStoreServiceCollectionExtensions
{
    /// <summary>
    /// Registers a singleton <see cref="ChunkRepository"/> opened with <see cref="S3ChunkStore.OpenOrCreate"/> from the
    /// configured <see cref="ChunkStoreOptions"/> (the local cache root) and <see cref="S3BackendOptions"/> the first
    /// time it is resolved; the container disposes it.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Optional extra configuration of the S3 options.</param>
    /// <returns>The service collection, for chaining.</returns>
    public static IServiceCollection AddChunkStoreS3(this IServiceCollection services, Action<S3BackendOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions();
        if (configure is not null)
        {
            services.Configure(configure);
        }

        services.TryAddSingleton(provider => S3ChunkStore.OpenOrCreate(
            ChunkStoreServiceCollectionExtensions.ResolveOptions(provider),
            provider.GetRequiredService<IOptions<S3BackendOptions>>().Value));
        return services;
    }

    /// <summary>
    /// Registers one of several S3 stores in a container: a keyed singleton <see cref="ChunkRepository"/> under
    /// <paramref name="name"/>, opened with <see cref="S3ChunkStore.OpenOrCreate"/> from the
    /// <see cref="ChunkStoreOptions"/> and <see cref="S3BackendOptions"/> configured under that name the first time it
    /// is resolved; the container disposes it. Each store needs its own local root and its own bucket or key prefix.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The store's key and the name of its options.</param>
    /// <param name="configure">Optional extra configuration of the named S3 options.</param>
    /// <returns>The service collection, for chaining.</returns>
    public static IServiceCollection AddKeyedChunkStoreS3(this IServiceCollection services, string name, Action<S3BackendOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        services.AddOptions();
        if (configure is not null)
        {
            services.Configure(name, configure);
        }

        services.TryAddKeyedSingleton(name, (provider, _) => S3ChunkStore.OpenOrCreate(
            ChunkStoreServiceCollectionExtensions.ResolveOptions(provider, name),
            provider.GetRequiredService<IOptionsMonitor<S3BackendOptions>>().Get(name)));
        return services;
    }
}
