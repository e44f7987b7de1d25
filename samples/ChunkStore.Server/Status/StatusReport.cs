using ChunkStore.Server.Configuration;
using ChunkStore.Server.Leases;
using ChunkStore.Server.Operations;
using Microsoft.Extensions.Options;

namespace ChunkStore.Server.Status;

/// <summary>Everything the status page shows, as <c>GET /status.json</c> returns it (the page renders exactly these numbers).</summary>
internal sealed record StatusReport(
    DateTimeOffset GeneratedAt,
    StoreSection Store,
    StoreSize? Size,
    TrafficSection Traffic,
    LeaseSection Leases,
    GarbageCollectionResult? LastGc,
    AdminFailure? LastGcFailure,
    VerifyRecord? LastVerify,
    AdminFailure? LastVerifyFailure,
    long ErrorsLogged,
    IReadOnlyList<RecentError> RecentErrors)
{
    public static StatusReport Build(
        ChunkRepository store, IOptions<ServerOptions> options, StoreStatistics statistics, Traffic traffic, LeaseManager leases,
        AdminHistory history, RecentErrors errors, TimeProvider time) => new(
            time.GetUtcNow(),
            new StoreSection(store.Description, options.Value.Backend.ToString(), store.Root, store.Options.MaxChunkSize, store.Options.SyncMode.ToString()),
            statistics.Current,
            new TrafficSection(traffic.Since, traffic.NewChunks, traffic.DuplicateChunks, traffic.NewBytes, traffic.Reads, traffic.ReadBytes),
            new LeaseSection(leases.ActiveCount, leases.OldestStart, leases.ExpiredCount, options.Value.Leases.Ttl.TotalSeconds, options.Value.Leases.MaxLifetime.TotalHours),
            history.LastGc,
            history.LastGcFailure,
            history.LastVerify,
            history.LastVerifyFailure,
            errors.Total,
            errors.Snapshot());
}

/// <summary>Which store the server serves.</summary>
internal sealed record StoreSection(string Description, string Backend, string Root, int MaxChunkSize, string SyncMode);

/// <summary>Chunks stored and served by this server since it started.</summary>
internal sealed record TrafficSection(DateTimeOffset Since, long NewChunks, long DuplicateChunks, long NewBytes, long Reads, long ReadBytes);

/// <summary>The leases open now; the oldest holds the garbage collector's cutoff at its start.</summary>
internal sealed record LeaseSection(int Active, DateTimeOffset? OldestStart, long ExpiredTotal, double TtlSeconds, double MaxLifetimeHours);
