using System.Diagnostics;
using Amazon.S3.Model;
using ChunkStore.Backends;
using ChunkStore.FileSystem;
using ChunkStore.Locking;
using ChunkStore.Native;
using ChunkStore.S3.Diagnostics;

namespace ChunkStore.S3;

/// <summary>
/// Garbage collection on S3. Phase 1 (mark) is local: touch markers, or create <c>.using</c> for referenced chunks
/// without local state. Phase 2 sweeps the bucket listing against the local markers' atimes; phase 3 sweeps the local
/// cache directory (markers whose objects are gone, stale <c>.using</c>, old <c>.bad</c> and temporary files).
/// </summary>
internal sealed partial class S3ChunkBackend
{
    private long _gcPrepareRequests;

    /// <summary>Referenced chunks whose object was listed while a delete of it may still land: phase 3 keeps their
    /// <c>.using</c> (and does not report them missing); the next collection decides.</summary>
    private readonly HashSet<ChunkDigest> _deferredUsing = [];

    public async ValueTask CheckAccessTimeAsync(CancellationToken cancellationToken)
    {
        // The GC clock is the local cache filesystem's atime; and the bucket must answer before anything is decided.
        using var activity = S3Instrumentation.StartGcPhase("chunkstore.s3.gc.prepare");
        await _local.CheckAccessTimeAsync(cancellationToken).ConfigureAwait(false);
        await HeadBucketAsync(cancellationToken).ConfigureAwait(false);
        _pendingDeletes.RemoveSettled();

        // Counted into the result by the sweep (this method has no result); one collection at a time per store.
        _gcPrepareRequests = 1;
    }

    public async ValueTask<MarkOutcome> MarkAsync(ChunkDigest digest, CancellationToken cancellationToken)
    {
        if (TouchLocal(digest))
        {
            return MarkOutcome.Present;
        }

        // Missing locally: keep the .bad copies alive as long as something references the digest.
        bool anyBad = ChunkFiles.TouchBadCopies(_layout, digest, Libc.TouchAccessTime);

        if (anyBad)
        {
            // Never a marker or .using for a chunk known bad: the next insert must upload a good copy (R6b).
            return MarkOutcome.MissingWithBadCopy;
        }

        // No local state (cache lost, or never cached here): say "expected" with .using under the lock; phase 2 turns
        // it into a marker if the listing shows the object, phase 3 removes it (and reports the chunk missing) if not.
        // Never a marker here: GC cannot know the object exists (R6).
        using var chunkLock = await _locks.AcquireAsync(digest, _lockTimeout, cancellationToken).ConfigureAwait(false);
        if (TouchLocal(digest))
        {
            return MarkOutcome.Present;
        }

        string usingPath = _layout.UsingPath(digest);
        if (Libc.TouchAccessTime(usingPath) != 0)
        {
            try
            {
                Directory.CreateDirectory(_layout.PrefixDirectory(digest));
                File.WriteAllBytes(usingPath, []);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw FileErrors.Wrap(Description, digest, usingPath, "create", ex);
            }
        }

        return MarkOutcome.Present;
    }

    public async ValueTask SweepAsync(SweepContext context, CancellationToken cancellationToken)
    {
        context.Result.RemoteRequests += Interlocked.Exchange(ref _gcPrepareRequests, 0);
        _deferredUsing.Clear();
        var batch = new DeleteBatch(this, context);
        try
        {
            using var activity = S3Instrumentation.StartGcPhase("chunkstore.s3.gc.sweep_objects");
            await SweepObjectsAsync(context, batch, cancellationToken).ConfigureAwait(false);
            await batch.FlushAsync().ConfigureAwait(false);
        }
        finally
        {
            // On error or cancellation: release every held lock without deleting (the local side already says "gone";
            // the next collection sees "object without marker" and handles it).
            batch.ReleaseAll();
        }

        using (S3Instrumentation.StartGcPhase("chunkstore.s3.gc.sweep_local"))
        {
            await SweepLocalAsync(context, cancellationToken).ConfigureAwait(false);
            _pendingDeletes.RemoveSettled();
        }
    }

    /// <summary>Phase 2: every listed key, under its try-locked chunk lock.</summary>
    private async ValueTask SweepObjectsAsync(SweepContext context, DeleteBatch batch, CancellationToken cancellationToken)
    {
        var result = context.Result;
        long processed = 0;
        await foreach (var page in ListPagesAsync(result, cancellationToken).ConfigureAwait(false))
        {
            foreach (var obj in page)
            {
                cancellationToken.ThrowIfCancellationRequested();
                processed++;
                if (!S3ChunkKey.TryParse(obj.Key, _options.KeyPrefix, out var key))
                {
                    // O-3: anything that is not exactly one of our names is reported and left alone.
                    context.ReportUnknown(obj.Key);
                    S3Log.UnknownKey(_logger, Description, obj.Key);
                    continue;
                }

                await SweepObjectAsync(context, batch, key, obj).ConfigureAwait(false);
                if (batch.ShouldFlush)
                {
                    await batch.FlushAsync().ConfigureAwait(false);
                }
            }

            context.Progress?.Report(new GarbageCollectionProgress(GarbageCollectionPhase.Sweep, processed, result.ChunksRemoved));
        }
    }

