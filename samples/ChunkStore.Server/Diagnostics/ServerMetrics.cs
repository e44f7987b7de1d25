using System.Diagnostics;
using System.Diagnostics.Metrics;
using ChunkStore.Server.Leases;

namespace ChunkStore.Server.Diagnostics;

/// <summary>
/// The server's own <see cref="Meter"/> and <see cref="ActivitySource"/>, both <c>ChunkStore.Server</c>, next to the
/// library's <c>ChunkStore</c> and <c>ChunkStore.S3</c>.
/// </summary>
/// <remarks>
/// Instruments: <c>chunkstore.server.leases.active</c> ({lease}), <c>chunkstore.server.leases.ended</c> ({lease}; tag
/// <c>chunkstore.server.lease.end</c> = closed | expired | max_lifetime | server_stopping), <c>chunkstore.server.admin.runs</c>
/// ({run}; tags <c>chunkstore.server.admin.operation</c> = gc | gc_dry_run | verify, <c>chunkstore.server.admin.outcome</c> =
/// ok | failed).
/// </remarks>
internal sealed class ServerMetrics
{
    public const string Name = "ChunkStore.Server";

    /// <summary>The library's meter and activity source (<c>ChunkStoreInstrumentation.Name</c>, internal in the library).</summary>
    public const string LibraryName = "ChunkStore";

    /// <summary>The S3 package's meter and activity source (<c>S3Instrumentation.Name</c>, internal in the package).</summary>
    public const string S3LibraryName = "ChunkStore.S3";

    public static readonly ActivitySource ActivitySource = new(Name);

    private readonly Meter _meter;
    private readonly Counter<long> _leasesEnded;
    private readonly Counter<long> _adminRuns;

    public ServerMetrics(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(Name);
        _leasesEnded = _meter.CreateCounter<long>("chunkstore.server.leases.ended", "{lease}", "Write-session leases ended, by how.");
        _adminRuns = _meter.CreateCounter<long>("chunkstore.server.admin.runs", "{run}", "Garbage collections and verifications run through the API, by outcome.");
    }

    public void ObserveLeases(Func<int> active) =>
        _meter.CreateObservableUpDownCounter("chunkstore.server.leases.active", active, "{lease}", "Write-session leases open now.");

    public void LeaseEnded(LeaseEndReason reason) =>
        _leasesEnded.Add(1, new KeyValuePair<string, object?>("chunkstore.server.lease.end", reason switch
        {
            LeaseEndReason.Closed => "closed",
            LeaseEndReason.Expired => "expired",
            LeaseEndReason.MaxLifetime => "max_lifetime",
            _ => "server_stopping",
        }));

    public void AdminRun(string operation, bool ok) =>
        _adminRuns.Add(1,
            new KeyValuePair<string, object?>("chunkstore.server.admin.operation", operation),
            new KeyValuePair<string, object?>("chunkstore.server.admin.outcome", ok ? "ok" : "failed"));
}
