using ChunkStore.Backends;
using ChunkStore.Remote;
using ChunkStore.S3.Diagnostics;

namespace ChunkStore.S3;

/// <summary>
/// The S3 backend: the core's remote chunk protocol (<see cref="RemoteChunkBackend"/>) over the bucket
/// (<see cref="S3ObjectStorage.Stack"/>), with the S3 package's meter and spans (<see cref="S3Instrumentation"/>), log
/// category and exceptions (<see cref="S3StoreIdentityException"/>, <see cref="S3ClockSkewException"/>).
/// </summary>
internal sealed class S3ChunkBackend : RemoteChunkBackend
{
    private readonly S3Requests? _requests;

    private S3ChunkBackend(BackendServices services, S3BackendOptions options, IRemoteStorage storage, S3Instrumentation instrumentation, S3Requests? requests)
        : base(services, Settings(options), storage, Identity(options, storage, services.Layout.Root), instrumentation)
    {
        _requests = requests;
        Instrumentation = instrumentation;
    }

    /// <summary>Gets the request counters of the bucket (tests assert the request budget of each operation).</summary>
    /// <exception cref="InvalidOperationException">The backend runs over another storage.</exception>
    internal S3Requests Requests => _requests ?? throw new InvalidOperationException("The backend does not run on a bucket.");

    /// <summary>Gets the package's meter and spans for this store.</summary>
    internal S3Instrumentation Instrumentation { get; }

    /// <summary>Creates the backend over <paramref name="storage"/>, or over the bucket <paramref name="options"/> name.</summary>
    /// <param name="services">The store's shared services.</param>
    /// <param name="options">The S3 options.</param>
    /// <param name="storage">The objects; null: the options' bucket through <see cref="S3ObjectStorage.Stack"/> (retries,
    /// concurrency limit). Disposed with the backend.</param>
    /// <returns>The backend, not yet initialized.</returns>
    public static S3ChunkBackend Create(BackendServices services, S3BackendOptions options, IRemoteStorage? storage = null)
    {
        var instrumentation = new S3Instrumentation(services.Options.MeterFactory);
        if (storage is not null)
        {
            return new S3ChunkBackend(services, options, storage, instrumentation, null);
        }

        var bucket = new S3ObjectStorage(options, instrumentation);
        return new S3ChunkBackend(services, options, S3ObjectStorage.Stack(bucket, options), instrumentation, bucket.Requests);
    }

    private static RemoteStoreIdentity Identity(S3BackendOptions options, IRemoteStorage storage, string root) => new(
        new RemoteStoreLocation(options.Bucket, options.KeyPrefix, options.TakeOverStore, options.Description, $"S3BackendOptions.{nameof(S3BackendOptions.TakeOverStore)}"),
        storage,
        root,
        reason => new S3StoreIdentityException(options.Description, root, reason));

    private static RemoteBackendSettings Settings(S3BackendOptions options) => new()
    {
        Description = options.Description,
        KeyPrefix = options.KeyPrefix,
        CacheCapacityBytes = options.CacheCapacityBytes,
        CacheOnInsert = options.CacheOnInsert,
        DeleteSettleTime = options.DeleteSettleTime,
        DeleteBatchSize = options.DeleteBatchSize,
        DeleteBatchMaxAge = options.DeleteBatchMaxAge,
        MaxClockSkew = options.MaxClockSkew,
        LoggerCategory = "ChunkStore.S3",
        ClockSkewRefusal = (skew, max) => new S3ClockSkewException(options.Description, skew, max),
    };
}
