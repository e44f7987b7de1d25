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

    /// <summary>
    /// Removes the chunks nobody references any more: marks (touches) every referenced chunk, then sweeps every
    /// chunk last touched before the cutoff <c>min(T0 − grace, oldestWriterStart − margin)</c>.
    /// </summary>
    /// <remarks>
    /// <para>Only one collection runs at a time per store (an exclusive <c>.gc.lock</c>); inserts, reads, touches and
    /// verifications go on meanwhile in every process. Before marking, the collection checks that explicit atime
    /// updates are kept by the filesystem and refuses to run otherwise. A chunk that a live writer session inserted
    /// or touched is never removed, even though its index is not yet among <paramref name="referenced"/>.</para>
    /// <para>Enumerate <paramref name="referenced"/> lazily (read the indexes inside the enumerator): the collection
    /// starts reading it only after it took T0 and scanned the live writers, so an index that a writer published
    /// and then ended its session before the scan is still read. A list captured before the call can miss it,
    /// and then only the grace period protects that writer's chunks.</para>
    /// <para>The result is saved to <c>.gc-status</c>. A dry run plans only: it marks without touching, plans from the
    /// current timestamps as if the mark had touched, and reports the same counters as a real run would; it removes
    /// nothing, touches no chunk or <c>.bad</c> copy and leaves dead writer entries in place. It writes only what every
    /// collection writes outside the chunk data: the access-time check and the saved result in <c>.gc-status</c>
    /// (see <c>docs/operating.md</c>). Cancellation stops between chunks and leaves the store consistent.</para>
    /// </remarks>
    /// <param name="referenced">Every digest any index references; repeats are fine.</param>
    /// <param name="options">Grace period, dry run and mark-cache settings; defaults when null.</param>
    /// <param name="progress">Optional progress sink.</param>
    /// <param name="cancellationToken">Stops the collection.</param>
    /// <returns>What was found and done.</returns>
    /// <exception cref="GarbageCollectionInProgressException">Another collection is running on this store.</exception>
    /// <exception cref="AccessTimeUnreliableException">The filesystem loses explicit atime updates.</exception>
    /// <exception cref="NotSupportedException">The backend cannot collect garbage.</exception>
#pragma warning disable RS0026 // Two overloads with optional parameters: the type of the first one (async or not) tells them apart.
    public async Task<GarbageCollectionResult> GarbageCollectAsync(
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

    /// <summary>Runs a garbage collection over a synchronous sequence of referenced digests.</summary>
    /// <param name="referenced">Every digest any index references; repeats are fine.</param>
    /// <param name="options">Settings; defaults when null.</param>
    /// <param name="progress">Optional progress sink.</param>
    /// <param name="cancellationToken">Stops the collection.</param>
    /// <returns>What was found and done.</returns>
    public Task<GarbageCollectionResult> GarbageCollectAsync(
        IEnumerable<ChunkDigest> referenced,
        GarbageCollectionOptions? options = null,
        IProgress<GarbageCollectionProgress>? progress = null,
        CancellationToken cancellationToken = default)
#pragma warning restore RS0026
    {
        ArgumentNullException.ThrowIfNull(referenced);
        return GarbageCollectAsync(ToAsync(referenced, cancellationToken), options, progress, cancellationToken);
    }

    /// <summary>Reads the result of the last garbage collection saved in <c>.gc-status</c>, if any.</summary>
    /// <returns>The last result, or <see langword="null"/> when no collection has run.</returns>
    public GarbageCollectionResult? ReadLastGarbageCollection()
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
