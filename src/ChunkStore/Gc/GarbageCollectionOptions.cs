namespace ChunkStore;

/// <summary>Settings of one garbage collection. Setters validate their value.</summary>
public sealed class GarbageCollectionOptions
{
    /// <summary>The default grace period: 24 hours 5 minutes.</summary>
    public static readonly TimeSpan DefaultGracePeriod = TimeSpan.FromMinutes((24 * 60) + 5);

    /// <summary>The default safety margin before the oldest live writer's start: 5 minutes.</summary>
    public static readonly TimeSpan DefaultWriterSafetyMargin = TimeSpan.FromMinutes(5);

    private TimeSpan _gracePeriod = DefaultGracePeriod;
    private TimeSpan _writerSafetyMargin = DefaultWriterSafetyMargin;
    private int _markCacheCapacity = 1 << 20;

    /// <summary>
    /// Gets or sets how long an unreferenced chunk is kept after its last touch. Default 24 h 5 min; at least
    /// 1 second. The cutoff is <c>min(now − GracePeriod, oldestWriterStart − WriterSafetyMargin)</c>.
    /// </summary>
    /// <remarks>
    /// With no live writer, <c>oldestWriterStart</c> is the collection's start, so the effective grace period is
    /// never shorter than <see cref="WriterSafetyMargin"/>: to collect chunks touched less than 5 minutes ago
    /// (tests, demos), lower both.
    /// </remarks>
    /// <exception cref="ArgumentOutOfRangeException">The value is below 1 second.</exception>
    public TimeSpan GracePeriod
    {
        get => _gracePeriod;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.FromSeconds(1));
            _gracePeriod = value;
        }
    }

    /// <summary>Gets or sets the margin before the oldest live writer's start below which chunks may go. Default 5 minutes; not negative.</summary>
    /// <remarks>Guards against clock differences between the writer's start time and the kernel's atime clock. The kernel
    /// stamps file times from a coarse clock that can be a tick (a few milliseconds) behind the precise time a session's
    /// start is taken from: with a margin of zero, a chunk a session wrote or touched right after it began can look older
    /// than the session and be collected while it is live. Keep it well above that (the default is 5 minutes).</remarks>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public TimeSpan WriterSafetyMargin
    {
        get => _writerSafetyMargin;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.Zero);
            _writerSafetyMargin = value;
        }
    }

    /// <summary>Gets or sets whether to only plan: count what would be removed and change nothing. Default <see langword="false"/>.</summary>
    /// <remarks>
    /// A dry run marks without touching and plans from the current timestamps as if the mark had touched, so it
    /// reports what a real run would do without extending the life of what it references. It removes nothing and
    /// leaves dead writer entries in place; like every collection it takes <c>.gc.lock</c>, runs the access-time
    /// check (<c>docs/operating.md</c> says what that writes) and saves its result to <c>.gc-status</c>.
    /// </remarks>
    public bool DryRun { get; set; }

    /// <summary>
    /// Gets or sets how many distinct digests the mark phase remembers to skip repeated references (about 50
    /// bytes each). Default 1,048,576; 0 touches every reference.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public int MarkCacheCapacity
    {
        get => _markCacheCapacity;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _markCacheCapacity = value;
        }
    }

    /// <summary>How many missing referenced digests the result lists as a sample. Default 10.</summary>
    public int MissingSampleSize { get; set; } = 10;
}
