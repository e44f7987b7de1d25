using System.Diagnostics;
using ChunkStore.Backends;
using ChunkStore.FileSystem;
using ChunkStore.Locking;

namespace ChunkStore.Remote;

/// <summary>
/// Garbage collection of a remote store. Prepare: the store must still belong to this local root (identity object) and the clocks
/// must agree. Mark is local: touch markers, or create <c>.using</c> for referenced chunks without local state. Sweep:
/// one pass over the bucket listing (sorted by key, so by prefix directory), planning without locks and executing the
/// planned deletes batch by batch, each chunk lock held only while its batch executes; behind the listing, each local
/// prefix directory is reconciled with what the listing showed (markers whose objects are gone, leftover <c>.using</c>,
/// old <c>.bad</c> and temporary files).
/// </summary>
/// <remarks>
/// An object is removed only when both clocks say so: its local state's last touch (<see cref="LastTouched(ChunkDigest)"/>; none at
/// all counts as "never touched here") and its <c>LastModified</c> (server time, corrected by the skew measured at
/// prepare) are before the cutoff. So a seconds-old object that has no local state — a marker write that failed
/// after the upload — is kept until it is as old as the grace period.
/// </remarks>
internal partial class RemoteChunkBackend
{
    private long _gcPrepareRequests;

    /// <summary>The local clock minus the server's, measured at the current collection's prepare step.</summary>
    private TimeSpan _gcSkew;

    /// <summary>Referenced chunks whose object was listed while a delete of it may still land: the local sweep keeps
    /// their <c>.using</c> (and does not report them missing); the next collection decides.</summary>
    private readonly HashSet<ChunkDigest> _deferredUsing = [];

    public async ValueTask CheckAccessTimeAsync(CancellationToken cancellationToken)
    {
        // The GC clock is the local cache filesystem's atime; the store must still be this root's (the identity GET also
        // proves the bucket answers), and this host's clock must agree with the server's: the sweep compares both.
        using var activity = _instrumentation.StartGcPhase(RemoteGcPhase.Prepare);
        await _local.CheckAccessTimeAsync(cancellationToken).ConfigureAwait(false);
        await _identity.CheckOwnerAsync(cancellationToken).ConfigureAwait(false);
        _gcSkew = MeasureClockSkew();
        _pendingDeletes.RemoveSettled();

        // Counted into the result by the sweep (this method has no result); one collection at a time per store.
        _gcPrepareRequests = 1;
    }

    /// <summary>The skew seen in the identity check's answer; refuses beyond <see cref="RemoteBackendSettings.MaxClockSkew"/>.</summary>
    private TimeSpan MeasureClockSkew()
    {
        var skew = _storage.ClockSkew(_time) ?? throw new ChunkStorageException(
            $"Store {Description}: garbage collection refused: the server's answers carry no Date header, so this host's clock cannot be checked against the server's. Nothing was changed.",
            StorageErrorKind.Network,
            isTransient: false,
            null)
        { Store = Description };
        if (skew.Duration() > _options.MaxClockSkew)
        {
            throw _options.ClockSkewRefusal(skew, _options.MaxClockSkew);
        }

        return skew;
    }

