using ChunkStore.Backends;

namespace ChunkStore.S3;

/// <summary>
/// Opens chunk stores whose chunks live in an S3-compatible bucket, with a local directory that holds the store's
/// identity file, locks, writer registry, garbage-collection status and the chunk cache.
/// </summary>
/// <remarks>
/// The local root uses the filesystem layout: <c>.chunks/&lt;4hex&gt;/&lt;64hex&gt;</c> is either a chunk's full content
/// (recently used, bounded by <see cref="S3BackendOptions.CacheCapacityBytes"/>) or an empty marker meaning "the object
/// exists". Every process using the store must use the same local root, and a store has exactly one local root:
/// opening checks (one GET of the identity object under the key prefix, which also proves the bucket answers) that the
/// root was made for this bucket and prefix and that the store's identity names this root, then re-registers the full
/// files of earlier runs in the cache, so the cache stays bounded.
/// </remarks>
public static class S3ChunkStore
{
    /// <summary>Creates a new store: a new local root, over a bucket that must exist.</summary>
    /// <param name="localCacheOptions">The local root and store settings.</param>
    /// <param name="s3">Where the bucket is and how to reach it.</param>
    /// <returns>The open store.</returns>
    /// <exception cref="StoreAlreadyExistsException">A store already exists at the local root.</exception>
    /// <exception cref="ChunkStorageException">The server cannot be reached (<see cref="StorageErrorKind.Network"/>, transient), or refuses the request: missing bucket, wrong credentials (permanent).</exception>
    /// <exception cref="S3StoreIdentityException">The local root was made for another bucket or prefix, or the prefix holds a store with another local root (see <see cref="S3BackendOptions.TakeOverStore"/>).</exception>
    /// <exception cref="PlatformNotSupportedException">Not on Linux (see the package readme).</exception>
    public static ChunkRepository Create(ChunkStoreOptions localCacheOptions, S3BackendOptions s3) => OpenCore(localCacheOptions, s3, create: true, open: false);

    /// <summary>Opens an existing store.</summary>
    /// <param name="localCacheOptions">The local root and store settings.</param>
    /// <param name="s3">Where the bucket is and how to reach it.</param>
    /// <returns>The open store.</returns>
    /// <exception cref="StoreNotFoundException">The local root does not exist.</exception>
    /// <exception cref="ChunkStorageException">The server cannot be reached (<see cref="StorageErrorKind.Network"/>, transient), or refuses the request: missing bucket, wrong credentials (permanent).</exception>
    /// <exception cref="S3StoreIdentityException">The local root was made for another bucket or prefix, or the prefix holds a store with another local root (see <see cref="S3BackendOptions.TakeOverStore"/>).</exception>
    /// <exception cref="PlatformNotSupportedException">Not on Linux (see the package readme).</exception>
    public static ChunkRepository Open(ChunkStoreOptions localCacheOptions, S3BackendOptions s3) => OpenCore(localCacheOptions, s3, create: false, open: true);

    /// <summary>Opens the store, creating the local root when it is missing or empty.</summary>
    /// <param name="localCacheOptions">The local root and store settings.</param>
    /// <param name="s3">Where the bucket is and how to reach it.</param>
    /// <returns>The open store.</returns>
    /// <exception cref="ChunkStorageException">The server cannot be reached (<see cref="StorageErrorKind.Network"/>, transient), or refuses the request: missing bucket, wrong credentials (permanent).</exception>
    /// <exception cref="S3StoreIdentityException">The local root was made for another bucket or prefix, or the prefix holds a store with another local root (see <see cref="S3BackendOptions.TakeOverStore"/>).</exception>
    /// <exception cref="PlatformNotSupportedException">Not on Linux (see the package readme).</exception>
    public static ChunkRepository OpenOrCreate(ChunkStoreOptions localCacheOptions, S3BackendOptions s3) => OpenCore(localCacheOptions, s3, create: true, open: true);

    private static ChunkRepository OpenCore(ChunkStoreOptions localCacheOptions, S3BackendOptions s3, bool create, bool open)
    {
        ArgumentNullException.ThrowIfNull(localCacheOptions);
        ArgumentNullException.ThrowIfNull(s3);
        s3.Validate();
        s3 = s3.Clone();
        return ChunkRepository.OpenWithBackend(localCacheOptions, create, open, services => CreateBackend(services, s3));
    }

    private static S3ChunkBackend CreateBackend(BackendServices services, S3BackendOptions s3)
    {
        var backend = new S3ChunkBackend(services, s3);
        try
        {
            // The store's entry points are synchronous (like the filesystem store's); opening waits for the identity check.
            backend.InitializeAsync(CancellationToken.None).GetAwaiter().GetResult();
            return backend;
        }
        catch
        {
            backend.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
    }
}
