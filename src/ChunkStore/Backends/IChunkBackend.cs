using System.Buffers;

namespace ChunkStore.Backends;

/// <summary>
/// Where chunks live: the contract every backend (filesystem, S3) fulfils. Written as obligations; the
/// abstract contract test suite in <c>tests/</c> checks each of them against every implementation.
/// </summary>
/// <remarks>
/// <para>General obligations:</para>
/// <list type="bullet">
/// <item>Callers pass digests they computed from the data; a backend MAY trust that <c>digest</c> is the SHA-256
/// of <c>data</c> on insert (the <see cref="ChunkRepository"/> guarantees it).</item>
/// <item>A method that fails MUST leave no partial chunk under a chunk's final name and MUST NOT delete or rename
/// anything because of the failure. Storage failures surface as <see cref="ChunkStorageException"/> with
/// <see cref="ChunkStoreException.IsTransient"/> set when a retry can help; lock timeouts as
/// <see cref="ChunkLockTimeoutException"/>; cancellation as <see cref="OperationCanceledException"/>.</item>
/// <item>An entry where a chunk should be that is not a chunk (a directory, a symbolic link) MUST be reported
/// with <see cref="InvalidChunkEntryException"/> and left untouched.</item>
/// <item>Every method is safe to call concurrently from any number of threads and processes sharing the store;
/// locking follows <c>docs/locking.md</c>.</item>
/// </list>
/// </remarks>
internal interface IChunkBackend : IAsyncDisposable
{
    /// <summary>Gets a human-readable description of the store for messages, e.g. its root directory or bucket.</summary>
    string Description { get; }

    /// <summary>Gets what the backend can do, as data (callers never test for a concrete backend type).</summary>
    ChunkBackendCapabilities Capabilities { get; }