    public async ValueTask<MarkOutcome> MarkAsync(ChunkDigest digest, CancellationToken cancellationToken)
    {
        if (TouchLocal(digest))
        {
            return MarkOutcome.Present;
        }

        // Missing locally: keep the .bad copies alive as long as something references the digest.
        bool anyBad = ChunkFiles.TouchBadCopies(_layout, digest, LocalEntries.TryTouch);

        if (anyBad)
        {
            // Never a marker or .using for a chunk known bad: the next insert must upload a good copy (R6b).
            return MarkOutcome.MissingWithBadCopy;
        }

        // No local state (cache lost, or never cached here): say "expected" with .using under the lock; the sweep turns
        // it into a marker if the listing shows the object, and removes it (reporting the chunk missing) if not.
        // Never a marker here: GC cannot know the object exists (R6).
        using var chunkLock = await _locks.AcquireAsync(digest, _lockTimeout, cancellationToken).ConfigureAwait(false);
        if (TouchLocal(digest))
        {
            return MarkOutcome.Present;
        }

        string usingPath = _layout.UsingPath(digest);
        if (!LocalEntries.TryTouch(usingPath))
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

    /// <summary>
    /// What <see cref="MarkAsync"/> would find, changing nothing (a dry run): a local file or marker; else <c>.bad</c>
    /// copies; else the object itself (one HEAD: the real mark's <c>.using</c> would become a marker if the listing shows
    /// it, or the chunk would be reported missing).
    /// </summary>
    public async ValueTask<MarkOutcome> MarkWithoutTouchingAsync(ChunkDigest digest, CancellationToken cancellationToken)
    {
        if (StatLocal(digest) is not null)
        {
            return MarkOutcome.Present;
        }

        if (ChunkFiles.TouchBadCopies(_layout, digest, LocalEntries.Exists))
        {
            return MarkOutcome.MissingWithBadCopy;
        }

        Interlocked.Increment(ref _gcPrepareRequests);
        return await _storage.ExistsAsync(ObjectKey(digest), digest, cancellationToken).ConfigureAwait(false) ? MarkOutcome.Present : MarkOutcome.Missing;
    }

    public async ValueTask SweepAsync(SweepContext context, CancellationToken cancellationToken)
    {
        var result = context.Result;
        result.RemoteRequests += Interlocked.Exchange(ref _gcPrepareRequests, 0);
        _deferredUsing.Clear();
        var local = new LocalReconciler(this, context, DateTimeOffset.UtcNow);
        var batch = new DeleteBatch(this, context);
        using (_instrumentation.StartGcPhase(RemoteGcPhase.SweepObjects))
        {
            long processed = 0;
            await foreach (var page in ListPagesAsync(result, cancellationToken).ConfigureAwait(false))
            {
                foreach (var obj in page)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    processed++;
                    if (!RemoteChunkKey.TryParse(obj.Key, _options.KeyPrefix, out var key))
                    {
                        // O-3: anything that is not exactly one of our names is reported and left alone.
                        context.ReportUnknown(obj.Key);
                        RemoteLog.UnknownKey(_logger, Description, obj.Key);
                        continue;
                    }

                    // The listing is sorted by key: every local prefix directory before this key's is complete now.
                    await local.ReconcileBeforeAsync(key.Digest, cancellationToken).ConfigureAwait(false);
                    local.Listed(key);
                    PlanObject(context, batch, key, obj);
                    if (batch.ShouldExecute)
                    {
                        await batch.ExecuteAsync().ConfigureAwait(false);
                    }
                }

                context.Progress?.Report(new GarbageCollectionProgress(GarbageCollectionPhase.Sweep, processed, result.ChunksRemoved));
            }

            await batch.ExecuteAsync().ConfigureAwait(false);
        }

        using (_instrumentation.StartGcPhase(RemoteGcPhase.SweepLocal))
        {
            await local.ReconcileRestAsync(cancellationToken).ConfigureAwait(false);
            _pendingDeletes.RemoveSettled();
        }
    }

    /// <summary>
    /// The class of a key from its local class and its class by server time: the local state decides, except that an
    /// object young in server time is never removed (it counts as pending: kept for the grace period).
    /// </summary>
    private static SweepClass Keeping(SweepClass byLocal, SweepClass byServer) =>
        byLocal == SweepClass.Remove && byServer != SweepClass.Remove ? SweepClass.Pending : byLocal;

    /// <summary>The class of an object by its <c>LastModified</c> (server time, moved to the local clock and rounded up
    /// by the storage's <see cref="RemoteStorageCapabilities.ClockSkewTolerance"/>).</summary>
    private SweepClass ClassifyByServerTime(SweepContext context, DateTimeOffset? lastModified) => lastModified is { } lm
        ? context.Classify(lm + _gcSkew + _storage.Capabilities.ClockSkewTolerance)
        : SweepClass.Pending; // unknown age: never removable

    /// <summary>
    /// The class of a listed key by its local state, from one look at the local files (the caller may hold the chunk's
    /// lock, or not: a plan is re-decided under the lock): null when the key's local entry is not a regular file (left
    /// alone, reported) or when the chunk is referenced and has no local state yet (<c>.using</c> alone).
    /// </summary>
    private SweepClass? ClassifyLocally(SweepContext context, RemoteChunkKey key, out bool usingOnly)
    {
        usingOnly = false;
        string localPath = _layout.EntryPath(key.EntryName);
        var local = LocalEntries.Stat(Description, key.Digest, localPath);
        if (local is { IsRegularFile: false })
        {
            context.ReportUnknown(localPath);
            return null;
        }

        // (Classified with the entry's name: a dry run counts what its mark would have touched as in use.)
        if (key.Kind != ChunkEntryKind.Chunk)
        {
            // A .bad key is classified by its local .bad entry; none: only the storage knows it (its copy predates this cache).
            return context.Classify(key.EntryName, local?.LastAccess ?? DateTimeOffset.MinValue);
        }

        if (LastTouched(key.Digest, local) is not { } touched)
        {
            // No local state and not referenced: an object only the storage knows about (never inserted through this cache, or
            // its marker already removed); the server-time guard still keeps it while it is young. (In a dry run a
            // referenced one is in use: the real mark would have written .using.)
            return context.Classify(key.EntryName, DateTimeOffset.MinValue);
        }

        usingOnly = local is null;
        return usingOnly ? null : context.Classify(key.EntryName, touched);
    }

