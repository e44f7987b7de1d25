using ChunkStore.Server.Leases;

namespace ChunkStore.Server.Diagnostics;

/// <summary>
/// Every log message of the server, with stable event ids (3000–3099 server and requests, 3100–3199 leases, 3200–3299
/// administration; the library uses 1000–1399 and the S3 package 2000–2099). API keys are never logged.
/// </summary>
internal static partial class ServerLog
{
    [LoggerMessage(3000, LogLevel.Information, "Chunk server started on store {Store} ({Backend}, maximum chunk {MaxChunkSize} bytes)")]
    public static partial void Started(ILogger logger, string store, string backend, int maxChunkSize);

    [LoggerMessage(3001, LogLevel.Error, "{Method} {Path} failed with {Status}: {Detail}")]
    public static partial void RequestFailed(ILogger logger, string method, string path, int status, string detail, Exception exception);

    [LoggerMessage(3002, LogLevel.Debug, "{Method} {Path} rejected with {Status}: {Detail}")]
    public static partial void RequestRejected(ILogger logger, string method, string path, int status, string detail);

    [LoggerMessage(3003, LogLevel.Error, "Chunk {Digest} is stored corrupt; run POST /admin/verify/{Digest} to move it aside")]
    public static partial void CorruptChunkRead(ILogger logger, ChunkDigest digest);

    [LoggerMessage(3004, LogLevel.Warning, "Listing the store for its statistics failed")]
    public static partial void StatisticsFailed(ILogger logger, Exception exception);

    [LoggerMessage(3100, LogLevel.Debug, "Lease {Lease} opened: session start {Start}, expires {ExpiresAt}")]
    public static partial void LeaseOpened(ILogger logger, string lease, DateTimeOffset start, DateTimeOffset expiresAt);

    [LoggerMessage(3101, LogLevel.Debug, "Lease {Lease} ended ({Reason}) after {Chunks} chunks, {NewChunks} new")]
    public static partial void LeaseClosed(ILogger logger, string lease, LeaseEndReason reason, long chunks, long newChunks);

    [LoggerMessage(3102, LogLevel.Warning, "Lease {Lease} ended by the server ({Reason}): its session (started {Start}, {Chunks} chunks) no longer protects them from garbage collection")]
    public static partial void LeaseExpired(ILogger logger, string lease, LeaseEndReason reason, DateTimeOffset start, long chunks);

    [LoggerMessage(3200, LogLevel.Information, "Garbage collection requested (dry run {DryRun}, grace {Grace}, writer margin {Margin})")]
    public static partial void GcRequested(ILogger logger, bool dryRun, TimeSpan grace, TimeSpan margin);

    /// <summary>Logged at Warning when the request was at fault (a malformed list: 4xx), at Error otherwise.</summary>
    [LoggerMessage(EventId = 3201, Message = "Garbage collection through the API failed")]
    public static partial void GcFailed(ILogger logger, LogLevel level, Exception exception);

    [LoggerMessage(3202, LogLevel.Information, "Verification through the API: {Checked} checked, {Corrupt} corrupt, {Missing} missing, {Errors} errors")]
    public static partial void VerifyFinished(ILogger logger, long @checked, long corrupt, long missing, long errors);

    /// <summary>Logged at Warning when the request was at fault (a malformed list: 4xx), at Error otherwise.</summary>
    [LoggerMessage(EventId = 3203, Message = "Verification through the API failed")]
    public static partial void VerifyFailed(ILogger logger, LogLevel level, Exception exception);

    [LoggerMessage(3204, LogLevel.Warning, "Verification found {Corrupt} corrupt and {Missing} missing chunks (moved aside / dropped from caches)")]
    public static partial void VerifyFoundBad(ILogger logger, long corrupt, long missing);
}
