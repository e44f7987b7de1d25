using ChunkStore.Backends;

namespace ChunkStore.Tests.Gc;

public class GcClassifierTests
{
    [Fact]
    public void Classification_MatchesTheRuleForRandomTimes()
    {
        var rnd = new Random(12345);
        var epoch = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        for (int i = 0; i < 100_000; i++)
        {
            var t0 = epoch.AddSeconds(rnd.Next(0, 10_000_000));
            var oldestWriter = rnd.Next(3) == 0 ? t0 : t0.AddSeconds(-rnd.Next(0, 200_000));
            var grace = TimeSpan.FromSeconds(rnd.Next(1, 200_000));
            var margin = TimeSpan.FromSeconds(rnd.Next(0, 1000));
            var atime = t0.AddSeconds(-rnd.Next(-1000, 400_000));

            var cutoff = GcClassifier.Cutoff(t0, oldestWriter, grace, margin);
            var cls = GcClassifier.Classify(atime, cutoff, oldestWriter);

            Assert.True(cutoff <= t0 - grace && cutoff <= oldestWriter - margin);
            Assert.True(cutoff == t0 - grace || cutoff == oldestWriter - margin);
            var expected = atime < cutoff ? SweepClass.Remove : atime < oldestWriter ? SweepClass.Pending : SweepClass.InUse;
            Assert.Equal(expected, cls);
            if (atime >= oldestWriter - margin)
            {
                Assert.NotEqual(SweepClass.Remove, cls); // anything a live writer touched survives
            }

            if (atime >= t0 - grace)
            {
                Assert.NotEqual(SweepClass.Remove, cls); // the grace period is always honoured
            }
        }
    }
}