    /// <summary>Plans one listed key, holding no lock: counts what stays, queues what may go.</summary>
    private void PlanObject(SweepContext context, DeleteBatch batch, RemoteChunkKey key, RemoteObject obj)
    {
        long size = obj.Size;
        var byServer = ClassifyByServerTime(context, obj.LastModified);
        var byLocal = ClassifyLocally(context, key, out bool usingOnly);
        if (usingOnly)
        {
            MarkerFromUsing(context, key, obj.Key, size);
            return;
        }

        if (byLocal is not { } local)
        {
            return; // not a regular file: reported
        }

        var cls = Keeping(local, byServer);
        if (cls != SweepClass.Remove || context.DryRun)
        {
            context.Record(key.Kind, cls, size);
            return;
        }

        batch.Plan(new PlannedDelete(key, obj.Key, size, byServer));
    }

    /// <summary>
    /// A referenced chunk (mark wrote <c>.using</c>) whose object the listing shows: record that it exists with a marker,
    /// under a try-locked chunk lock — unless a delete of it may still land (then keep <c>.using</c> for the next run).
    /// </summary>
    private void MarkerFromUsing(SweepContext context, RemoteChunkKey key, string objectKey, long size)
    {
        var digest = key.Digest;
        using var chunkLock = _locks.TryAcquire(digest);
        if (chunkLock is null)
        {
            context.Result.SkippedBusy++; // an insert, fill or rename works on it: it decides the local state
            return;
        }

        using (_sections.Enter(digest))
        {
            if (StatLocal(digest) is null && LocalEntries.Exists(_layout.UsingPath(digest)))
            {
                if (_pendingDeletes.Unsettled(objectKey) is not null)
                {
                    _deferredUsing.Add(digest);
                }
                else if (!context.DryRun)
                {
                    WriteLocalLocked(digest, [], atime: null);
                    DeleteLocal(_layout.UsingPath(digest), digest);
                }
            }
        }

        context.Record(ChunkEntryKind.Chunk, SweepClass.InUse, size);
    }

    /// <summary>
    /// A <c>.using</c> beside a local file (a fill or insert made the file after mark): the file now stands for the
    /// chunk. Under a try-locked chunk lock, carry a newer <c>.using</c> time onto the file, then drop <c>.using</c>.
    /// </summary>
    private void DropUsingBesideFile(ChunkDigest digest, SweepContext context)
    {
        if (context.DryRun)
        {
            return;
        }

        using var chunkLock = _locks.TryAcquire(digest);
        if (chunkLock is null)
        {
            context.Result.SkippedBusy++;
            return;
        }

        using (_sections.Enter(digest))
        {
            string usingPath = _layout.UsingPath(digest);
            if (StatLocal(digest) is not { } file || LocalEntries.TryStat(usingPath) is not { } u)
            {
                return;
            }

            if (u.LastAccess > file.LastAccess)
            {
                LocalEntries.TrySetAccessTime(_layout.ChunkPath(digest), u.LastAccess);
            }

            DeleteLocal(usingPath, digest);
            context.Result.MarkersRemoved++;
        }
    }

    /// <summary>A key the plan found removable, with its class by server time (which cannot change: we hold the listing).</summary>
    private readonly record struct PlannedDelete(RemoteChunkKey Key, string ObjectKey, long Size, SweepClass ByServer);

    /// <summary>
    /// The planned deletes of the sweep, executed batch by batch: when <see cref="RemoteBackendSettings.DeleteBatchSize"/> are
    /// planned, when the oldest waited <see cref="RemoteBackendSettings.DeleteBatchMaxAge"/>, and at the end. A batch
    /// try-locks each key's chunk (busy ⇒ skipped), re-decides under the lock, drops the local state and sends one
    /// DeleteObjects; its locks are released when the request returned (R2). No lock is held between batches, so
    /// other processes find unrelated chunks busy only for the length of one request.
    /// </summary>
    private sealed class DeleteBatch(RemoteChunkBackend owner, SweepContext context)
    {
        private readonly List<PlannedDelete> _planned = [];
        private long _oldest;

