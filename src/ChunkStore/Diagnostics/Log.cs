using Microsoft.Extensions.Logging;

namespace ChunkStore.Diagnostics;

/// <summary>
/// Every log message of the package, source-generated. Event ids are stable public contract: ranges
/// 1000–1099 store, 1100–1199 locking and writers, 1200–1299 verification, 1300–1399 garbage collection.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(ChunkStoreEventIds.StoreCreated, LogLevel.Information, "Created chunk store at {Root}")]
    public static partial void StoreCreated(ILogger logger, string root);

    [LoggerMessage(ChunkStoreEventIds.StoreOpened, LogLevel.Debug, "Opened chunk store at {Root}")]
    public static partial void StoreOpened(ILogger logger, string root);

    [LoggerMessage(ChunkStoreEventIds.ReplacedWrongSize, LogLevel.Warning, "Store {Store}: chunk file {Path} has {Actual} bytes but its content is {Expected} bytes; it was moved aside to {BadPath} and rewritten")]
    public static partial void ReplacedWrongSize(ILogger logger, string store, string path, long actual, long expected, string badPath);

    [LoggerMessage(ChunkStoreEventIds.TempCleanupFailed, LogLevel.Warning, "Store {Store}: could not remove temporary file {Path} after a failed write")]
    public static partial void TempCleanupFailed(ILogger logger, string store, string path, Exception exception);

    [LoggerMessage(ChunkStoreEventIds.WaitingForOtherProcess, LogLevel.Debug, "Chunk {Digest}: waiting for lock file {Path} held by another process")]
    public static partial void WaitingForOtherProcess(ILogger logger, string digest, string path);

    [LoggerMessage(ChunkStoreEventIds.LockFileReplaced, LogLevel.Warning, "Lock file {Path} was deleted or replaced while locked; locking the file now at the path")]
    public static partial void LockFileReplaced(ILogger logger, string path);

    [LoggerMessage(ChunkStoreEventIds.RemovedDeadWriter, LogLevel.Information, "Removed writer registry entry {Entry} of a process that is gone")]
    public static partial void RemovedDeadWriter(ILogger logger, string entry);

    [LoggerMessage(ChunkStoreEventIds.RenamedCorrupt, LogLevel.Warning, "Store {Store}: chunk {Digest} is corrupt; moved to {BadPath}")]
    public static partial void RenamedCorrupt(ILogger logger, string store, ChunkDigest digest, string badPath);

    [LoggerMessage(ChunkStoreEventIds.VerifyTransientError, LogLevel.Warning, "Store {Store}: chunk {Digest} could not be verified because of a transient error; nothing was renamed")]
    public static partial void VerifyTransientError(ILogger logger, string store, ChunkDigest digest, Exception exception);

    [LoggerMessage(ChunkStoreEventIds.VerifyInvalidEntry, LogLevel.Warning, "Store {Store}: {Path} is under the name of chunk {Digest} but is not a regular file; not verified, left untouched")]
    public static partial void VerifyInvalidEntry(ILogger logger, string store, string path, ChunkDigest digest, Exception exception);

    [LoggerMessage(ChunkStoreEventIds.GcStarted, LogLevel.Information, "Store {Store}: garbage collection started (cutoff {Cutoff:o}, oldest writer {OldestWriter:o}, dry run {DryRun})")]
    public static partial void GcStarted(ILogger logger, string store, DateTimeOffset cutoff, DateTimeOffset oldestWriter, bool dryRun);

    [LoggerMessage(ChunkStoreEventIds.GcFinished, LogLevel.Information, "Store {Store}: garbage collection finished: {Removed} chunks ({RemovedBytes} bytes) removed, {Pending} pending, {InUse} in use, {Missing} referenced chunks missing, {RemoveFailed} entries could not be removed, in {Duration}")]
    public static partial void GcFinished(ILogger logger, string store, long removed, long removedBytes, long pending, long inUse, long missing, long removeFailed, TimeSpan duration);

    [LoggerMessage(ChunkStoreEventIds.OldWriteSession, LogLevel.Warning, "Store {Store}: write session {Entry} is live since {Start:O} ({Age} ago, longer than the grace period {GracePeriod}); garbage collection keeps every chunk touched since it began until it ends: dispose the session, or stop the process named in the entry")]
    public static partial void OldWriteSession(ILogger logger, string store, string entry, DateTimeOffset start, TimeSpan age, TimeSpan gracePeriod);

    [LoggerMessage(ChunkStoreEventIds.GcMissingChunk, LogLevel.Warning, "Store {Store}: referenced chunk {Digest} is missing (or is not a regular file); the next insert of its content stores it again")]
    public static partial void GcMissingChunk(ILogger logger, string store, ChunkDigest digest);

    [LoggerMessage(ChunkStoreEventIds.GcUnknownEntry, LogLevel.Warning, "Store {Store}: {Path} is not a name of the chunk layout; left alone")]
    public static partial void GcUnknownEntry(ILogger logger, string store, string path);

    [LoggerMessage(ChunkStoreEventIds.GcRemoveFailed, LogLevel.Warning, "Store {Store}: garbage collection could not remove {Entry}; left in place, the next collection retries")]
    public static partial void GcRemoveFailed(ILogger logger, string store, string entry, Exception exception);

    [LoggerMessage(ChunkStoreEventIds.GcStatusNotSaved, LogLevel.Warning, "Store {Store}: could not save the garbage-collection status to {Path}")]
    public static partial void GcStatusNotSaved(ILogger logger, string store, string path, Exception exception);
}
