using System.Collections.Concurrent;
using System.Security.Cryptography;
using ChunkStore.Server.Configuration;
using ChunkStore.Server.Diagnostics;
using Microsoft.Extensions.Options;

namespace ChunkStore.Server.Leases;

/// <summary>
/// The write sessions the server holds for its clients, as leases: opened, renewed (explicitly or by every request
/// through them), completed and closed by the client, and ended by the server when a client stops renewing.
/// </summary>
/// <remarks>
/// <para>The library's protocol is complete → publish → dispose, and a registered session keeps every chunk it touched
/// from garbage collection in every process, whatever the grace period. A lease maps onto it one to one: open =
/// <see cref="ChunkRepository.BeginWriteSessionAsync"/>, insert and touch through the lease = through the session,
/// complete = <see cref="WriteSession.CompleteAsync"/>, close = <see cref="WriteSession.DisposeAsync"/> — and the
/// client publishes its index between complete and close.</para>
/// <para>A client that crashed never closes. Its lease expires after a TTL without renewal or use, and the server then
/// disposes the session, so the collector's cutoff (which a live session holds at its start) moves on: from then only
/// references and the grace period protect those chunks. A client that renews for ever is stopped by
/// <see cref="LeaseOptions.MaxLifetime"/>. When the server process dies, its sessions' registry locks die with it and
/// the next collection removes their entries: no lease outlives its server.</para>
/// <para>An ended lease leaves a tombstone, so the client learns that it ended and why (410), never a bare 404: a
/// client whose lease ended before it closed it cannot know whether a collection ran meanwhile, and must touch its
/// chunks again in a new lease (the touch answers which ones are missing) before it relies on them.</para>
/// </remarks>
internal sealed class LeaseManager : IAsyncDisposable
{
    private const int MaxTombstones = 10_000;

    private readonly ChunkRepository _store;
    private readonly LeaseOptions _options;
    private readonly TimeProvider _time;
    private readonly ServerMetrics _metrics;
    private readonly ILogger<LeaseManager> _logger;
    private readonly ConcurrentDictionary<string, Lease> _live = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, LeaseEnd> _ended = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _endedOrder = new();
    private readonly SemaphoreSlim _opening = new(1, 1);
    private long _expired;

    public LeaseManager(ChunkRepository store, IOptions<ServerOptions> options, TimeProvider time, ServerMetrics metrics, ILogger<LeaseManager> logger)
    {
        _store = store;
        _options = options.Value.Leases;
        _time = time;
        _metrics = metrics;
        _logger = logger;
        metrics.ObserveLeases(() => _live.Count);
    }

    public LeaseOptions Options => _options;

    public int ActiveCount => _live.Count;

    /// <summary>Gets the number of leases the server ended because their client stopped renewing (or at their maximum lifetime).</summary>
    public long ExpiredCount => Interlocked.Read(ref _expired);

    /// <summary>Gets the start of the oldest live lease: the garbage collector's cutoff cannot pass it.</summary>
    public DateTimeOffset? OldestStart => _live.Values.Select(l => (DateTimeOffset?)l.StartedAt).Min();

    public IReadOnlyCollection<Lease> Live => _live.Values.ToList();

    /// <summary>Opens a lease; <see langword="null"/> when <see cref="LeaseOptions.MaxActive"/> leases are open.</summary>
    public async Task<Lease?> OpenAsync(CancellationToken cancellationToken)
    {
        // One opening at a time, so that the count check and the registration cannot race past MaxActive.
        await _opening.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_live.Count >= _options.MaxActive)
            {
                return null;
            }

            var session = await _store.BeginWriteSessionAsync(cancellationToken).ConfigureAwait(false);
            var lease = new Lease(NewId(), session, _options, _time);
            _live[lease.Id] = lease;
            ServerLog.LeaseOpened(_logger, lease.Id, lease.StartedAt, lease.ExpiresAt);
            return lease;
        }
        finally
        {
            _opening.Release();
        }
    }

    /// <summary>Finds a lease: live (ended now when it is due), ended (with why), or unknown.</summary>
    public LeaseLookup Find(string id)
    {
        if (_live.TryGetValue(id, out var lease))
        {
            if (lease.ExpireIfDue())
            {
                return new LeaseLookup(lease, null);
            }

            Retire(lease);
        }

        return new LeaseLookup(null, _ended.TryGetValue(id, out var end) ? end : null);
    }

    /// <summary>Ends a lease at the client's request.</summary>
    public void Close(Lease lease)
    {
        lease.End(LeaseEndReason.Closed);
        Retire(lease);
    }

    /// <summary>Ends every lease that is due; the expiry service calls it every <see cref="LeaseOptions.SweepInterval"/>.</summary>
    public int Sweep()
    {
        int ended = 0;
        foreach (var lease in _live.Values)
        {
            if (!lease.ExpireIfDue())
            {
                Retire(lease);
                ended++;
            }
        }

        return ended;
    }

    /// <summary>Ends every lease (the server stops): their sessions leave the registry.</summary>
    public ValueTask DisposeAsync()
    {
        foreach (var lease in _live.Values)
        {
            lease.End(LeaseEndReason.ServerStopping);
            Retire(lease);
        }

        _opening.Dispose();
        return ValueTask.CompletedTask;
    }

    private void Retire(Lease lease)
    {
        if (lease.Ended is not { } end || !_live.TryRemove(new KeyValuePair<string, Lease>(lease.Id, lease)))
        {
            return;
        }

        _ended[lease.Id] = end;
        _endedOrder.Enqueue(lease.Id);
        while (_endedOrder.Count > MaxTombstones && _endedOrder.TryDequeue(out var old))
        {
            _ended.TryRemove(old, out _);
        }

        _metrics.LeaseEnded(end.Reason);
        if (end.Reason is LeaseEndReason.Expired or LeaseEndReason.MaxLifetime)
        {
            Interlocked.Increment(ref _expired);
            ServerLog.LeaseExpired(_logger, lease.Id, end.Reason, lease.StartedAt, lease.Chunks);
        }
        else
        {
            ServerLog.LeaseClosed(_logger, lease.Id, end.Reason, lease.Chunks, lease.NewChunks);
        }
    }

    private static string NewId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
}

/// <summary>The answer of <see cref="LeaseManager.Find"/>: a live lease, or how an ended one ended, or neither (unknown id).</summary>
internal readonly record struct LeaseLookup(Lease? Live, LeaseEnd? Ended);

/// <summary>Ends expired leases on a timer.</summary>
internal sealed class LeaseExpiryService(LeaseManager leases, TimeProvider time) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(leases.Options.SweepInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                leases.Sweep();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
