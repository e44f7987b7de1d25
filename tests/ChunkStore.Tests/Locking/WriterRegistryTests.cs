using ChunkStore.Tests.Infrastructure;

namespace ChunkStore.Tests.Locking;

public sealed class WriterRegistryTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task LiveSession_IsTheOldestWriterSeenByGc_AndItsEntryGoesAwayWhenItEnds()
    {
        await using var store = TestData.NewStore(_dir.Sub("s"));
        var session = await store.BeginWriteSessionAsync();
        Assert.Single(Directory.GetFiles(Path.Combine(store.Root, ".writers")));

        var result = await store.GarbageCollectAsync([], new GarbageCollectionOptions { GracePeriod = TimeSpan.FromSeconds(1) });

        Assert.Equal(session.StartTime.ToUnixTimeMilliseconds(), result.OldestWriter.ToUnixTimeMilliseconds());
        Assert.Equal(session.StartTime.ToUnixTimeMilliseconds() - 300_000, result.Cutoff.ToUnixTimeMilliseconds());
        await session.CompleteAsync();
        Assert.Empty(Directory.GetFiles(Path.Combine(store.Root, ".writers")));
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await session.InsertAsync(new byte[1]));
    }

    [Fact]
    public async Task EntryOfADeadProcess_IsIgnoredAndRemoved()
    {
        await using var store = TestData.NewStore(_dir.Sub("s"));
        // What a killed writer leaves: a final entry nobody holds a lock on, started long ago.
        string dead = Path.Combine(store.Root, ".writers", $"{DateTimeOffset.UtcNow.AddDays(-2).ToUnixTimeMilliseconds():D13}-999999-abc.writer");
        File.WriteAllText(dead, "");

        var result = await store.GarbageCollectAsync([], new GarbageCollectionOptions { GracePeriod = TimeSpan.FromSeconds(1) });

        Assert.Equal(1, result.DeadWritersRemoved);
        Assert.False(File.Exists(dead));
        Assert.True(result.OldestWriter >= result.StartedAt.AddSeconds(-1), "a dead writer's start time must not hold back the cutoff");
    }

    [Fact]
    public async Task SessionRegisteringDuringTheScan_IsSeenOrStartedAfterTheScanBegan()
    {
        await using var store = TestData.NewStore(_dir.Sub("s"));
        WriteSession? late = null;
        store.Writers.DuringScanHook = async () => late = await store.BeginWriteSessionAsync();

        var result = await store.GarbageCollectAsync([], new GarbageCollectionOptions { GracePeriod = TimeSpan.FromSeconds(1) });

        Assert.NotNull(late);
        bool seen = result.OldestWriter.ToUnixTimeMilliseconds() == late.StartTime.ToUnixTimeMilliseconds();
        Assert.True(seen || late.StartTime >= result.StartedAt, "a session missed by the scan must have started after the collection's T0");
        await late.DisposeAsync();
    }
}
