namespace ChunkStore;

/// <summary>A stored chunk as a listing sees it, without reading it.</summary>
/// <param name="Digest">The chunk's name.</param>
/// <param name="Size">Its size in bytes (on S3: the object's size, whatever the local cache holds).</param>
/// <param name="LastTouched">
/// When it was last inserted or touched: the clock garbage collection compares with its cutoff (the chunk file's
/// atime; on S3 the local marker's or copy's, or the object's <c>LastModified</c> when this host has no local state).
/// </param>
public readonly record struct ChunkInfo(ChunkDigest Digest, long Size, DateTimeOffset LastTouched);
