using ChunkStore.Diagnostics;

namespace ChunkStore.Tests.Infrastructure;

/// <summary>
/// Interleaving hooks from delegates, for tests: set the points a test needs (null: nothing there) and give the set to
/// a store (<c>repo.Hooks = new HookSet { ... }</c>, or <c>ChunkStoreOptions.InterleavingHooks</c> before opening).
/// Linked into every project that forces interleavings.
/// </summary>
internal sealed class HookSet : IInterleavingHooks
{
    public Func<ValueTask>? WriterScanListed { get; init; }

    public Func<GarbageCollectionResult, ValueTask>? GcPrepared { get; init; }

    public Func<GarbageCollectionResult, ValueTask>? GcMarked { get; init; }

    public Func<ChunkEntryName, ValueTask>? GcRemoving { get; init; }

    public Func<IReadOnlyList<string>, ValueTask>? S3DeletingBatch { get; init; }

    public Func<ChunkDigest, ValueTask>? S3Uploaded { get; init; }

    public Func<ChunkDigest, ValueTask>? S3Fetched { get; init; }

    public Func<ChunkDigest, ValueTask>? S3Renaming { get; init; }

    public Action<string>? S3CacheRestoreListed { get; init; }

    ValueTask IInterleavingHooks.WriterScanListedAsync() => WriterScanListed?.Invoke() ?? default;

    ValueTask IInterleavingHooks.GcPreparedAsync(GarbageCollectionResult result) => GcPrepared?.Invoke(result) ?? default;

    ValueTask IInterleavingHooks.GcMarkedAsync(GarbageCollectionResult result) => GcMarked?.Invoke(result) ?? default;

    ValueTask IInterleavingHooks.GcRemovingAsync(ChunkEntryName entry) => GcRemoving?.Invoke(entry) ?? default;

    ValueTask IInterleavingHooks.S3DeletingBatchAsync(IReadOnlyList<string> keys) => S3DeletingBatch?.Invoke(keys) ?? default;

    ValueTask IInterleavingHooks.S3UploadedAsync(ChunkDigest digest) => S3Uploaded?.Invoke(digest) ?? default;

    ValueTask IInterleavingHooks.S3FetchedAsync(ChunkDigest digest) => S3Fetched?.Invoke(digest) ?? default;

    ValueTask IInterleavingHooks.S3RenamingAsync(ChunkDigest digest) => S3Renaming?.Invoke(digest) ?? default;

    void IInterleavingHooks.S3CacheRestoreListed(string root) => S3CacheRestoreListed?.Invoke(root);
}
