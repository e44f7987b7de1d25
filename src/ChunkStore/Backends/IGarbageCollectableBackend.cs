using ChunkStore.Diagnostics;

namespace ChunkStore.Backends;

/// <summary>
/// The garbage-collection side of a backend: the <see cref="ChunkRepository"/> runs the protocol (single-GC lock,
/// cutoff, writer protection, mark deduplication) and calls these for the backend-specific steps.
/// </summary>
internal interface IGarbageCollectableBackend
{
    /// <summary>Checks that an explicit access-time update is visible on the storage that holds the GC clock.</summary>
    /// <param name="cancellationToken">Cancels the check.</param>
    /// <returns>A task that completes when the check passed.</returns>
    /// <exception cref="AccessTimeUnreliableException">The update was lost.</exception>
    ValueTask CheckAccessTimeAsync(CancellationToken cancellationToken);

    /// <summary>Marks one referenced chunk: MUST touch it; when absent, MUST touch its <c>.bad</c> copies so they live as long as the reference.</summary>
    /// <param name="digest">The referenced chunk.</param>
    /// <param name="cancellationToken">Cancels the mark.</param>
    /// <returns>What was found.</returns>
    ValueTask<MarkOutcome> MarkAsync(ChunkDigest digest, CancellationToken cancellationToken);

    /// <summary>Finds what <see cref="MarkAsync"/> would find for one referenced chunk, changing nothing: the mark of a dry run.</summary>
    /// <remarks>
    /// A dry run then plans as if the mark had touched what it found (<see cref="SweepContext.Classify(ChunkEntryName, DateTimeOffset)"/>).
    /// The default marks for real (touches): a backend that does not implement it keeps a dry run that refreshes the
    /// timestamps of the referenced chunks, whose plan is then right as well.
    /// </remarks>
    /// <param name="digest">The referenced chunk.</param>
    /// <param name="cancellationToken">Cancels the look-up.</param>
    /// <returns>What the mark would find.</returns>
    ValueTask<MarkOutcome> MarkWithoutTouchingAsync(ChunkDigest digest, CancellationToken cancellationToken) => MarkAsync(digest, cancellationToken);

    /// <summary>
    /// Sweeps: classifies every entry by its timestamp against <see cref="SweepContext.Cutoff"/> and, unless
    /// <see cref="SweepContext.DryRun"/>, removes the removable ones — each under its chunk's lock taken with
    /// try-lock (busy ⇒ skipped), re-checked under that lock right before removal. Names that do not parse are
    /// counted and left alone.
    /// </summary>
    /// <param name="context">Cutoffs, counters and progress.</param>
    /// <param name="cancellationToken">Stops the sweep between entries; the store stays consistent.</param>
    /// <returns>A task that completes when the sweep is done.</returns>
    ValueTask SweepAsync(SweepContext context, CancellationToken cancellationToken);
}

/// <summary>The result of marking one referenced chunk.</summary>
internal enum MarkOutcome
{
    /// <summary>The chunk is present and was touched.</summary>
    Present,

    /// <summary>The chunk is missing; at least one <c>.bad</c> copy exists and was touched.</summary>
    MissingWithBadCopy,

    /// <summary>The chunk is missing and has no <c>.bad</c> copy.</summary>
    Missing,
}

/// <summary>What a sweep needs: the cutoffs, where to count, and where to report progress.</summary>
internal sealed class SweepContext
{
    /// <summary>Creates a sweep context.</summary>
    /// <param name="cutoff">Entries last touched before this are removable.</param>
    /// <param name="inUseFrom">Entries touched at or after this are in use; between the two, pending.</param>
    /// <param name="dryRun">Plan only.</param>
    /// <param name="result">The counters to update.</param>
    /// <param name="progress">Optional progress sink.</param>
    public SweepContext(DateTimeOffset cutoff, DateTimeOffset inUseFrom, bool dryRun, GarbageCollectionResult result, IProgress<GarbageCollectionProgress>? progress)
    {
        Cutoff = cutoff;
        InUseFrom = inUseFrom;
        DryRun = dryRun;
        Result = result;
        Progress = progress;
    }

    /// <summary>Gets the cutoff: entries last touched strictly before it are removable.</summary>
    public DateTimeOffset Cutoff { get; }

    /// <summary>Gets the time from which entries count as in use rather than pending.</summary>
    public DateTimeOffset InUseFrom { get; }

    /// <summary>Gets whether to plan only.</summary>
    public bool DryRun { get; }

    /// <summary>Gets the counters.</summary>
    public GarbageCollectionResult Result { get; }

    /// <summary>Gets the progress sink, if any.</summary>
    public IProgress<GarbageCollectionProgress>? Progress { get; }

    /// <summary>Gets the referenced entries a dry run's mark found without touching them, which its plan counts as touched; null in a real run.</summary>
    internal DryRunMarks? DryRunMarks { get; init; }

    /// <summary>Gets the store's interleaving hooks (tests force interleavings with <see cref="IInterleavingHooks.GcRemovingAsync"/>).</summary>
    internal IInterleavingHooks Hooks { get; init; } = NoInterleavingHooks.Instance;

    /// <summary>Records an entry whose name is not of the layout.</summary>
    /// <param name="path">Its path or key.</param>
    public void ReportUnknown(string path)
    {
        Result.UnknownEntries++;
        if (Result.UnknownSample.Count < 10)
        {
            Result.UnknownSampleList.Add(path);
        }
    }

