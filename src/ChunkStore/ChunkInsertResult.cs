namespace ChunkStore;

/// <summary>The outcome of an insert.</summary>
/// <param name="Digest">The chunk's digest, computed by the store from the data.</param>
/// <param name="IsNew"><see langword="true"/> when this call stored the chunk; <see langword="false"/> for a duplicate (which was touched).</param>
/// <param name="Size">The chunk's size in bytes.</param>
public readonly record struct ChunkInsertResult(ChunkDigest Digest, bool IsNew, long Size);
