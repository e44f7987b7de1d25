using System.Diagnostics;
using System.Text.Json;
using ChunkStore.Backends;
using ChunkStore.Diagnostics;
using ChunkStore.FileSystem;
using ChunkStore.Native;

namespace ChunkStore;

public sealed partial class ChunkRepository
{
    private static readonly JsonSerializerOptions s_statusJson = new() { WriteIndented = true };

    /// <summary>Gets or sets the store's interleaving hooks (tests): a shortcut to <see cref="ChunkStoreOptions.InterleavingHooks"/> of its own options.</summary>
    internal IInterleavingHooks Hooks
    {
        get => Options.InterleavingHooks;
        set => Options.InterleavingHooks = value ?? NoInterleavingHooks.Instance;
    }

    /// <summary>Implements <see cref="ChunkRepositoryMaintenance.GarbageCollectAsync(IAsyncEnumerable{ChunkDigest}, GarbageCollectionOptions?, IProgress{GarbageCollectionProgress}?, CancellationToken)"/>.</summary>
    internal async Task<GarbageCollectionResult> CollectGarbageCoreAsync(
        IAsyncEnumerable<ChunkDigest> referenced,
        GarbageCollectionOptions? options = null,
        IProgress<GarbageCollectionProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(referenced);
        options ??= new GarbageCollectionOptions();
        if (_backend is not IGarbageCollectableBackend gcBackend || !_backend.Capabilities.SupportsGarbageCollection)
        {
            throw new NotSupportedException($"The backend of store {_backend.Description} does not support garbage collection.");
        }

        using var gcLock = AcquireGcLock();
        using var activity = ChunkStoreInstrumentation.ActivitySource.StartActivity("chunkstore.gc");
        activity?.SetTag("chunkstore.store", _backend.Description);
        activity?.SetTag("chunkstore.gc.dry_run", options.DryRun);
        var time = Options.TimeProvider;
        var total = Stopwatch.StartNew();
        var result = new GarbageCollectionResult { Store = _backend.Description, DryRun = options.DryRun };
        try
        {
            // T0 before marking: every touch from here on is at or after T0.
            var t0 = time.GetUtcNow();
            result.StartedAt = t0;
            progress?.Report(new GarbageCollectionProgress(GarbageCollectionPhase.Prepare, 0, 0));
            var phase = Stopwatch.StartNew();
            var phaseActivity = ChunkStoreInstrumentation.ActivitySource.StartActivity("chunkstore.gc.prepare");
            await gcBackend.CheckAccessTimeAsync(cancellationToken).ConfigureAwait(false);

            // A dry run counts the entries of dead writers but leaves them (it writes nothing the store relies on).
            var (live, removedWriters) = await _writers.ScanAsync(removeDead: !options.DryRun, Hooks).ConfigureAwait(false);
            result.DeadWritersRemoved = removedWriters;
            var oldest = t0;
            foreach (var writer in FaultSwitches.IgnoreWriters ? [] : live)
            {
                if (writer.Start < oldest)
                {
                    oldest = writer.Start;
                }

                if (t0 - writer.Start > options.GracePeriod)
                {
                    // It holds the cutoff back: nothing touched since its start can go until it ends. A session that
                    // is never disposed (or a process that hangs) would do so for ever, and silently.
                    Log.OldWriteSession(_logger, _backend.Description, writer.Entry, writer.Start, t0 - writer.Start, options.GracePeriod);
                }
            }

            result.OldestWriter = oldest;
            result.Cutoff = GcClassifier.Cutoff(t0, oldest, options.GracePeriod, options.WriterSafetyMargin);
            result.PrepareDuration = phase.Elapsed;
            phaseActivity?.Dispose();
            Instrumentation.RecordGcPhase("prepare", result.PrepareDuration);
            Log.GcStarted(_logger, _backend.Description, result.Cutoff, oldest, options.DryRun);
            await Hooks.GcPreparedAsync(result).ConfigureAwait(false);

            phase.Restart();
            var dryRunMarks = options.DryRun ? new DryRunMarks() : null;
            using (ChunkStoreInstrumentation.ActivitySource.StartActivity("chunkstore.gc.mark"))
            {
                await MarkAsync(gcBackend, referenced, options, result, dryRunMarks, progress, cancellationToken).ConfigureAwait(false);
            }

            dryRunMarks?.Seal();

            result.MarkDuration = phase.Elapsed;
            Instrumentation.RecordGcPhase("mark", result.MarkDuration);
            await Hooks.GcMarkedAsync(result).ConfigureAwait(false);

            phase.Restart();
            var context = new SweepContext(result.Cutoff, oldest, options.DryRun, result, progress)
            {
                Hooks = Hooks,
                DryRunMarks = dryRunMarks,
            };
            using (ChunkStoreInstrumentation.ActivitySource.StartActivity("chunkstore.gc.sweep"))
            {
                await gcBackend.SweepAsync(context, cancellationToken).ConfigureAwait(false);
            }

            result.SweepDuration = phase.Elapsed;
            Instrumentation.RecordGcPhase("sweep", result.SweepDuration);
            result.Completed = true;
            Instrumentation.RecordGcResult(result);
            activity?.SetTag("chunkstore.gc.removed", result.ChunksRemoved);
        }
        finally
        {
            result.Duration = total.Elapsed;
            SaveStatus(result);
        }

        // What an operator must look at, one warning per sampled entry (the counts are in the result and GcFinished).
        foreach (var digest in result.MissingSample)
        {
            Log.GcMissingChunk(_logger, _backend.Description, digest);
        }

        foreach (string path in result.UnknownSample)
        {
            Log.GcUnknownEntry(_logger, _backend.Description, path);
        }

        Log.GcFinished(_logger, _backend.Description, result.ChunksRemoved, result.BytesRemoved, result.ChunksPending, result.ChunksInUse, result.MissingChunks, result.RemoveFailed, result.Duration);
        return result;
    }

