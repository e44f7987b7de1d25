namespace ChunkStore.Server.Configuration;

/// <summary>Which backend holds the chunks.</summary>
public enum StoreBackend
{
    /// <summary>A local directory (<c>ChunkStore:Root</c>).</summary>
    FileSystem,

    /// <summary>An S3-compatible bucket (section <c>S3</c>) with a local cache root (<c>ChunkStore:Root</c>).</summary>
    S3,
}

/// <summary>
/// The server's settings, bound from the <c>ChunkServer</c> configuration section. The store's own settings bind from
/// <c>ChunkStore</c> (<see cref="ChunkStoreOptions"/>) and, for S3, from <c>S3</c> (<c>S3BackendOptions</c>).
/// </summary>
public sealed class ServerOptions
{
    /// <summary>The configuration section name.</summary>
    public const string Section = "ChunkServer";

    /// <summary>Gets or sets the backend. Default <see cref="StoreBackend.FileSystem"/>.</summary>
    public StoreBackend Backend { get; set; } = StoreBackend.FileSystem;

    /// <summary>Gets the API keys that may write and administer (they may read too). At least one is required.</summary>
    public List<string> WriteKeys { get; } = [];

    /// <summary>Gets the API keys that may only read.</summary>
    public List<string> ReadKeys { get; } = [];

    /// <summary>Gets the write-session lease settings.</summary>
    public LeaseOptions Leases { get; } = new();

    /// <summary>Gets the garbage-collection settings of <c>POST /admin/gc</c>.</summary>
    public GcOptions Gc { get; } = new();

    /// <summary>Gets the request size limits.</summary>
    public LimitOptions Limits { get; } = new();

    /// <summary>Gets the status page settings.</summary>
    public StatusOptions Status { get; } = new();

    /// <summary>Checks the settings; throws with a message that names the setting.</summary>
    public void Validate()
    {
        if (WriteKeys.Count == 0 || WriteKeys.Any(string.IsNullOrWhiteSpace))
        {
            throw new InvalidOperationException(
                "ChunkServer:WriteKeys needs at least one non-empty API key (e.g. --write-key <key>, or ChunkServer__WriteKeys__0 in the environment).");
        }

        if (ReadKeys.Any(string.IsNullOrWhiteSpace))
        {
            throw new InvalidOperationException("ChunkServer:ReadKeys holds an empty key.");
        }

        Leases.Validate();
        if (Limits.MaxRequestBodyBytes < 1 || Limits.MaxDigestListBytes < 1)
        {
            throw new InvalidOperationException("ChunkServer:Limits values must be positive.");
        }
    }
}

/// <summary>How long write-session leases live (see the sample's README, "Write sessions as leases").</summary>
public sealed class LeaseOptions
{
    /// <summary>Gets or sets how long a lease lives without a renewal or a request through it. Default 2 minutes.</summary>
    public TimeSpan Ttl { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Gets or sets the longest a lease may live however often it is renewed. Default 12 hours. A live lease holds the
    /// garbage collector's cutoff at its start, so without this bound one client renewing for ever would keep every
    /// chunk touched since then.
    /// </summary>
    public TimeSpan MaxLifetime { get; set; } = TimeSpan.FromHours(12);

    /// <summary>Gets or sets how often expired leases are ended. Default 1 second.</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Gets or sets how many leases may be open at once (each holds a writer-registry entry and its descriptor). Default 1024.</summary>
    public int MaxActive { get; set; } = 1024;

    internal void Validate()
    {
        if (Ttl <= TimeSpan.Zero || MaxLifetime < Ttl || SweepInterval <= TimeSpan.Zero || MaxActive < 1)
        {
            throw new InvalidOperationException("ChunkServer:Leases needs Ttl > 0, MaxLifetime >= Ttl, SweepInterval > 0 and MaxActive >= 1.");
        }
    }
}

/// <summary>Settings of the collections the server runs.</summary>
public sealed class GcOptions
{
    /// <summary>Gets or sets the grace period (library default 24 h 5 min).</summary>
    public TimeSpan GracePeriod { get; set; } = GarbageCollectionOptions.DefaultGracePeriod;

    /// <summary>Gets or sets the margin before the oldest live writer (library default 5 min).</summary>
    public TimeSpan WriterSafetyMargin { get; set; } = GarbageCollectionOptions.DefaultWriterSafetyMargin;

    /// <summary>Gets or sets how old the last collection may be before the health check reports it as degraded. Default 8 days.</summary>
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromDays(8);
}

/// <summary>Request size limits (the chunk limit is the store's <c>ChunkStore:MaxChunkSize</c>).</summary>
public sealed class LimitOptions
{
    /// <summary>Gets or sets the body limit of every request without a limit of its own. Default 64 KiB.</summary>
    public long MaxRequestBodyBytes { get; set; } = 64 * 1024;

    /// <summary>Gets or sets the body limit of digest lists (GC references, verify and touch lists). Default 8 GiB (≈ 130 million digests).</summary>
    public long MaxDigestListBytes { get; set; } = 8L << 30;
}

/// <summary>Status page settings.</summary>
public sealed class StatusOptions
{
    /// <summary>Gets or sets whether <c>/status</c>, <c>/status.json</c>, <c>/healthz</c> and <c>/metrics</c> answer without an API key. Default <see langword="true"/>.</summary>
    public bool Public { get; set; } = true;

    /// <summary>Gets or sets how often the store is listed for the chunk count and size. Default 5 minutes.</summary>
    public TimeSpan StatisticsInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Gets or sets how many recent warnings and errors the page keeps. Default 50.</summary>
    public int RecentErrors { get; set; } = 50;
}