    /// <summary>
    /// Corrects the mark's count for a referenced digest whose entry turned out not to be a chunk (a symbolic link,
    /// directory or FIFO under its name, which the mark's touch cannot tell from a file): missing, not marked.
    /// </summary>
    /// <param name="digest">The referenced digest.</param>
    internal void ReportMarkedNotAChunk(ChunkDigest digest)
    {
        Result.ChunksMarked--;
        Result.MissingChunks++;
        if (Result.MissingSample.Count < 10)
        {
            Result.MissingSampleList.Add(digest);
        }
    }

    /// <summary>Records an entry the sweep decided to remove but could not (permission denied, immutable, an I/O or remote error): it stays in place and the next collection retries.</summary>
    /// <param name="pathOrKey">Its path or key.</param>
    public void ReportRemoveFailed(string pathOrKey)
    {
        Result.RemoveFailed++;
        if (Result.RemoveFailedSample.Count < 10)
        {
            Result.RemoveFailedSampleList.Add(pathOrKey);
        }
    }

    /// <summary>Counts one entry in the result: a chunk, a <c>.bad</c> copy, a <c>.using</c> marker or a temporary file, by its class.</summary>
    /// <param name="kind">What the entry is.</param>
    /// <param name="cls">Its class (for a removed entry: <see cref="SweepClass.Remove"/>).</param>
    /// <param name="size">Its size in bytes.</param>
    public void Record(ChunkEntryKind kind, SweepClass cls, long size)
    {
        var result = Result;
        switch (kind)
        {
            case ChunkEntryKind.Chunk when cls == SweepClass.Remove:
                result.ChunksRemoved++;
                result.BytesRemoved += size;
                break;
            case ChunkEntryKind.Chunk when cls == SweepClass.Pending:
                result.ChunksPending++;
                result.BytesPending += size;
                break;
            case ChunkEntryKind.Chunk:
                result.ChunksInUse++;
                result.BytesInUse += size;
                break;
            case ChunkEntryKind.Bad when cls == SweepClass.Remove:
                result.BadRemoved++;
                break;
            case ChunkEntryKind.Bad:
                result.BadKept++;
                break;
            case ChunkEntryKind.Using when cls == SweepClass.Remove:
                result.MarkersRemoved++;
                break;
            case ChunkEntryKind.Temporary when cls == SweepClass.Remove:
                result.TemporaryFilesRemoved++;
                break;
        }
    }

    /// <summary>Classifies an entry by its last touch, as the mark left it: in a dry run, which marks without touching, an entry the mark would have touched is in use whatever its timestamp.</summary>
    /// <param name="entry">The entry.</param>
    /// <param name="lastTouched">Its last touch (atime) as found on the storage.</param>
    /// <returns>Where it falls.</returns>
    public SweepClass Classify(ChunkEntryName entry, DateTimeOffset lastTouched) =>
        DryRunMarks is { } marks && marks.WouldHaveTouched(entry) ? SweepClass.InUse : Classify(lastTouched);

    /// <summary>Classifies a timestamp.</summary>
    /// <param name="lastTouched">The entry's last touch (atime).</param>
    /// <returns>Where it falls.</returns>
    public SweepClass Classify(DateTimeOffset lastTouched) => GcClassifier.Classify(lastTouched, Cutoff, InUseFrom);
}

/// <summary>Where an entry falls relative to the cutoffs.</summary>
internal enum SweepClass
{
    /// <summary>Touched at or after the oldest writer's start: in use.</summary>
    InUse,

    /// <summary>Unreferenced, but inside the grace period: kept for now.</summary>
    Pending,

    /// <summary>Last touched before the cutoff: removable.</summary>
    Remove,
}

/// <summary>The classification rule, shared by every backend and phase.</summary>
internal static class GcClassifier
{
    /// <summary>Classifies a last-touch time: before <paramref name="cutoff"/> ⇒ remove; before <paramref name="inUseFrom"/> ⇒ pending; else in use.</summary>
    /// <param name="lastTouched">The entry's last touch.</param>
    /// <param name="cutoff">The removal cutoff.</param>
    /// <param name="inUseFrom">min(T0, oldest writer start).</param>
    /// <returns>The class.</returns>
    public static SweepClass Classify(DateTimeOffset lastTouched, DateTimeOffset cutoff, DateTimeOffset inUseFrom) =>
        lastTouched < cutoff ? SweepClass.Remove : lastTouched < inUseFrom ? SweepClass.Pending : SweepClass.InUse;

    /// <summary>Computes the cutoff: <c>min(t0 − grace, oldestWriter − margin)</c>.</summary>
    /// <param name="t0">The collection's start, taken before marking.</param>
    /// <param name="oldestWriter">The oldest live writer's start, or <paramref name="t0"/> when none.</param>
    /// <param name="grace">The grace period.</param>
    /// <param name="writerMargin">The writer safety margin.</param>
    /// <returns>The cutoff.</returns>
    public static DateTimeOffset Cutoff(DateTimeOffset t0, DateTimeOffset oldestWriter, TimeSpan grace, TimeSpan writerMargin)
    {
        var byGrace = t0 - grace;
        var byWriter = oldestWriter - writerMargin;
        return byGrace < byWriter ? byGrace : byWriter;
    }
}