        public bool ShouldExecute => _planned.Count >= owner._options.DeleteBatchSize
            || (_planned.Count > 0 && Stopwatch.GetElapsedTime(_oldest) >= owner._options.DeleteBatchMaxAge);

        public void Plan(PlannedDelete planned)
        {
            if (_planned.Count == 0)
            {
                _oldest = Stopwatch.GetTimestamp();
            }

            _planned.Add(planned);
        }

        public async ValueTask ExecuteAsync()
        {
            if (_planned.Count == 0)
            {
                return;
            }

            var planned = _planned.ToList();
            _planned.Clear();
            var held = new Dictionary<ChunkDigest, ChunkLock>();
            var sending = new List<PlannedDelete>();
            try
            {
                foreach (var p in planned)
                {
                    if (await TryDropLocalAsync(p, held).ConfigureAwait(false))
                    {
                        sending.Add(p);
                    }
                }

                if (sending.Count > 0)
                {
                    await SendAsync(sending).ConfigureAwait(false);
                }
            }
            finally
            {
                foreach (var chunkLock in held.Values)
                {
                    chunkLock.Dispose();
                }
            }
        }

        /// <summary>Try-locks the key's chunk, re-decides under the lock and drops its local state; false when it stays.</summary>
        private async ValueTask<bool> TryDropLocalAsync(PlannedDelete p, Dictionary<ChunkDigest, ChunkLock> held)
        {
            await context.Hooks.GcRemovingAsync(p.Key.EntryName).ConfigureAwait(false);

            var digest = p.Key.Digest;

            // Only try: an insert, read fill, rename or mark holds the chunk, so it is not garbage now (R1). A digest
            // can come twice in a batch (its chunk key and a .bad key): the lock taken for the first serves both.
            if (!held.TryGetValue(digest, out var chunkLock))
            {
                chunkLock = owner._locks.TryAcquire(digest);
                if (chunkLock is null)
                {
                    context.Result.SkippedBusy++;
                    return false;
                }

                held.Add(digest, chunkLock);
            }

            using (owner._sections.Enter(digest))
            {
                // Re-decide: since the plan an insert may have touched or re-created the local state (R5).
                var local = owner.ClassifyLocally(context, p.Key, out bool usingOnly);
                if (usingOnly || local is not { } cls || Keeping(cls, p.ByServer) != SweepClass.Remove)
                {
                    if (local is { } kept)
                    {
                        context.Record(p.Key.Kind, Keeping(kept, p.ByServer), p.Size);
                    }

                    return false;
                }

                if (p.Key.Kind == ChunkEntryKind.Chunk)
                {
                    // Safety: we hold the chunk's lock (taken above, kept until DeleteObjects returns); the sweep
                    // decided under that lock that its last touch is before the cutoff; the local file goes next.
                    owner._cache.UnsafeRemove(digest);
                }

                owner.DeleteLocal(owner._layout.EntryPath(p.Key.EntryName), digest);
            }

            if (ChunkStore.Diagnostics.FaultSwitches.GcEarlyUnlock)
            {
                // Torture harness only: the R2 bug (the lock is released before the delete is sent).
                held.Remove(digest);
                chunkLock.Dispose();
            }

            return true;
        }

        private async ValueTask SendAsync(List<PlannedDelete> sending)
        {
            var keys = sending.Select(p => p.ObjectKey).ToList();
            await owner.Hooks.S3DeletingBatchAsync(keys).ConfigureAwait(false);

            IReadOnlyList<RemoteDeleteError> errors;

            // Recorded before it leaves: if this process dies (or a copy of the request is still on the wire after a
            // retry or a failure) the delete may land after the locks are gone; paths that would create local state
            // for these keys wait for it to settle (PendingDeletes). The record is unlocked before the chunk locks.
            using (var intent = owner._pendingDeletes.Begin(keys))
            {
                try
                {
                    // Not cancellable: the local side is already removed; finish the request we started.
                    errors = await owner._storage.DeleteAsync(keys, intent.Sending).ConfigureAwait(false);
                }
                finally
                {
                    context.Result.RemoteRequests += Math.Max(1, intent.Attempts);
                }

                intent.Answered();
            }

            // Keys the server could not delete stay in place without local state; the next collection retries them.
            var failed = new HashSet<string>(StringComparer.Ordinal);
            foreach (var error in errors)
            {
                if (error.Key is { } key)
                {
                    failed.Add(key);
                }

                RemoteLog.DeleteFailed(owner._logger, owner.Description, error.Key ?? "(no key)", error.Code, error.Message);
            }

            // (An error entry without a key cannot be matched: count every key as not removed, the safe reading.)
            bool unmatched = errors.Count > failed.Count;
            foreach (var p in sending)
            {
                if (unmatched || failed.Contains(p.ObjectKey))
                {
                    context.ReportRemoveFailed(p.ObjectKey);
                }
                else
                {
                    context.Record(p.Key.Kind, SweepClass.Remove, p.Size);
                }
            }
        }
    }

