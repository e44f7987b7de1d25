using ChunkStore.S3;

namespace ChunkStore.Tests.Remote;

/// <summary>
/// Opens a store whose chunk protocol and local cache are the S3 backend's, over an <see cref="InMemoryRemoteStorage"/>
/// instead of a bucket: the protocol's tests without a server.
/// </summary>
internal static class MemoryRemoteStore
{
    /// <summary>The key prefix of every store opened here.</summary>
    public const string KeyPrefix = "store";

    /// <summary>Creates (or opens, when <paramref name="root"/> exists) a store over <paramref name="storage"/>.</summary>
    /// <param name="root">The local root.</param>
    /// <param name="storage">The objects (disposing the store leaves them: the in-memory storage's Dispose does nothing).</param>
    /// <param name="configure">Changes the S3 options (cache capacity, delete batches, ...).</param>
    /// <param name="storeOptions">Changes the store options.</param>
    /// <returns>The open store.</returns>
    public static Task<ChunkRepository> OpenAsync(string root, InMemoryRemoteStorage storage, Action<S3BackendOptions>? configure = null, Action<ChunkStoreOptions>? storeOptions = null)
    {
        var s3 = new S3BackendOptions { Bucket = "memory", KeyPrefix = KeyPrefix, CacheCapacityBytes = 64 << 20, DeleteSettleTime = TimeSpan.FromMilliseconds(200) };
        configure?.Invoke(s3);
        var options = new ChunkStoreOptions { Root = root, LockTimeout = TimeSpan.FromSeconds(30) };
        storeOptions?.Invoke(options);
        return ChunkRepository.OpenWithBackendAsync(
            options,
            create: true,
            open: true,
            async (services, ct) =>
            {
                var backend = S3ChunkBackend.Create(services, s3, storage);
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
    public static string Key(ChunkDigest digest) => ChunkStore.Remote.RemoteChunkKey.ForChunk(digest).ToKey(KeyPrefix);
}
