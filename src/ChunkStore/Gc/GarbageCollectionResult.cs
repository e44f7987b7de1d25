namespace ChunkStore;

/// <summary>What a garbage collection found and did (or, in a dry run, would do). Saved as JSON in <c>.gc-status</c>.</summary>
public sealed class GarbageCollectionResult
{
    /// <summary>Gets or sets the store the collection ran on.</summary>
    public string Store { get; set; } = "";

    /// <summary>Gets or sets whether this was a dry run (nothing removed or touched; see <see cref="GarbageCollectionOptions.DryRun"/>).</summary>
    public bool DryRun { get; set; }

    /// <summary>Gets or sets when the collection started (T0, taken before marking).</summary>
    public DateTimeOffset StartedAt { get; set; }

    /// <summary>Gets or sets the start of the oldest live writer session (T0 when none was live).</summary>
    public DateTimeOffset OldestWriter { get; set; }

    /// <summary>Gets or sets the cutoff: chunks last touched before it were removable.</summary>
    public DateTimeOffset Cutoff { get; set; }

    /// <summary>Gets or sets the number of references read from the caller's referenced set (repeats included).</summary>
    public long ReferencesRead { get; set; }

    /// <summary>Gets or sets the number of references skipped because the same digest was marked just before.</summary>
    public long ReferencesDeduplicated { get; set; }

    /// <summary>Gets or sets the number of chunks touched by the mark phase.</summary>
    public long ChunksMarked { get; set; }

    /// <summary>Gets or sets the number of referenced chunks that are missing (with or without a <c>.bad</c> copy).</summary>
    public long MissingChunks { get; set; }

    /// <summary>Gets a sample of missing referenced chunks.</summary>
    public List<ChunkDigest> MissingSample { get; init; } = [];

    /// <summary>Gets or sets the number of chunks kept because they are in use (touched at or after the oldest writer's start).</summary>
    public long ChunksInUse { get; set; }

    /// <summary>Gets or sets the bytes of the chunks in use.</summary>
    public long BytesInUse { get; set; }

    /// <summary>Gets or sets the number of unreferenced chunks kept because they are inside the grace period.</summary>
    public long ChunksPending { get; set; }

    /// <summary>Gets or sets the bytes of the pending chunks.</summary>
    public long BytesPending { get; set; }

    /// <summary>Gets or sets the number of chunks removed (or, in a dry run, that would be).</summary>
    public long ChunksRemoved { get; set; }

    /// <summary>Gets or sets the bytes of the removed chunks.</summary>
    public long BytesRemoved { get; set; }

    /// <summary>Gets or sets the number of <c>.bad</c> files removed.</summary>
    public long BadRemoved { get; set; }

    /// <summary>Gets or sets the number of <c>.bad</c> files kept (still referenced or inside the grace period).</summary>
    public long BadKept { get; set; }

    /// <summary>Gets or sets the number of removable entries skipped because their chunk was locked (kept for the next run).</summary>
    public long SkippedBusy { get; set; }

    /// <summary>Gets or sets the number of entries the sweep decided to remove but could not: left in place, counted, logged; the next collection retries.</summary>
    public long RemoveFailed { get; set; }

    /// <summary>Gets or sets the number of stale temporary files removed.</summary>
    public long TemporaryFilesRemoved { get; set; }

    /// <summary>Gets or sets the number of stale marker files (<c>.using</c>, cache markers without object) removed.</summary>
    public long MarkersRemoved { get; set; }

    /// <summary>Gets or sets the number of dead writer registry entries removed (in a dry run: found, and left).</summary>
    public long DeadWritersRemoved { get; set; }

    /// <summary>Gets or sets the number of entries whose names are not of the chunk layout (left alone).</summary>
    public long UnknownEntries { get; set; }

    /// <summary>Gets a sample of the paths of unknown entries.</summary>
    public List<string> UnknownSample { get; init; } = [];

    /// <summary>Gets a sample of the entries (paths or keys) the sweep could not remove (up to 10; see <see cref="RemoveFailed"/>).</summary>
    public List<string> RemoveFailedSample { get; init; } = [];

    /// <summary>Gets or sets the number of remote requests made (S3; 0 on the filesystem).</summary>
    public long RemoteRequests { get; set; }

    /// <summary>Gets or sets the time spent in the access-time check and writer scan.</summary>
    public TimeSpan PrepareDuration { get; set; }

    /// <summary>Gets or sets the time spent marking.</summary>
    public TimeSpan MarkDuration { get; set; }

    /// <summary>Gets or sets the time spent sweeping.</summary>
    public TimeSpan SweepDuration { get; set; }

    /// <summary>Gets or sets the whole run's duration.</summary>
    public TimeSpan Duration { get; set; }

    /// <summary>Gets or sets whether the run finished (false when it was cancelled or failed; the store is consistent either way).</summary>
    public bool Completed { get; set; }
}

/// <summary>The phases of a garbage collection, for progress reports.</summary>
public enum GarbageCollectionPhase
{
    /// <summary>Access-time check and writer scan.</summary>
    Prepare,

    /// <summary>Touching the referenced chunks.</summary>
    Mark,

    /// <summary>Walking the chunks and removing the unreferenced old ones.</summary>
    Sweep,
}

/// <summary>A progress report of a garbage collection.</summary>
/// <param name="Phase">The current phase.</param>
/// <param name="Processed">References read (mark) or entries examined (sweep) so far.</param>
/// <param name="Removed">Chunks removed so far.</param>
public readonly record struct GarbageCollectionProgress(GarbageCollectionPhase Phase, long Processed, long Removed);
