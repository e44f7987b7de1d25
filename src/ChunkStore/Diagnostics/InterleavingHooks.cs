namespace ChunkStore.Diagnostics;

/// <summary>
/// The points where tests (and the benchmark's GC scenario) stop a store mid-operation to force an interleaving with
/// another thread or process: one interface instead of a property per point on each component. Every method does
/// nothing by default; production uses <see cref="NoInterleavingHooks"/>.
/// </summary>
/// <remarks>A store reads its hooks from its own copy of the options (<see cref="ChunkStoreOptions.InterleavingHooks"/>) at every
/// point, so a test may set them before opening (to reach what the open does) or on <c>ChunkRepository.Options</c>
/// after.</remarks>
internal interface IInterleavingHooks
{
    /// <summary>Writer registry scan: after the listing of <c>.writers/</c>, before the liveness checks.</summary>
    ValueTask WriterScanListedAsync() => default;

    /// <summary>Garbage collection: after its cutoff is known (the writer scan done), before the mark.</summary>
    /// <param name="result">The collection's result so far.</param>
    ValueTask GcPreparedAsync(GarbageCollectionResult result) => default;

    /// <summary>Garbage collection: after the mark, before the sweep.</summary>
    /// <param name="result">The collection's result so far.</param>
    ValueTask GcMarkedAsync(GarbageCollectionResult result) => default;

    /// <summary>Garbage collection: before each removal attempt of a swept entry.</summary>
    /// <param name="entry">The entry about to be removed (for S3: before its key joins a delete batch).</param>
    ValueTask GcRemovingAsync(ChunkEntryName entry) => default;

    /// <summary>S3 sweep: before a DeleteObjects request is sent, with the batch's chunk locks held.</summary>
    /// <param name="keys">The object keys of the batch.</param>
    ValueTask S3DeletingBatchAsync(IReadOnlyList<string> keys) => default;

    /// <summary>S3 insert: after the upload (or its 412), before the local marker, with the chunk's lock held.</summary>
    /// <param name="digest">The chunk.</param>
    ValueTask S3UploadedAsync(ChunkDigest digest) => default;

    /// <summary>S3 read miss: after the GET, before caching, with the chunk's lock held.</summary>
    /// <param name="digest">The chunk.</param>
    ValueTask S3FetchedAsync(ChunkDigest digest) => default;

    /// <summary>S3 rename-corrupt: after the local rename and LRU removal, before the object is copied to its <c>.bad</c> key, with the chunk's lock held.</summary>
    /// <param name="digest">The chunk.</param>
    ValueTask S3RenamingAsync(ChunkDigest digest) => default;

    /// <summary>S3 open: after the local cache's full copies were listed, before they are re-registered or demoted.</summary>
    /// <param name="root">The local root.</param>
    void S3CacheRestoreListed(string root)
    {
    }
}

/// <summary>The hooks of production: nothing at any point.</summary>
internal sealed class NoInterleavingHooks : IInterleavingHooks
{
    /// <summary>The one instance.</summary>
    public static readonly NoInterleavingHooks Instance = new();

    private NoInterleavingHooks()
    {
    }
}