    /// <summary>
    /// The local half of the sweep: each local prefix directory, once the listing has passed it, against the keys the
    /// listing showed in it. Memory is one prefix's keys, however large the store.
    /// </summary>
    private sealed class LocalReconciler
    {
        private readonly RemoteChunkBackend _owner;
        private readonly SweepContext _context;
        private readonly DateTimeOffset _listingStarted;
        private readonly Queue<string> _prefixes;
        private readonly HashSet<ChunkDigest> _listed = [];
        private string? _listedPrefix;

        public LocalReconciler(RemoteChunkBackend owner, SweepContext context, DateTimeOffset listingStarted)
        {
            _owner = owner;
            _context = context;
            _listingStarted = listingStarted;
            var names = new List<string>();
            if (Directory.Exists(owner._layout.ChunksDirectory))
            {
                foreach (var dir in Directory.EnumerateFileSystemEntries(owner._layout.ChunksDirectory))
                {
                    string name = Path.GetFileName(dir);
                    if (ChunkLayout.IsPrefixName(name) && Directory.Exists(dir))
                    {
                        names.Add(name);
                    }
                    else if (!name.StartsWith(".gc-", StringComparison.Ordinal))
                    {
                        context.ReportUnknown(dir);
                    }
                }
            }

            names.Sort(StringComparer.Ordinal);
            _prefixes = new Queue<string>(names);
        }

        /// <summary>Records a key the listing showed (its prefix is the current one).</summary>
        public void Listed(RemoteChunkKey key)
        {
            string prefix = ChunkLayout.PrefixName(key.Digest);
            if (prefix != _listedPrefix)
            {
                _listed.Clear();
                _listedPrefix = prefix;
            }

            _listed.Add(key.Digest);
        }

        /// <summary>Reconciles every local prefix directory that sorts before <paramref name="digest"/>'s.</summary>
        public async ValueTask ReconcileBeforeAsync(ChunkDigest digest, CancellationToken cancellationToken)
        {
            string prefix = ChunkLayout.PrefixName(digest);
            while (_prefixes.TryPeek(out var next) && string.CompareOrdinal(next, prefix) < 0)
            {
                await ReconcileAsync(_prefixes.Dequeue(), cancellationToken).ConfigureAwait(false);
            }
        }

        /// <summary>Reconciles the local prefix directories the listing did not reach.</summary>
        public async ValueTask ReconcileRestAsync(CancellationToken cancellationToken)
        {
            while (_prefixes.TryDequeue(out var next))
            {
                await ReconcileAsync(next, cancellationToken).ConfigureAwait(false);
            }
        }

        private async ValueTask ReconcileAsync(string prefix, CancellationToken cancellationToken)
        {
            var listed = prefix == _listedPrefix ? _listed : [];
            string dir = Path.Combine(_owner._layout.ChunksDirectory, prefix);
            string[] paths;
            try
            {
                paths = Directory.GetFiles(dir);
            }
            catch (DirectoryNotFoundException)
            {
                return;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw FileErrors.Wrap(_owner.Description, null, dir, "list the local cache directory", ex);
            }

            foreach (var path in paths)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (!ChunkEntryName.TryParse(Path.GetFileName(path.AsSpan()), out var name) || ChunkLayout.PrefixName(name.Digest) != prefix)
                {
                    _context.ReportUnknown(path);
                    continue;
                }

                await ReconcileEntryAsync(name, path, listed.Contains(name.Digest), cancellationToken).ConfigureAwait(false);
            }
        }

