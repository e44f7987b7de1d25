using Microsoft.Extensions.Logging;

namespace ChunkStore.Remote;

/// <summary>
/// Every log message of the remote backend, source-generated, logged under the category its package names
/// (<see cref="RemoteBackendSettings.LoggerCategory"/>: <c>ChunkStore.S3</c> on S3). Event ids 2000–2099 are a stable
/// contract. Credentials are never logged: messages name the store by its description (<c>s3://bucket/prefix</c>) only.
/// </summary>
internal static partial class RemoteLog
{
    [LoggerMessage(2000, LogLevel.Debug, "Store {Store}: local cache restored: {Cached} full files tracked, {Demoted} turned into markers")]
    public static partial void CacheRestored(ILogger logger, string store, int cached, int demoted);

    [LoggerMessage(2001, LogLevel.Warning, "Store {Store}: could not turn the evicted full file of chunk {Digest} into a marker; it stays untracked until the next open")]
    public static partial void EvictionFailed(ILogger logger, string store, ChunkDigest digest, Exception exception);

    [LoggerMessage(2002, LogLevel.Warning, "Store {Store}: chunk {Digest} moved aside to {BadKey}")]
    public static partial void RenamedCorrupt(ILogger logger, string store, ChunkDigest digest, string badKey);

    [LoggerMessage(2003, LogLevel.Warning, "Store {Store}: local marker of chunk {Digest} removed: its object is gone from the bucket")]
    public static partial void StaleMarkerRemoved(ILogger logger, string store, ChunkDigest digest);

    [LoggerMessage(2004, LogLevel.Warning, "Store {Store}: bucket key {Key} is not a chunk name; left alone")]
    public static partial void UnknownKey(ILogger logger, string store, string key);

    [LoggerMessage(2005, LogLevel.Warning, "Store {Store}: no room for the local copy of chunk {Digest} ({Reason}); keeping a marker only")]
    public static partial void CacheCopySkipped(ILogger logger, string store, ChunkDigest digest, string reason);

    [LoggerMessage(2006, LogLevel.Warning, "Store {Store}: chunk {Digest} exists in the bucket, but a delete of it whose sender died (or whose outcome is unknown) may still land; waiting {Wait} before trusting it")]
    public static partial void WaitingForUnsettledDelete(ILogger logger, string store, ChunkDigest digest, TimeSpan wait);

    [LoggerMessage(2007, LogLevel.Warning, "Store {Store}: the server did not delete {Key} ({Code}: {Message}); it stays in place and the next garbage collection retries it")]
    public static partial void DeleteFailed(ILogger logger, string store, string key, string code, string message);
}