    private async ValueTask SweepObjectAsync(SweepContext context, DeleteBatch batch, S3ChunkKey key, S3Object obj)
    {
        var result = context.Result;
        var digest = key.Digest;
        long size = obj.Size ?? 0;
        if (context.BeforeRemove is { } hook)
        {
            await hook(key.EntryName).ConfigureAwait(false);
        }

        // Only try: an insert, read fill, rename or mark holds the chunk, so it is not garbage now (R1). A lock the
        // delete batch already holds for this digest (its chunk key or another .bad key is queued) is ours to use.
        bool heldByBatch = batch.TryGetHeld(digest, out var chunkLock);
        if (!heldByBatch)
        {
            chunkLock = _locks.TryAcquire(digest);
            if (chunkLock is null)
            {
                result.SkippedBusy++;
                return;
            }
        }

        bool queued = heldByBatch;
        try
        {
            // The local entry that stands for this object: the chunk's file/marker, or the .N.bad file of a bad key.
            string localPath = _layout.EntryPath(key.EntryName);
            SweepClass cls;
            using (_sections.Enter(digest))
            {
                int err = Libc.LStat(localPath, out var st);
                if (err == 0 && !st.IsRegularFile)
                {
                    context.ReportUnknown(localPath);
                    return;
                }

                if (err == 0)
                {
                    cls = context.Classify(FileSystemBackend.ToTime(st.AccessTime));
                }
                else if (err is Libc.ENOENT or Libc.ENOTDIR)
                {
                    if (key.Kind == ChunkEntryKind.Chunk && Libc.LStat(_layout.UsingPath(digest), out _) == 0)
                    {
                        // Referenced (phase 1 wrote .using) and the listing proves the object exists: now a marker —
                        // unless a delete of it may still land (its sender died): then keep .using for the next run.
                        bool deferred = _pendingDeletes.Unsettled(obj.Key) is not null;
                        if (deferred)
                        {
                            _deferredUsing.Add(digest);
                        }
                        else if (!context.DryRun)
                        {
                            WriteLocalLocked(digest, [], atime: null);
                            DeleteLocal(_layout.UsingPath(digest), digest);
                        }

                        cls = SweepClass.InUse;
                    }
                    else
                    {
                        // No local state and not referenced: an object only S3 knows about (never inserted through
                        // this cache, or its marker already removed). Every insert writes a marker (O-2), so no insert
                        // of ours is in flight for it (we hold its lock).
                        cls = SweepClass.Remove;
                    }
                }
                else
                {
                    throw FileErrors.Create(Description, digest, localPath, "stat", err);
                }

                if (cls == SweepClass.Remove && !context.DryRun)
                {
                    if (key.Kind == ChunkEntryKind.Chunk)
                    {
                        // Safety: we hold the chunk's lock (taken above, kept until DeleteObjects returns); the sweep
                        // decided under that lock that its last touch is before the cutoff; the local file goes next.
                        _cache.UnsafeRemove(digest);
                    }

                    DeleteLocal(localPath, digest);
                }
            }

            context.Record(key.Kind, cls, size);
            if (cls == SweepClass.Remove && !context.DryRun)
            {
                // R2: the lock travels with the key and is released only after DeleteObjects returned.
                if (ChunkStore.Diagnostics.FaultSwitches.GcEarlyUnlock && !heldByBatch)
                {
                    batch.AddUnlocked(obj.Key); // torture harness only: the R2 bug (the lock is released below)
                }
                else
                {
                    batch.Add(obj.Key, chunkLock!);
                    queued = true;
                }
            }
        }
        finally
        {
            if (!queued)
            {
                chunkLock!.Dispose();
            }
        }
    }