        private async ValueTask ReconcileEntryAsync(ChunkEntryName name, string path, bool listed, CancellationToken cancellationToken)
        {
            var result = _context.Result;
            if (name.Kind == ChunkEntryKind.Chunk && listed)
            {
                return; // the listing pass decided it (no stat: the common case, once per listed object)
            }

            if (LocalEntries.TryStat(path) is not { IsRegularFile: true } st)
            {
                return; // gone meanwhile; or not a file (the listing pass reported a listed one)
            }

            switch (name.Kind)
            {
                case ChunkEntryKind.Temporary:
                    if (_context.Classify(st.LastModified) == SweepClass.Remove && !_context.DryRun && LocalEntries.TryRemove(path))
                    {
                        result.TemporaryFilesRemoved++;
                    }

                    return;
                case ChunkEntryKind.Chunk when st.LastChange >= _listingStarted:
                    return; // new since the listing began: its object may simply be younger than the listing page
                case ChunkEntryKind.Using when _owner._deferredUsing.Contains(name.Digest):
                    return;
                case ChunkEntryKind.Using when LocalEntries.Exists(_owner._layout.ChunkPath(name.Digest)):
                    _owner.DropUsingBesideFile(name.Digest, _context);
                    return;
                case ChunkEntryKind.Using when listed:
                    return; // the listing pass made its marker, or skipped it as busy: the next collection decides
                case ChunkEntryKind.Bad when _context.Classify(st.LastAccess) != SweepClass.Remove:
                    return;
            }

            // A marker or full copy whose object was not listed, a .using whose object was not listed, or an old .bad
            // entry: decide under a try-locked chunk lock (busy ⇒ an upload, fill or rename is in progress).
            using var chunkLock = _owner._locks.TryAcquire(name.Digest);
            if (chunkLock is null)
            {
                result.SkippedBusy++;
                return;
            }

            switch (name.Kind)
            {
                case ChunkEntryKind.Chunk or ChunkEntryKind.Using:
                    await ReconcileUnlistedLockedAsync(name, path, cancellationToken).ConfigureAwait(false);
                    break;
                case ChunkEntryKind.Bad:
                    using (_owner._sections.Enter(name.Digest))
                    {
                        if (!_context.DryRun && LocalEntries.TryStat(path) is { } now && _context.Classify(now.LastAccess) == SweepClass.Remove)
                        {
                            _owner.DeleteLocal(path, name.Digest);
                            result.BadRemoved++;
                        }
                    }

                    break;
            }
        }

        /// <summary>
        /// Under the chunk's lock: the local state of a chunk whose object the listing did not show. A HEAD tells a
        /// listing that lags behind the bucket from an object that is gone. Gone: drop the marker or copy (and the LRU
        /// entry) so the next insert uploads again, and report the chunk missing when it was touched during this
        /// collection (referenced, or deduplicated against by a writer).
        /// </summary>
        private async ValueTask ReconcileUnlistedLockedAsync(ChunkEntryName name, string path, CancellationToken cancellationToken)
        {
            var result = _context.Result;
            var digest = name.Digest;
            var touched = _owner.LastTouched(digest);
            string key = _owner.ObjectKey(digest);
            if (touched is null)
            {
                return; // removed meanwhile
            }

            result.RemoteRequests++;
            if (await _owner._storage.ExistsAsync(key, digest, cancellationToken).ConfigureAwait(false))
            {
                // The listing lagged. A referenced chunk with only .using gets its marker now, as the listing pass
                // would have done.
                if (name.Kind == ChunkEntryKind.Using && _owner.StatLocal(digest) is null && !_context.DryRun)
                {
                    if (_owner._pendingDeletes.Unsettled(key) is null)
                    {
                        _owner.WriteLocalLocked(digest, [], atime: null);
                        _owner.DeleteLocal(path, digest);
                    }
                }

                return;
            }

            if (touched.Value >= result.StartedAt)
            {
                result.MissingChunks++;
                if (result.MissingSample.Count < 10)
                {
                    result.MissingSampleList.Add(digest);
                }
            }

            if (_context.DryRun)
            {
                return;
            }

            using (_owner._sections.Enter(digest))
            {
                // Safety: we hold the chunk's lock; the object is gone (HEAD 404 under the lock); the local state that
                // claims it is removed right below.
                _owner._cache.UnsafeRemove(digest);
                _owner.DeleteLocal(_owner._layout.ChunkPath(digest), digest);
                _owner.DeleteLocal(_owner._layout.UsingPath(digest), digest);
            }

            result.MarkersRemoved++;
            RemoteLog.StaleMarkerRemoved(_owner._logger, _owner.Description, digest);
        }
    }
}
