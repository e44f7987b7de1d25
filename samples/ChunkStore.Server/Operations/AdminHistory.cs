namespace ChunkStore.Server.Operations;

/// <summary>A verification run through the API.</summary>
internal sealed record VerifyRecord(DateTimeOffset StartedAt, TimeSpan Duration, bool AllChunks, VerifyAllResult Result);

/// <summary>An administrative run that threw instead of returning a result.</summary>
internal sealed record AdminFailure(DateTimeOffset At, string Operation, string Message);

/// <summary>What the last garbage collection and verification found, for the status page and the health check.</summary>
internal sealed class AdminHistory(ChunkRepository store)
{
    private GarbageCollectionResult? _lastGc;
    private VerifyRecord? _lastVerify;
    private AdminFailure? _lastGcFailure, _lastVerifyFailure;

    /// <summary>
    /// Gets the newest collection result: the last one this server ran, or the store's saved <c>.gc-status</c> when
    /// another process collected since (or before this server started).
    /// </summary>
    public GarbageCollectionResult? LastGc
    {
        get
        {
            var mine = Volatile.Read(ref _lastGc);
            var saved = store.Maintenance.ReadLastGarbageCollection();
            return saved is not null && (mine is null || saved.StartedAt > mine.StartedAt) ? saved : mine;
        }
    }

    /// <summary>Gets the last collection through the API that failed, when it is newer than the last result.</summary>
    public AdminFailure? LastGcFailure => Volatile.Read(ref _lastGcFailure) is { } f && (LastGc is not { } gc || f.At > gc.StartedAt) ? f : null;

    public VerifyRecord? LastVerify => Volatile.Read(ref _lastVerify);

    public AdminFailure? LastVerifyFailure => Volatile.Read(ref _lastVerifyFailure) is { } f && (LastVerify is not { } v || f.At > v.StartedAt) ? f : null;

    public void GcFinished(GarbageCollectionResult result) => Volatile.Write(ref _lastGc, result);

    public void GcFailed(DateTimeOffset at, Exception exception) => Volatile.Write(ref _lastGcFailure, new AdminFailure(at, "gc", exception.Message));

    public void VerifyFinished(VerifyRecord record) => Volatile.Write(ref _lastVerify, record);

    public void VerifyFailed(DateTimeOffset at, Exception exception) => Volatile.Write(ref _lastVerifyFailure, new AdminFailure(at, "verify", exception.Message));
}