    /// <summary>Phase 3: local entries — markers whose object is gone, leftover <c>.using</c>, old <c>.bad</c>, stale temporary files.</summary>
    private async ValueTask SweepLocalAsync(SweepContext context, CancellationToken cancellationToken)
    {
        var result = context.Result;
        await foreach (var (name, path) in _local.EnumerateEntriesAsync(cancellationToken, context.ReportUnknown).ConfigureAwait(false))
        {
            if (Libc.LStat(path, out var st) != 0 || !st.IsRegularFile)
            {
                continue;
            }

            if (name.Kind == ChunkEntryKind.Temporary)
            {
                if (context.Classify(FileSystemBackend.ToTime(st.ModifyTime)) == SweepClass.Remove && !context.DryRun && Libc.Unlink(path) == 0)
                {
                    result.TemporaryFilesRemoved++;
                }

                continue;
            }

            // Phase 2 handled every entry whose object was listed (and kept or removed it); what is still older than
            // the cutoff here has no object. Only try the lock: busy ⇒ an upload or fill is in progress.
            bool isUsing = name.Kind == ChunkEntryKind.Using;
            if (isUsing && _deferredUsing.Contains(name.Digest))
            {
                continue;
            }
            if (!isUsing && context.Classify(FileSystemBackend.ToTime(st.AccessTime)) != SweepClass.Remove)
            {
                continue;
            }

            using var chunkLock = _locks.TryAcquire(name.Digest);
            if (chunkLock is null)
            {
                result.SkippedBusy++;
                continue;
            }

            using (_sections.Enter(name.Digest))
            {
                if (Libc.LStat(path, out st) != 0)
                {
                    continue;
                }

                if (isUsing)
                {
                    // Referenced, but phase 2 did not list the object: it is missing from the bucket. Drop .using so
                    // the next insert uploads (there is no marker to make it skip), and report the chunk missing.
                    if (Libc.LStat(_layout.ChunkPath(name.Digest), out _) != 0)
                    {
                        result.MissingChunks++;
                        if (result.MissingSample.Count < 10)
                        {
                            result.MissingSample.Add(name.Digest);
                        }
                    }

                    if (!context.DryRun)
                    {
                        DeleteLocal(path, name.Digest);
                        result.MarkersRemoved++;
                    }

                    continue;
                }

                if (context.Classify(FileSystemBackend.ToTime(st.AccessTime)) != SweepClass.Remove || context.DryRun)
                {
                    continue;
                }

                if (name.Kind == ChunkEntryKind.Chunk)
                {
                    // Safety: we hold the chunk's lock; its atime is before the cutoff (re-checked under the lock) and
                    // its object was not kept by phase 2; the local file is removed right below.
                    _cache.UnsafeRemove(name.Digest);
                    result.MarkersRemoved++;
                }
                else
                {
                    result.BadRemoved++;
                }

                DeleteLocal(path, name.Digest);
            }
        }
    }

    /// <summary>
    /// The queued deletes of phase 2, each with its chunk lock held until the DeleteObjects request that removes it
    /// returns (R2). Flushed when full (<see cref="S3BackendOptions.DeleteBatchSize"/>), when its oldest entry is older
    /// than <see cref="S3BackendOptions.DeleteBatchMaxAge"/>, and at the end.
    /// </summary>
    private sealed class DeleteBatch(S3ChunkBackend owner, SweepContext context)
    {
        private readonly List<string> _keys = [];
        private readonly Dictionary<ChunkDigest, ChunkLock> _locks = [];
        private long _oldest;

        public bool ShouldFlush => _keys.Count >= owner._options.DeleteBatchSize
            || (_keys.Count > 0 && Stopwatch.GetElapsedTime(_oldest) >= owner._options.DeleteBatchMaxAge);

        public bool TryGetHeld(ChunkDigest digest, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ChunkLock? chunkLock) =>
            _locks.TryGetValue(digest, out chunkLock);

        public void AddUnlocked(string key)
        {
            if (_keys.Count == 0)
            {
                _oldest = Stopwatch.GetTimestamp();
            }

            _keys.Add(key);
        }

        public void Add(string key, ChunkLock chunkLock)
        {
            AddUnlocked(key);
            _locks.TryAdd(chunkLock.Digest, chunkLock);
        }

        public async ValueTask FlushAsync()
        {
            if (_keys.Count == 0)
            {
                return;
            }

            var keys = _keys.ToList();
            if (owner.BeforeDeleteBatchHook is { } hook)
            {
                await hook(keys).ConfigureAwait(false);
            }

            DeleteObjectsResponse response;

            // Recorded before it leaves: if this process dies (or a copy of the request is still on the wire after a
            // retry or a failure) the delete may land after the locks are gone; paths that would create local state
            // for these keys wait for it to settle (PendingDeletes). The record is unlocked before the chunk locks.
            using (var intent = owner._pendingDeletes.Begin(keys))
            {
                try
                {
                    // Not cancellable: the local side is already removed; finish the request we started.
                    response = await owner.SendRecordedDeleteAsync(intent, S3RequestKind.DeleteObjects, keys, quiet: true).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    throw owner._requests.Wrap($"batch delete of {keys.Count} objects", keys[0], null, ex);
                }
                finally
                {
                    context.Result.RemoteRequests += Math.Max(1, intent.Attempts);
                }

                intent.Answered();
            }

            ReleaseAll();
            if (response.DeleteErrors is { Count: > 0 } errors)
            {
                // Consistent anyway: the objects are still there without a local marker; the next collection retries.
                var first = errors[0];
                throw new ChunkStorageException(
                    $"Store {owner.Description}: S3 batch delete failed for {errors.Count} of {keys.Count} objects, e.g. {first.Key}: {first.Code} {first.Message}. They are left in place; the next garbage collection retries.",
                    StorageErrorKind.Network,
                    isTransient: true,
                    null)
                { Store = owner.Description };
            }
        }

        public void ReleaseAll()
        {
            foreach (var chunkLock in _locks.Values)
            {
                chunkLock.Dispose();
            }

            _locks.Clear();
            _keys.Clear();
        }
    }
}
