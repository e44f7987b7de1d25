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
    /// <summary>Creates a new store: a new local root, over a bucket that must exist. Blocks while the identity check is on the wire; prefer <see cref="CreateAsync"/>.</summary>
    /// <param name="localCacheOptions">The local root and store settings.</param>
    /// <param name="s3">Where the bucket is and how to reach it.</param>
    /// <returns>The open store.</returns>
    /// <exception cref="StoreAlreadyExistsException">A store already exists at the local root.</exception>
    /// <exception cref="ChunkStorageException">The server cannot be reached (<see cref="StorageErrorKind.Network"/>, transient), or refuses the request: missing bucket, wrong credentials (permanent).</exception>
    /// <exception cref="S3StoreIdentityException">The local root was made for another bucket or prefix, or the prefix holds a store with another local root (see <see cref="S3BackendOptions.TakeOverStore"/>).</exception>
    /// <exception cref="PlatformNotSupportedException">Not on Linux (see the package readme).</exception>
    public static ChunkRepository Create(ChunkStoreOptions localCacheOptions, S3BackendOptions s3) => OpenCore(localCacheOptions, s3, create: true, open: false);

    /// <summary>Opens an existing store. Blocks while the identity check is on the wire; prefer <see cref="OpenAsync"/>.</summary>
    /// <param name="localCacheOptions">The local root and store settings.</param>
    /// <param name="s3">Where the bucket is and how to reach it.</param>
    /// <returns>The open store.</returns>
    /// <exception cref="StoreNotFoundException">The local root does not exist.</exception>
    /// <exception cref="ChunkStorageException">The server cannot be reached (<see cref="StorageErrorKind.Network"/>, transient), or refuses the request: missing bucket, wrong credentials (permanent).</exception>
    /// <exception cref="S3StoreIdentityException">The local root was made for another bucket or prefix, or the prefix holds a store with another local root (see <see cref="S3BackendOptions.TakeOverStore"/>).</exception>
    /// <exception cref="PlatformNotSupportedException">Not on Linux (see the package readme).</exception>
    public static ChunkRepository Open(ChunkStoreOptions localCacheOptions, S3BackendOptions s3) => OpenCore(localCacheOptions, s3, create: false, open: true);

    /// <summary>Opens the store, creating the local root when it is missing or empty. Blocks while the identity check is on the wire; prefer <see cref="OpenOrCreateAsync"/>.</summary>
    /// <param name="localCacheOptions">The local root and store settings.</param>
    /// <param name="s3">Where the bucket is and how to reach it.</param>
    /// <returns>The open store.</returns>
    /// <exception cref="ChunkStorageException">The server cannot be reached (<see cref="StorageErrorKind.Network"/>, transient), or refuses the request: missing bucket, wrong credentials (permanent).</exception>
    /// <exception cref="S3StoreIdentityException">The local root was made for another bucket or prefix, or the prefix holds a store with another local root (see <see cref="S3BackendOptions.TakeOverStore"/>).</exception>
    /// <exception cref="PlatformNotSupportedException">Not on Linux (see the package readme).</exception>
    public static ChunkRepository OpenOrCreate(ChunkStoreOptions localCacheOptions, S3BackendOptions s3) => OpenCore(localCacheOptions, s3, create: true, open: true);

    /// <summary>Creates a new store: a new local root, over a bucket that must exist; the identity check is awaited.</summary>
    /// <param name="localCacheOptions">The local root and store settings.</param>
    /// <param name="s3">Where the bucket is and how to reach it.</param>
    /// <param name="cancellationToken">Stops the open (also while the identity request is on the wire).</param>
    /// <returns>The open store.</returns>
    /// <exception cref="StoreAlreadyExistsException">A store already exists at the local root.</exception>
    /// <exception cref="ChunkStorageException">The server cannot be reached (<see cref="StorageErrorKind.Network"/>, transient), or refuses the request: missing bucket, wrong credentials (permanent).</exception>
    /// <exception cref="S3StoreIdentityException">The local root was made for another bucket or prefix, or the prefix holds a store with another local root (see <see cref="S3BackendOptions.TakeOverStore"/>).</exception>
    /// <exception cref="PlatformNotSupportedException">Not on Linux (see the package readme).</exception>
    public static Task<ChunkRepository> CreateAsync(ChunkStoreOptions localCacheOptions, S3BackendOptions s3, CancellationToken cancellationToken = default) =>
        OpenCoreAsync(localCacheOptions, s3, create: true, open: false, cancellationToken);

    /// <summary>Opens an existing store; the identity check is awaited.</summary>
    /// <param name="localCacheOptions">The local root and store settings.</param>
    /// <param name="s3">Where the bucket is and how to reach it.</param>
    /// <param name="cancellationToken">Stops the open (also while the identity request is on the wire).</param>
    /// <returns>The open store.</returns>
    /// <exception cref="StoreNotFoundException">The local root does not exist.</exception>
    /// <exception cref="ChunkStorageException">The server cannot be reached (<see cref="StorageErrorKind.Network"/>, transient), or refuses the request: missing bucket, wrong credentials (permanent).</exception>
    /// <exception cref="S3StoreIdentityException">The local root was made for another bucket or prefix, or the prefix holds a store with another local root (see <see cref="S3BackendOptions.TakeOverStore"/>).</exception>
    /// <exception cref="PlatformNotSupportedException">Not on Linux (see the package readme).</exception>
    public static Task<ChunkRepository> OpenAsync(ChunkStoreOptions localCacheOptions, S3BackendOptions s3, CancellationToken cancellationToken = default) =>
        OpenCoreAsync(localCacheOptions, s3, create: false, open: true, cancellationToken);

    /// <summary>Opens the store, creating the local root when it is missing or empty; the identity check is awaited.</summary>
    /// <param name="localCacheOptions">The local root and store settings.</param>
    /// <param name="s3">Where the bucket is and how to reach it.</param>
    /// <param name="cancellationToken">Stops the open (also while the identity request is on the wire).</param>
    /// <returns>The open store.</returns>
    /// <exception cref="ChunkStorageException">The server cannot be reached (<see cref="StorageErrorKind.Network"/>, transient), or refuses the request: missing bucket, wrong credentials (permanent).</exception>
    /// <exception cref="S3StoreIdentityException">The local root was made for another bucket or prefix, or the prefix holds a store with another local root (see <see cref="S3BackendOptions.TakeOverStore"/>).</exception>
    /// <exception cref="PlatformNotSupportedException">Not on Linux (see the package readme).</exception>
    public static Task<ChunkRepository> OpenOrCreateAsync(ChunkStoreOptions localCacheOptions, S3BackendOptions s3, CancellationToken cancellationToken = default) =>
        OpenCoreAsync(localCacheOptions, s3, create: true, open: true, cancellationToken);

    private static Task<ChunkRepository> OpenCoreAsync(ChunkStoreOptions localCacheOptions, S3BackendOptions s3, bool create, bool open, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(localCacheOptions);
        ArgumentNullException.ThrowIfNull(s3);
        s3.Validate();
        s3 = s3.Clone();
        return ChunkRepository.OpenWithBackendAsync(localCacheOptions, create, open, (services, ct) => CreateBackendAsync(services, s3, ct), cancellationToken);
    }

    private static async Task<IChunkBackend> CreateBackendAsync(BackendServices services, S3BackendOptions s3, CancellationToken cancellationToken)
    {
        var backend = S3ChunkBackend.Create(services, s3);
        try
        {
            await backend.InitializeAsync(cancellationToken).ConfigureAwait(false);
            return backend;
        }
        catch
        {
            await backend.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    // The synchronous entry points wait for the asynchronous open (every await in it is ConfigureAwait(false)).
    private static ChunkRepository OpenCore(ChunkStoreOptions localCacheOptions, S3BackendOptions s3, bool create, bool open) =>
        OpenCoreAsync(localCacheOptions, s3, create, open, CancellationToken.None).GetAwaiter().GetResult();
}
