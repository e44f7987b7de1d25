using System.Text.Json.Serialization;

namespace ChunkStore;

/// <summary>What a garbage collection found and did (or, in a dry run, would do). Saved as JSON in <c>.gc-status</c> (read-only; round-trips through System.Text.Json).</summary>
public sealed class GarbageCollectionResult
{
    /// <summary>Gets the store the collection ran on.</summary>
    [JsonInclude]
    public string Store { get; internal set; } = "";

    /// <summary>Gets whether this was a dry run (nothing removed or touched; see <see cref="GarbageCollectionOptions.DryRun"/>).</summary>
    [JsonInclude]
    public bool DryRun { get; internal set; }

    /// <summary>Gets when the collection started (T0, taken before marking).</summary>
    [JsonInclude]
    public DateTimeOffset StartedAt { get; internal set; }

    /// <summary>Gets the start of the oldest live writer session (T0 when none was live).</summary>
    [JsonInclude]
    public DateTimeOffset OldestWriter { get; internal set; }

    /// <summary>Gets the cutoff: chunks last touched before it were removable.</summary>
    [JsonInclude]
    public DateTimeOffset Cutoff { get; internal set; }

    /// <summary>Gets the number of references read from the caller's referenced set (repeats included).</summary>
    [JsonInclude]
    public long ReferencesRead { get; internal set; }

    /// <summary>Gets the number of references skipped because the same digest was marked just before.</summary>
    [JsonInclude]
    public long ReferencesDeduplicated { get; internal set; }

    /// <summary>Gets the number of chunks touched by the mark phase.</summary>
    [JsonInclude]
    public long ChunksMarked { get; internal set; }

    /// <summary>Gets the number of referenced chunks that are missing (with or without a <c>.bad</c> copy).</summary>
    [JsonInclude]
    public long MissingChunks { get; internal set; }

    /// <summary>Gets a sample of missing referenced chunks.</summary>
    [JsonInclude]
    public IReadOnlyList<ChunkDigest> MissingSample
    {
        get => MissingSampleList.AsReadOnly();
        internal set => MissingSampleList = [.. value];
    }

    /// <summary>Gets the list behind <see cref="MissingSample"/>, which the store fills.</summary>
    [JsonIgnore]
    internal List<ChunkDigest> MissingSampleList { get; private set; } = [];

    /// <summary>Gets the number of chunks kept because they are in use (touched at or after the oldest writer's start).</summary>
    [JsonInclude]
    public long ChunksInUse { get; internal set; }

    /// <summary>Gets the bytes of the chunks in use.</summary>
    [JsonInclude]
    public long BytesInUse { get; internal set; }

    /// <summary>Gets the number of unreferenced chunks kept because they are inside the grace period.</summary>
    [JsonInclude]
    public long ChunksPending { get; internal set; }

    /// <summary>Gets the bytes of the pending chunks.</summary>
    [JsonInclude]
    public long BytesPending { get; internal set; }

    /// <summary>Gets the number of chunks removed (or, in a dry run, that would be).</summary>
    [JsonInclude]
    public long ChunksRemoved { get; internal set; }

    /// <summary>Gets the bytes of the removed chunks.</summary>
    [JsonInclude]
    public long BytesRemoved { get; internal set; }

    /// <summary>Gets the number of <c>.bad</c> files removed.</summary>
    [JsonInclude]
    public long BadRemoved { get; internal set; }

    /// <summary>Gets the number of <c>.bad</c> files kept (still referenced or inside the grace period).</summary>
    [JsonInclude]
    public long BadKept { get; internal set; }

    /// <summary>Gets the number of removable entries skipped because their chunk was locked (kept for the next run).</summary>
    [JsonInclude]
    public long SkippedBusy { get; internal set; }

    /// <summary>Gets the number of entries the sweep decided to remove but could not: left in place, counted, logged; the next collection retries.</summary>
    [JsonInclude]
    public long RemoveFailed { get; internal set; }

    /// <summary>Gets the number of stale temporary files removed.</summary>
    [JsonInclude]
    public long TemporaryFilesRemoved { get; internal set; }

    /// <summary>Gets the number of stale marker files (<c>.using</c>, cache markers without object) removed.</summary>
    [JsonInclude]
    public long MarkersRemoved { get; internal set; }

    /// <summary>Gets the number of dead writer registry entries removed (in a dry run: found, and left).</summary>
    [JsonInclude]
    public long DeadWritersRemoved { get; internal set; }

    /// <summary>Gets the number of entries whose names are not of the chunk layout (left alone).</summary>
    [JsonInclude]
    public long UnknownEntries { get; internal set; }

    /// <summary>Gets a sample of the paths of unknown entries.</summary>
    [JsonInclude]
    public IReadOnlyList<string> UnknownSample
    {
        get => UnknownSampleList.AsReadOnly();
        internal set => UnknownSampleList = [.. value];
    }

    /// <summary>Gets the list behind <see cref="UnknownSample"/>, which the store fills.</summary>
    [JsonIgnore]
    internal List<string> UnknownSampleList { get; private set; } = [];

    /// <summary>Gets a sample of the entries (paths or keys) the sweep could not remove (up to 10; see <see cref="RemoveFailed"/>).</summary>
    [JsonInclude]
    public IReadOnlyList<string> RemoveFailedSample
    {
        get => RemoveFailedSampleList.AsReadOnly();
        internal set => RemoveFailedSampleList = [.. value];
    }

    /// <summary>Gets the list behind <see cref="RemoveFailedSample"/>, which the store fills.</summary>
    [JsonIgnore]
    internal List<string> RemoveFailedSampleList { get; private set; } = [];

    /// <summary>Gets the number of remote requests made (S3; 0 on the filesystem).</summary>
    [JsonInclude]
    public long RemoteRequests { get; internal set; }

    /// <summary>Gets the time spent in the access-time check and writer scan.</summary>
    [JsonInclude]
    public TimeSpan PrepareDuration { get; internal set; }

    /// <summary>Gets the time spent marking.</summary>
    [JsonInclude]
    public TimeSpan MarkDuration { get; internal set; }

    /// <summary>Gets the time spent sweeping.</summary>
    [JsonInclude]
    public TimeSpan SweepDuration { get; internal set; }

    /// <summary>Gets the whole run's duration.</summary>
    [JsonInclude]
    public TimeSpan Duration { get; internal set; }

    /// <summary>Gets whether the run finished (false when it was cancelled or failed; the store is consistent either way).</summary>
    [JsonInclude]
    public bool Completed { get; internal set; }
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
