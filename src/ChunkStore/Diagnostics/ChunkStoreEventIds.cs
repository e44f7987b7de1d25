namespace ChunkStore;

/// <summary>
/// The stable event ids of the package's log messages (filter or alert on these; they never change meaning).
/// Ranges: 1000–1099 store, 1100–1199 locking and writers, 1200–1299 verification, 1300–1399 garbage collection.
/// </summary>
public static class ChunkStoreEventIds
{
    /// <summary>Event id 1000.</summary>
    public const int StoreCreated = 1000;

    /// <summary>Event id 1001.</summary>
    public const int StoreOpened = 1001;

    /// <summary>Event id 1002.</summary>
    public const int ReplacedWrongSize = 1002;

    /// <summary>Event id 1003.</summary>
    public const int TempCleanupFailed = 1003;

    /// <summary>Event id 1100.</summary>
    public const int WaitingForOtherProcess = 1100;

    /// <summary>Event id 1101.</summary>
    public const int LockFileReplaced = 1101;

    /// <summary>Event id 1102.</summary>
    public const int RemovedDeadWriter = 1102;

    /// <summary>Event id 1103: garbage collection found a live write session older than its grace period (a warning for each): it keeps every chunk touched since its start; end it (dispose it, or stop its process).</summary>
    public const int OldWriteSession = 1103;

    /// <summary>Event id 1200.</summary>
    public const int RenamedCorrupt = 1200;

    /// <summary>Event id 1201.</summary>
    public const int VerifyTransientError = 1201;

    /// <summary>Event id 1202: an entry under a chunk's name is not a regular file (left untouched, reported).</summary>
    public const int VerifyInvalidEntry = 1202;

    /// <summary>Event id 1300.</summary>
    public const int GcStarted = 1300;

    /// <summary>Event id 1301.</summary>
    public const int GcFinished = 1301;

    /// <summary>Event id 1302: garbage collection found a referenced chunk missing (a warning for each digest of <see cref="GarbageCollectionResult.MissingSample"/>).</summary>
    public const int GcMissingChunk = 1302;

    /// <summary>Event id 1303: garbage collection found an entry that is not a name of the chunk layout, left alone (a warning for each path of <see cref="GarbageCollectionResult.UnknownSample"/>).</summary>
    public const int GcUnknownEntry = 1303;

    /// <summary>Event id 1304.</summary>
    public const int GcStatusNotSaved = 1304;

    /// <summary>Event id 1305: the sweep could not remove an entry it decided to remove (left in place, counted in <see cref="GarbageCollectionResult.RemoveFailed"/>; the next collection retries).</summary>
    public const int GcRemoveFailed = 1305;
}
