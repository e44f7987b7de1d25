using System.Diagnostics;

namespace ChunkStore.Remote;

/// <summary>
/// What <see cref="RemoteChunkBackend"/> needs from the package that opens it: its settings, and the three services a
/// remote package provides besides the storage (the store's identity check, its instrumentation, its clock-skew error).
/// </summary>
internal sealed record RemoteBackendSettings
{
    /// <summary>Gets the store's description for messages (e.g. <c>s3://bucket/prefix</c>).</summary>
    public required string Description { get; init; }

    /// <summary>Gets the key prefix under which the store's objects live (may be empty).</summary>
    public required string KeyPrefix { get; init; }

    /// <summary>Gets the LRU's capacity for full local copies, in bytes.</summary>
    public required long CacheCapacityBytes { get; init; }

    /// <summary>Gets whether an insert keeps the full local copy instead of the empty marker.</summary>
    public bool CacheOnInsert { get; init; }

    /// <summary>Gets how long a delete whose outcome is unknown may still land (<see cref="PendingDeletes"/>).</summary>
    public required TimeSpan DeleteSettleTime { get; init; }

    /// <summary>Gets how many keys one delete request of the sweep carries at most.</summary>
    public required int DeleteBatchSize { get; init; }

    /// <summary>Gets how long the oldest planned delete of the sweep waits before its batch is sent anyway.</summary>
    public required TimeSpan DeleteBatchMaxAge { get; init; }

    /// <summary>Gets the largest clock skew between this host and the storage at which a collection still runs.</summary>
    public required TimeSpan MaxClockSkew { get; init; }

    /// <summary>Gets the category of the backend's log messages (<see cref="RemoteLog"/>, event ids 2000–2099).</summary>
    public required string LoggerCategory { get; init; }

    /// <summary>Gets the exception a collection throws when the skew is beyond <see cref="MaxClockSkew"/> (measured skew, bound).</summary>
    public required Func<TimeSpan, TimeSpan, Exception> ClockSkewRefusal { get; init; }
}

/// <summary>Ties a local root and the remote prefix together (one request each).</summary>
internal interface IRemoteStoreIdentity
{
    /// <summary>At open: checks (and on first use, creates) the binding of the local root and the prefix.</summary>
    /// <param name="cancellationToken">Cancels the check.</param>
    /// <returns>A task that completes when the binding holds.</returns>
    Task OpenAsync(CancellationToken cancellationToken);

    /// <summary>Before a collection: the prefix must still belong to this local root.</summary>
    /// <param name="cancellationToken">Cancels the check.</param>
    /// <returns>A task that completes when it does.</returns>
    Task CheckOwnerAsync(CancellationToken cancellationToken);
}

/// <summary>The garbage-collection phases of the remote backend that get a span of their own.</summary>
internal enum RemoteGcPhase
{
    /// <summary>Owner, clock and access-time checks.</summary>
    Prepare,

    /// <summary>The pass over the listing.</summary>
    SweepObjects,

    /// <summary>The local cache's reconciliation after the listing.</summary>
    SweepLocal,
}

/// <summary>The remote backend's metrics and spans (the package's meter); every method is cheap when nobody listens.</summary>
internal interface IRemoteBackendInstrumentation : IDisposable
{
    /// <summary>A read served from a full local copy.</summary>
    void RecordCacheHit();

    /// <summary>A read that fetched the object.</summary>
    void RecordCacheMiss();

    /// <summary>A full local copy the LRU evicted for capacity.</summary>
    void RecordCacheEviction();

    /// <summary>Starts the span of a collection phase; null when nobody listens.</summary>
    /// <param name="phase">The phase.</param>
    /// <returns>The span, to dispose at the phase's end.</returns>
    Activity? StartGcPhase(RemoteGcPhase phase);
}
