using ChunkStore.Remote;

namespace ChunkStore.Tests.Remote;

/// <summary>The server clock estimated from responses' <c>Date</c> headers (whole seconds), which the remote GC's skew check reads.</summary>
public sealed class ServerClockTests
{
    private static DateTimeOffset WholeSeconds(DateTimeOffset t) => new(t.Ticks - (t.Ticks % TimeSpan.TicksPerSecond), TimeSpan.Zero);

    [Fact]
    public void Skew_WithoutAResponse_IsUnknown()
    {
        Assert.Null(new ServerClock().Skew(TimeProvider.System));
    }

    [Fact]
    public void Skew_IsLocalMinusServer_FromTheMiddleOfTheDatesSecond()
    {
        var clock = new ServerClock();
        var now = DateTimeOffset.UtcNow;

        clock.Record(WholeSeconds(now - TimeSpan.FromSeconds(30))); // the server is about 30 s behind

        var skew = clock.Skew(TimeProvider.System)!.Value;
        Assert.InRange(skew.TotalSeconds, 29.0, 31.0);
    }

    [Fact]
    public void Skew_TakesTheSmallestEstimate_ASlowResponseOnlyMakesItsOwnTooHigh()
    {
        var clock = new ServerClock();
        var now = DateTimeOffset.UtcNow;

        // One response waited 20 s in a busy process before its Date was read: its estimate is 20 s too high.
        clock.Record(WholeSeconds(now - TimeSpan.FromSeconds(25)));
        clock.Record(WholeSeconds(now - TimeSpan.FromSeconds(5)));
        clock.Record(WholeSeconds(now - TimeSpan.FromSeconds(12)));

        var skew = clock.Skew(TimeProvider.System)!.Value;
        Assert.InRange(skew.TotalSeconds, 4.0, 6.0);
    }

    [Fact]
    public void Skew_ServerAhead_IsNegative()
    {
        var clock = new ServerClock();

        clock.Record(WholeSeconds(DateTimeOffset.UtcNow + TimeSpan.FromMinutes(3)));

        var skew = clock.Skew(TimeProvider.System)!.Value;
        Assert.InRange(skew.TotalSeconds, -181.0, -179.0);
    }
}
