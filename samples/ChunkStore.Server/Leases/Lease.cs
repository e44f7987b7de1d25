using ChunkStore.Server.Configuration;

namespace ChunkStore.Server.Leases;

/// <summary>
/// One write session held for a client: the library's <see cref="WriteSession"/> plus an expiry. Every request through
/// the lease is a <see cref="Use"/>; the session is disposed (leaves the writer registry) only when the lease has ended
/// and no use is in flight, so an insert that started while the lease was live finishes while the session still
/// protects its chunk.
/// </summary>
internal sealed class Lease
{
    private readonly object _gate = new();
    private readonly TimeSpan _ttl;
    private readonly TimeProvider _time;
    private int _inFlight;
    private bool _disposed;
    private long _chunks, _newChunks, _bytes;

    public Lease(string id, WriteSession session, LeaseOptions options, TimeProvider time)
    {
        Id = id;
        Session = session;
        _ttl = options.Ttl;
        _time = time;
        Deadline = session.StartTime + options.MaxLifetime;
        ExpiresAt = Min(time.GetUtcNow() + _ttl, Deadline);
    }

    public string Id { get; }

    public WriteSession Session { get; }

    /// <summary>Gets the session's registered start: the garbage collector's cutoff stays before it while the lease lives.</summary>
    public DateTimeOffset StartedAt => Session.StartTime;

    /// <summary>Gets the end of the lease's longest life (<see cref="LeaseOptions.MaxLifetime"/> after its start).</summary>
    public DateTimeOffset Deadline { get; }

    /// <summary>Gets when the lease expires unless it is renewed or used.</summary>
    public DateTimeOffset ExpiresAt { get; private set; }

    /// <summary>Gets why the lease ended, or <see langword="null"/> while it is live.</summary>
    public LeaseEnd? Ended { get; private set; }

    public bool IsCompleted => !Session.IsActive;

    public long Chunks => Interlocked.Read(ref _chunks);

    public long NewChunks => Interlocked.Read(ref _newChunks);

    public long Bytes => Interlocked.Read(ref _bytes);

    /// <summary>Starts a request through the lease and extends it; <see langword="null"/> when the lease has ended or expired (then it is ended now).</summary>
    public Use? TryUse()
    {
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            if (!ExpireIfDue(now))
            {
                return null;
            }

            _inFlight++;
            ExpiresAt = Min(now + _ttl, Deadline);
            return new Use(this);
        }
    }

    /// <summary>Extends the lease by a TTL from now (never past its deadline); <see langword="false"/> when it has ended or expired.</summary>
    public bool TryRenew()
    {
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            if (!ExpireIfDue(now))
            {
                return false;
            }

            ExpiresAt = Min(now + _ttl, Deadline);
            return true;
        }
    }

    /// <summary>Ends the lease when it is due (expired, or past its deadline); returns whether it is still live.</summary>
    public bool ExpireIfDue() => ExpireIfDue(_time.GetUtcNow());

    private bool ExpireIfDue(DateTimeOffset now)
    {
        lock (_gate)
        {
            if (Ended is not null)
            {
                return false;
            }

            // A request in flight keeps the lease: it was live when the request began, and Use.Dispose extends it.
            // The deadline is absolute: past it the lease ends even then (the session is disposed after the request).
            if (now >= Deadline)
            {
                End(LeaseEndReason.MaxLifetime, now);
                return false;
            }

            if (now >= ExpiresAt && _inFlight == 0)
            {
                End(LeaseEndReason.Expired, now);
                return false;
            }

            return true;
        }
    }

    /// <summary>Ends the lease (idempotent); returns <see langword="false"/> when it had already ended.</summary>
    public bool End(LeaseEndReason reason) => End(reason, _time.GetUtcNow());

    private bool End(LeaseEndReason reason, DateTimeOffset now)
    {
        lock (_gate)
        {
            if (Ended is not null)
            {
                return false;
            }

            Ended = new LeaseEnd(reason, now);
            DisposeSessionIfIdle();
            return true;
        }
    }

    public void Count(ChunkInsertResult result)
    {
        Interlocked.Increment(ref _chunks);
        if (result.IsNew)
        {
            Interlocked.Increment(ref _newChunks);
        }

        Interlocked.Add(ref _bytes, result.Size);
    }

    private void Release()
    {
        lock (_gate)
        {
            _inFlight--;
            if (Ended is null)
            {
                // A long request (a large upload to S3) must not leave the lease about to expire.
                ExpiresAt = Max(ExpiresAt, Min(_time.GetUtcNow() + _ttl, Deadline));
            }

            DisposeSessionIfIdle();
        }
    }

    private void DisposeSessionIfIdle()
    {
        if (Ended is not null && _inFlight == 0 && !_disposed)
        {
            _disposed = true;

            // Leaves the writer registry (unlinks .writers/<entry> and drops its flock): from now on only references
            // and the grace period protect the lease's chunks. DisposeAsync completes synchronously.
            Session.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    /// <summary>A request in flight through the lease; disposing it ends the request.</summary>
    internal sealed class Use(Lease lease) : IDisposable
    {
        private int _done;

        public Lease Lease => lease;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                lease.Release();
            }
        }
    }
}

/// <summary>Why a lease ended.</summary>
internal enum LeaseEndReason
{
    /// <summary>The client closed it (<c>DELETE /sessions/{id}</c>).</summary>
    Closed,

    /// <summary>Neither renewed nor used for a TTL.</summary>
    Expired,

    /// <summary>It reached <see cref="LeaseOptions.MaxLifetime"/>.</summary>
    MaxLifetime,

    /// <summary>The server stopped.</summary>
    ServerStopping,
}

/// <summary>How and when a lease ended.</summary>
internal sealed record LeaseEnd(LeaseEndReason Reason, DateTimeOffset At);
