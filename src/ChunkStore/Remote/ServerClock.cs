namespace ChunkStore.Remote;

/// <summary>
/// The server's clock as the <c>Date</c> headers of recent responses tell it (whole seconds). Each response gives one
/// estimate of local minus server time; a response that travelled (or waited in a busy process) for a while makes
/// its estimate too high, never too low by more than the header's rounding, so the smallest recent estimate is the
/// best one. A remote storage over HTTP feeds it every response's <c>Date</c> and answers
/// <see cref="IRemoteStorage.ClockSkew"/> from it.
/// </summary>
internal sealed class ServerClock
{
    private const int Capacity = 64;
    private static readonly TimeSpan s_maxAge = TimeSpan.FromMinutes(10);
    private readonly Lock _lock = new();
    private readonly (DateTimeOffset Date, long ReceivedAt)[] _samples = new (DateTimeOffset, long)[Capacity];
    private int _count;
    private int _next;

    public void Record(DateTimeOffset date)
    {
        long now = System.Diagnostics.Stopwatch.GetTimestamp();
        lock (_lock)
        {
            _samples[_next] = (date, now);
            _next = (_next + 1) % Capacity;
            _count = Math.Min(_count + 1, Capacity);
        }
    }

    /// <summary>
    /// The local clock minus the server's (positive: local ahead), the smallest estimate of the samples of the last
    /// ten minutes; null without one. The server's time was in [Date, Date + 1 s) when a response left it: the middle
    /// is taken, so an estimate is at most half a second low.
    /// </summary>
    public TimeSpan? Skew(TimeProvider localClock)
    {
        var localNow = localClock.GetUtcNow();
        TimeSpan? best = null;
        lock (_lock)
        {
            for (int i = 0; i < _count; i++)
            {
                var (date, receivedAt) = _samples[i];
                var age = System.Diagnostics.Stopwatch.GetElapsedTime(receivedAt);
                if (age > s_maxAge)
                {
                    continue;
                }

                var estimate = localNow - age - (date + TimeSpan.FromMilliseconds(500));
                if (best is null || estimate < best)
                {
                    best = estimate;
                }
            }
        }

        return best;
    }
}