    /// <summary>Stores a chunk, or refreshes an existing one.</summary>
    /// <remarks>
    /// MUST: if the chunk is present, refresh its garbage-collection timestamp (touch) and return
    /// <c>IsNew = false</c> — on every path, including any cache hit; otherwise make the complete chunk visible
    /// atomically and return <c>IsNew = true</c>. Idempotent under any concurrency: N racing inserts of one chunk
    /// leave exactly one stored copy and all succeed, exactly one of them reporting new. A present chunk whose
    /// size differs from <paramref name="data"/> is corrupt: it MUST be moved aside as <c>.N.bad</c> (not deleted)
    /// and the chunk written anew.
    /// </remarks>
    /// <param name="digest">The SHA-256 of <paramref name="data"/>.</param>
    /// <param name="data">The chunk content.</param>
    /// <param name="cancellationToken">Cancels the operation; a cancelled insert leaves the chunk absent or complete.</param>
    /// <returns>Whether the chunk was new, and its size.</returns>
    ValueTask<ChunkInsertResult> InsertAsync(ChunkDigest digest, ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

    /// <summary>Reads a chunk into <paramref name="destination"/>, verified: only bytes whose SHA-256 is the digest are written.</summary>
    /// <remarks>MUST write the bytes of one complete stored copy, never a partially written one, and verify them
    /// before it advances <paramref name="destination"/> (by exactly the chunk's length, once); on any exception it
    /// MUST NOT have advanced it. MUST throw <see cref="ChunkNotFoundException"/> when absent and
    /// <see cref="ChunkCorruptException"/> when the stored bytes do not match. MUST NOT touch.</remarks>
    /// <param name="digest">The chunk.</param>
    /// <param name="destination">Where the bytes go (one <c>GetMemory(length)</c>, then <c>Advance(length)</c>).</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The chunk's length.</returns>
    ValueTask<int> ReadAsync(ChunkDigest digest, IBufferWriter<byte> destination, CancellationToken cancellationToken);

    /// <summary>Reads the authoritative stored copy for verification, bypassing every cache, without verifying it.</summary>
    /// <remarks>MUST read the copy that inserts deduplicate against (for S3: the object, not a local cached copy,
    /// so a good local copy cannot hide a corrupt object). MUST throw <see cref="ChunkNotFoundException"/> when
    /// absent and MUST NOT touch.</remarks>
    /// <param name="digest">The chunk.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The stored bytes (a new array owned by the caller).</returns>
    ValueTask<byte[]> ReadForVerifyAsync(ChunkDigest digest, CancellationToken cancellationToken);

    /// <summary>Tells whether a chunk is present, without touching it.</summary>
    /// <param name="digest">The chunk.</param>
    /// <param name="cancellationToken">Cancels the check.</param>
    /// <returns><see langword="true"/> when present.</returns>
    ValueTask<bool> ContainsAsync(ChunkDigest digest, CancellationToken cancellationToken);

    /// <summary>Refreshes a chunk's garbage-collection timestamp if it is present.</summary>
    /// <remarks>MUST be atomic against the sweep of a concurrent garbage collection: when it returns
    /// <see langword="true"/>, the chunk is present and protected from the sweep of any collection whose cutoff
    /// is before this call.</remarks>
    /// <param name="digest">The chunk.</param>
    /// <param name="cancellationToken">Cancels the touch.</param>
    /// <returns><see langword="true"/> when the chunk was present and touched; <see langword="false"/> when absent.</returns>
    ValueTask<bool> TouchAsync(ChunkDigest digest, CancellationToken cancellationToken);

    /// <summary>Moves a chunk aside as <c>&lt;digest&gt;.N.bad</c> (N = 0..9, the first free; 9 is replaced when all are taken) and drops it from every cache, so that the next insert writes it anew.</summary>
    /// <remarks>MUST hold the chunk's lock throughout. With <paramref name="onlyIfCorrupt"/>, MUST re-read and
    /// re-hash the chunk under the lock and leave a good copy alone (a concurrent insert may have repaired it).</remarks>
    /// <param name="digest">The chunk.</param>
    /// <param name="onlyIfCorrupt">Rename only when the stored copy is still corrupt.</param>
    /// <param name="cancellationToken">Cancels the operation before it changes anything.</param>
    /// <returns>N of the <c>.N.bad</c> name, or <see langword="null"/> when nothing was renamed (absent, or good).</returns>
    ValueTask<int?> RenameCorruptAsync(ChunkDigest digest, bool onlyIfCorrupt, CancellationToken cancellationToken);

    /// <summary>Lists the digests of the stored chunks (not <c>.bad</c>, marker or temporary entries), in no particular order.</summary>
    /// <remarks>Chunks inserted or removed during the listing may or may not appear; every chunk present for the
    /// whole listing appears exactly once. MUST agree with <see cref="ContainsAsync"/>: an entry under a chunk's name
    /// that is not a chunk (a symbolic link, a directory) is not listed.</remarks>
    /// <param name="cancellationToken">Cancels the listing.</param>
    /// <returns>The digests.</returns>
    IAsyncEnumerable<ChunkDigest> ListAsync(CancellationToken cancellationToken);

    /// <summary>Lists the stored chunks as <see cref="ListAsync"/> does, each with its size and last-touch time (the garbage-collection clock).</summary>
    /// <remarks>Must not read chunk content, and must not touch: a listing is not a use.</remarks>
    /// <param name="cancellationToken">Cancels the listing.</param>
    /// <returns>The chunks.</returns>
    IAsyncEnumerable<ChunkInfo> ListInfoAsync(CancellationToken cancellationToken);

    /// <summary>Makes every new chunk written so far durable (e.g. <c>syncfs</c>); used by <see cref="SyncMode.Batch"/>.</summary>
    /// <param name="cancellationToken">Cancels the flush.</param>
    /// <returns>A task that completes when the data is durable.</returns>
    ValueTask FlushAsync(CancellationToken cancellationToken);
}

/// <summary>What a backend can do, as data.</summary>
/// <param name="IsRemote">Chunks live behind a network (requests cost time and money; errors can be transient).</param>
/// <param name="HasLocalCache">A local cache (markers, full copies) sits in front of the remote objects.</param>
/// <param name="SupportsGarbageCollection">The backend implements <see cref="IGarbageCollectableBackend"/>.</param>
internal sealed record ChunkBackendCapabilities(bool IsRemote, bool HasLocalCache, bool SupportsGarbageCollection);
