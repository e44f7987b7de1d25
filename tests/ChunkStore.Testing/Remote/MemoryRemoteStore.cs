using System.Diagnostics;
using ChunkStore.Remote;

namespace ChunkStore.Tests.Remote;

/// <summary>
/// Opens a store on the core's remote chunk protocol and local cache (<see cref="RemoteChunkBackend"/>) over an
/// <see cref="InMemoryRemoteStorage"/>: the protocol's tests without a server and without the S3 package.
/// </summary>
internal static class MemoryRemoteStore
{
    /// <summary>The key prefix of every store opened here.</summary>
    public const string KeyPrefix = "store";

    /// <summary>The settings of a store opened here, unless the caller changes them.</summary>
    public static RemoteBackendSettings DefaultSettings { get; } = new()
    {
        Description = "memory://test/" + KeyPrefix,
        KeyPrefix = KeyPrefix,
        CacheCapacityBytes = 64 << 20,
        DeleteSettleTime = TimeSpan.FromMilliseconds(200),
        DeleteBatchSize = 1000,
        DeleteBatchMaxAge = TimeSpan.FromSeconds(5),
        MaxClockSkew = TimeSpan.FromMinutes(5),
        LoggerCategory = "ChunkStore.Remote.Test",
        ClockSkewRefusal = (skew, max) => new InvalidOperationException($"clock skew {skew} beyond {max}"),
    };

    /// <summary>Creates (or opens, when <paramref name="root"/> exists) a store over <paramref name="storage"/>.</summary>
    /// <param name="root">The local root.</param>
    /// <param name="storage">The objects (disposing the store leaves them: the in-memory storage's Dispose does nothing).</param>
    /// <param name="settings">Changes the settings (cache capacity, delete batches, ...).</param>
    /// <param name="storeOptions">Changes the store options.</param>
    /// <returns>The open store.</returns>
    public static Task<ChunkRepository> OpenAsync(string root, InMemoryRemoteStorage storage, Func<RemoteBackendSettings, RemoteBackendSettings>? settings = null, Action<ChunkStoreOptions>? storeOptions = null)
    {
        var chosen = settings?.Invoke(DefaultSettings) ?? DefaultSettings;
        var options = new ChunkStoreOptions { Root = root, LockTimeout = TimeSpan.FromSeconds(30) };
        storeOptions?.Invoke(options);
        return ChunkRepository.OpenWithBackendAsync(
            options,
            create: true,
            open: true,
            async (services, ct) =>
            {
                var identity = new RemoteStoreIdentity(
                    new RemoteStoreLocation("memory", chosen.KeyPrefix, TakeOverStore: false, chosen.Description, "TakeOverStore"),
                    storage,
                    services.Layout.Root,
                    reason => new InvalidOperationException(reason));
                var backend = new RemoteChunkBackend(services, chosen, storage, identity, new NoInstrumentation());
                try
                {
                    await backend.InitializeAsync(ct);
                    return backend;
                }
                catch
                {
                    await backend.DisposeAsync();
                    throw;
                }
            },
            CancellationToken.None);
    }

    /// <summary>The object key of a chunk in a store opened here.</summary>
    public static string Key(ChunkDigest digest) => RemoteChunkKey.ForChunk(digest).ToKey(KeyPrefix);

    private sealed class NoInstrumentation : IRemoteBackendInstrumentation
    {
        public void RecordCacheHit()
        {
        }

        public void RecordCacheMiss()
        {
        }

        public void RecordCacheEviction()
        {
        }

        public Activity? StartGcPhase(RemoteGcPhase phase) => null;

        public void Dispose()
        {
        }
    }
}
