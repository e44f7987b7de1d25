using ChunkStore.Backends;
using ChunkStore.Diagnostics;
using ChunkStore.Locking;
using ChunkStore.Native;

namespace ChunkStore.FileSystem;

internal sealed partial class FileSystemBackend
{
    /// <summary>The probe file earlier versions created and removed in <c>.chunks/</c> for the access-time check; listings skip a leftover one.</summary>
    private const string LegacyAtimeProbeName = ".gc-atime-probe";

    /// <summary>How chunk access times are refreshed; a test double replaces it to simulate a filesystem that loses them.</summary>
    internal Func<string, int> TouchFunction { get; set; } = Libc.TouchAccessTime;

    /// <summary>How the access-time check sets an explicit past atime; a test double replaces it to simulate a filesystem that loses every explicit update.</summary>
    internal Func<string, DateTimeOffset, int> SetAccessTimeFunction { get; set; } = Libc.SetAccessTime;

    /// <summary>
    /// Checks the GC clock without creating anything, so that a collection can free a disk with no free byte or
    /// inode: on the probe (<see cref="AccessTimeProbePath"/>) it sets the atime an hour into the past explicitly and
    /// checks that it reads back, then touches it and checks that it moved to about now. A filesystem that drops
    /// either explicit update is refused.
    /// </summary>
    public ValueTask CheckAccessTimeAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        string probe = AccessTimeProbePath();
        for (int attempt = 1; ; attempt++)
        {
            // (No need to sleep for timestamp granularity as Proxmox does: the two values are an hour apart.)
            var past = DateTimeOffset.UtcNow.AddHours(-1);
            int err = SetAccessTimeFunction(probe, past);
            if (err != 0)
            {
                throw FileErrors.Create(Description, null, probe, "set the access time of the clock probe", err);
            }

            var set = AccessTimeOf(probe);
            if ((set - past).Duration() > TimeSpan.FromMinutes(1))
            {
                // Only the directory probe can be read by someone else meanwhile (on relatime a read moves its atime
                // forward): look again before refusing.
                if (attempt < 3)
                {
                    continue;
                }

                throw new AccessTimeUnreliableException(Description, $"after an explicit update of {probe}'s atime to {past:o} it reads {set:o}");
            }

            err = TouchFunction(probe);
            if (err != 0)
            {
                throw FileErrors.Create(Description, null, probe, "touch the clock probe", err);
            }

            var touched = AccessTimeOf(probe);
            if (touched < past.AddMinutes(30))
            {
                throw new AccessTimeUnreliableException(Description, $"after an explicit touch the probe's atime is {touched:o}, still about the hour-old value set before");
            }

            return ValueTask.CompletedTask;
        }
    }

    /// <summary>
    /// The entry whose atime the clock check moves: <c>.gc.lock</c> (reserved at create, held by the collection,
    /// read by nobody) when it is on the chunks' filesystem; otherwise the <c>.chunks</c> directory itself (through
    /// <c>/.</c>, so that a <c>.chunks</c> that is a symbolic link to another filesystem probes the directory, not the link).
    /// </summary>
    private string AccessTimeProbePath()
    {
        int err = Libc.Stat(_layout.ChunksDirectory, out var chunks);
        if (err == Libc.ENOENT)
        {
            Directory.CreateDirectory(_layout.ChunksDirectory);
            err = Libc.Stat(_layout.ChunksDirectory, out chunks);
        }

        if (err != 0)
        {
            throw FileErrors.Create(Description, null, _layout.ChunksDirectory, "stat", err);
        }

        return Libc.LStat(_layout.GcLockPath, out var gcLock) == 0 && gcLock.IsRegularFile && gcLock.SameDeviceAs(chunks)
            ? _layout.GcLockPath
            : Path.Combine(_layout.ChunksDirectory, ".");
    }

    private DateTimeOffset AccessTimeOf(string path)
    {
        int err = Libc.LStat(path, out var st);
        return err == 0 ? ToTime(st.AccessTime) : throw FileErrors.Create(Description, null, path, "stat the clock probe", err);
    }

    public ValueTask<MarkOutcome> MarkAsync(ChunkDigest digest, CancellationToken cancellationToken) => ValueTask.FromResult(Mark(digest, touch: true));

    public ValueTask<MarkOutcome> MarkWithoutTouchingAsync(ChunkDigest digest, CancellationToken cancellationToken) => ValueTask.FromResult(Mark(digest, touch: false));

    private MarkOutcome Mark(ChunkDigest digest, bool touch)
    {
        // No chunk lock: the only sweeper is this collection, which marks before it sweeps; concurrent inserts
        // and touches only ever move atime forward. The level-2 section keeps it atomic with in-process steps.
        string path = _layout.ChunkPath(digest);
        int err;
        bool notAChunk = false;
        using (_sections.Enter(digest))
        {
            if (touch)
            {
                // One system call per reference: the touch (it never follows a link). A symbolic link, directory or
                // FIFO under the chunk's name is not the chunk (contains and read reject it): the touch only moves
                // that entry's own atime, and the sweep, which stats every entry anyway, finds it touched during this
                // collection and reports the digest missing instead of marked (SweepContext.ReportMarkedNotAChunk).
                err = TouchFunction(path);
            }
            else
            {
                err = Libc.LStat(path, out var st);
                notAChunk = err == 0 && !st.IsRegularFile;
            }
        }

        if (err == 0 && !notAChunk)
        {
            return MarkOutcome.Present;
        }

        if (err != 0 && err != Libc.ENOENT && err != Libc.ENOTDIR)
        {
            throw FileErrors.Create(Description, digest, path, touch ? "touch" : "stat", err);
        }

        // Missing: keep its .bad copies alive as long as something references the digest.
        bool anyBad = ChunkFiles.TouchBadCopies(_layout, digest, touch ? p => TouchFunction(p) == 0 : LocalEntries.Exists);

        return anyBad ? MarkOutcome.MissingWithBadCopy : MarkOutcome.Missing;
    }

    public async ValueTask SweepAsync(SweepContext context, CancellationToken cancellationToken)
    {
        var result = context.Result;
        long processed = 0;
        await foreach (var item in PlanSweepAsync(context, cancellationToken).ConfigureAwait(false))
        {
            processed++;
            if (processed % 4096 == 0)
            {
                context.Progress?.Report(new GarbageCollectionProgress(GarbageCollectionPhase.Sweep, processed, result.ChunksRemoved));
            }

            if (item.Class != SweepClass.Remove)
            {
                context.Record(item.Name.Kind, item.Class, item.Size);
                continue;
            }

            if (context.DryRun)
            {
                context.Record(item.Name.Kind, SweepClass.Remove, item.Size);
                continue;
            }

            await context.Hooks.GcRemovingAsync(item.Name).ConfigureAwait(false);

            ExecuteRemoval(context, item);
        }

        context.Progress?.Report(new GarbageCollectionProgress(GarbageCollectionPhase.Sweep, processed, result.ChunksRemoved));
    }

    /// <summary>The plan: every entry with its class, decided from one unlocked stat. Nothing is changed.</summary>
    internal async IAsyncEnumerable<SweepItem> PlanSweepAsync(SweepContext context, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var (name, path) in EnumerateEntriesAsync(cancellationToken, context.ReportUnknown).ConfigureAwait(false))
        {
            if (Libc.LStat(path, out var st) != 0)
            {
                continue; // Vanished since the listing (renamed or removed): nothing to decide.
            }

            // Not a regular file (a symbolic link, directory, FIFO under a chunk's name), or a .using marker, which
            // only the S3 backend's local cache writes: nothing this store created, so reported and left alone.
            if (!st.IsRegularFile || name.Kind == ChunkEntryKind.Using)
            {
                context.ReportUnknown(path);
                if (!st.IsRegularFile && name.Kind == ChunkEntryKind.Chunk && !context.DryRun && ToTime(st.AccessTime) >= context.Result.StartedAt)
                {
                    context.ReportMarkedNotAChunk(name.Digest);
                }

                continue;
            }

            // Temporary files are never touched; their age is their mtime.
            var stamp = name.Kind == ChunkEntryKind.Temporary ? st.ModifyTime : st.AccessTime;
            yield return new SweepItem(name, path, (long)st.Size, context.Classify(name, ToTime(stamp)));
        }
    }

    /// <summary>Removes one planned entry: try-lock (busy ⇒ skip), re-stat and re-decide under the lock, unlink.</summary>
    private void ExecuteRemoval(SweepContext context, SweepItem item)
    {
        var result = context.Result;
        var digest = item.Name.Digest;
        if (item.Name.Kind == ChunkEntryKind.Temporary)
        {
            // A temporary file older than the cutoff belongs to a write that died; no lock protects a name
            // nobody else knows.
            if (Unlink(context, item) == 0)
            {
                result.TemporaryFilesRemoved++;
            }

            return;
        }

        // Only try: an insert, touch or rename holding the chunk is in progress, so it is not garbage now.
        ChunkLock? chunkLock;
        try
        {
            chunkLock = _locks.TryAcquire(digest);
        }
        catch (ChunkStorageException ex)
        {
            // The stripe's lock file cannot be created (no free inode) or opened: without the lock, no removal.
            RemoveFailed(context, item.Path, ex);
            return;
        }

        using var held = chunkLock;
        if (chunkLock is null)
        {
            result.SkippedBusy++;
            return;
        }

        using (_sections.Enter(digest))
        {
            // Re-decide under the lock: an insert or touch may have refreshed the atime since the plan (R5),
            // or a rename may have moved the file away.
            if (Libc.LStat(item.Path, out var st) != 0 || !st.IsRegularFile)
            {
                return;
            }

            var cls = context.Classify(ToTime(st.AccessTime));
            if (cls != SweepClass.Remove)
            {
                context.Record(item.Name.Kind, cls, (long)st.Size);
                return;
            }

            if (Unlink(context, item) == 0)
            {
                context.Record(item.Name.Kind, SweepClass.Remove, (long)st.Size);
            }
        }
    }

    /// <summary>
    /// Unlinks a planned entry; returns 0 or the errno. A failure other than "already gone" (an immutable file,
    /// permission denied, an I/O error) is not the collection's end: the entry stays, is counted and logged, and
    /// the sweep goes on.
    /// </summary>
    private int Unlink(SweepContext context, SweepItem item)
    {
        if (Libc.Unlink(item.Path) == 0)
        {
            return 0;
        }

        int err = Libc.LastError;
        if (err != Libc.ENOENT)
        {
            RemoveFailed(context, item.Path, FileErrors.Create(Description, item.Name.Digest, item.Path, "remove", err));
        }

        return err;
    }

    private void RemoveFailed(SweepContext context, string path, ChunkStorageException error)
    {
        context.ReportRemoveFailed(path);
        Log.GcRemoveFailed(_logger, Description, path, error);
    }

    internal static DateTimeOffset ToTime(Libc.StatxTimestamp ts) =>
        DateTimeOffset.UnixEpoch.AddTicks((ts.Seconds * TimeSpan.TicksPerSecond) + (ts.Nanoseconds / 100));

    internal readonly record struct SweepItem(ChunkEntryName Name, string Path, long Size, SweepClass Class);
}