    /// <summary>Implements <see cref="ChunkRepositoryMaintenance.ReadLastGarbageCollection"/>.</summary>
    internal GarbageCollectionResult? ReadLastGarbageCollectionCore()
    {
        try
        {
            return JsonSerializer.Deserialize<GarbageCollectionResult>(File.ReadAllBytes(_layout.GcStatusPath), s_statusJson);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static async ValueTask MarkAsync(
        IGarbageCollectableBackend backend, IAsyncEnumerable<ChunkDigest> referenced, GarbageCollectionOptions options,
        GarbageCollectionResult result, DryRunMarks? dryRunMarks, IProgress<GarbageCollectionProgress>? progress, CancellationToken cancellationToken)
    {
        var recent = new RecentDigestSet(options.MarkCacheCapacity);
        await foreach (var digest in referenced.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            result.ReferencesRead++;
            if ((result.ReferencesRead & 4095) == 0)
            {
                progress?.Report(new GarbageCollectionProgress(GarbageCollectionPhase.Mark, result.ReferencesRead, 0));
            }

            if (!recent.Add(digest))
            {
                result.ReferencesDeduplicated++;
                continue;
            }

            // A dry run looks without touching and remembers what the touch would have protected.
            var outcome = dryRunMarks is null
                ? await backend.MarkAsync(digest, cancellationToken).ConfigureAwait(false)
                : await backend.MarkWithoutTouchingAsync(digest, cancellationToken).ConfigureAwait(false);
            dryRunMarks?.Add(digest, outcome);
            switch (outcome)
            {
                case MarkOutcome.Present:
                    result.ChunksMarked++;
                    break;
                default:
                    result.MissingChunks++;
                    if (result.MissingSample.Count < options.MissingSampleSize)
                    {
                        result.MissingSampleList.Add(digest);
                    }

                    break;
            }
        }

        progress?.Report(new GarbageCollectionProgress(GarbageCollectionPhase.Mark, result.ReferencesRead, 0));
    }

    private LockFile AcquireGcLock()
    {
        string path = _layout.GcLockPath;
        int err = LockFile.TryOpen(path, Libc.O_RDWR | Libc.O_CREAT, 0b110_110_110, out var file);
        if (file is null)
        {
            throw FileErrors.Create(_backend.Description, null, path, "open", err);
        }

        err = file.TryLock(exclusive: true);
        if (err != 0)
        {
            file.Dispose();
            if (err == Libc.EWOULDBLOCK)
            {
                throw new GarbageCollectionInProgressException(_backend.Description);
            }

            throw FileErrors.Create(_backend.Description, null, path, "lock", err);
        }

        return file;
    }

    private void SaveStatus(GarbageCollectionResult result)
    {
        string path = _layout.GcStatusPath;
        // A fixed temporary name is safe: the caller holds the exclusive .gc.lock. A collection killed between
        // the write and the rename leaves it behind, and the next one simply overwrites it.
        string temp = path + ".tmp";
        try
        {
            File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(result, s_statusJson));
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Log.GcStatusNotSaved(_logger, _backend.Description, path, ex);
            try
            {
                File.Delete(temp);
            }
            catch (Exception cleanup) when (cleanup is IOException or UnauthorizedAccessException)
            {
                // Disk full or read-only: the next collection overwrites it.
            }
        }
    }
}
