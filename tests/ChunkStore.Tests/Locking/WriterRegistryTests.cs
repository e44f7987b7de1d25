using ChunkStore.Native;
using ChunkStore.Tests.Infrastructure;
using ChunkStore.Writers;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

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

        var result = await store.Maintenance.GarbageCollectAsync([], new GarbageCollectionOptions { GracePeriod = TimeSpan.FromSeconds(1) });

        Assert.Equal(session.StartTime.ToUnixTimeMilliseconds(), result.OldestWriter.ToUnixTimeMilliseconds());
        Assert.Equal(session.StartTime.ToUnixTimeMilliseconds() - 300_000, result.Cutoff.ToUnixTimeMilliseconds());
        await session.CompleteAsync();
        Assert.Single(Directory.GetFiles(Path.Combine(store.Root, ".writers"))); // still protecting until the index is published
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await session.InsertAsync(new byte[1]));
        var afterComplete = await store.Maintenance.GarbageCollectAsync([], new GarbageCollectionOptions { GracePeriod = TimeSpan.FromSeconds(1) });
        Assert.Equal(session.StartTime.ToUnixTimeMilliseconds(), afterComplete.OldestWriter.ToUnixTimeMilliseconds());

        await session.DisposeAsync();
        Assert.Empty(Directory.GetFiles(Path.Combine(store.Root, ".writers")));
        Assert.False(session.IsRegistered);
    }

    [Fact]
    public async Task EntryOfADeadProcess_IsIgnoredAndRemoved()
    {
        await using var store = TestData.NewStore(_dir.Sub("s"));
        // What a killed writer leaves: a final entry nobody holds a lock on, started long ago.
        string dead = Path.Combine(store.Root, ".writers", $"{DateTimeOffset.UtcNow.AddDays(-2).ToUnixTimeMilliseconds():D13}-999999-abc.writer");
        File.WriteAllText(dead, "");

        var result = await store.Maintenance.GarbageCollectAsync([], new GarbageCollectionOptions { GracePeriod = TimeSpan.FromSeconds(1) });

        Assert.Equal(1, result.DeadWritersRemoved);
        Assert.False(File.Exists(dead));
        Assert.True(result.OldestWriter >= result.StartedAt.AddSeconds(-1), "a dead writer's start time must not hold back the cutoff");
    }

    [Fact]
    public async Task SessionRegisteringDuringTheScan_IsSeenOrStartedAfterTheScanBegan()
    {
        await using var store = TestData.NewStore(_dir.Sub("s"));
        WriteSession? late = null;
        store.Hooks = new HookSet { WriterScanListed = async () => late = await store.BeginWriteSessionAsync() };

        var result = await store.Maintenance.GarbageCollectAsync([], new GarbageCollectionOptions { GracePeriod = TimeSpan.FromSeconds(1) });

        Assert.NotNull(late);
        bool seen = result.OldestWriter.ToUnixTimeMilliseconds() == late.StartTime.ToUnixTimeMilliseconds();
        Assert.True(seen || late.StartTime >= result.StartedAt, "a session missed by the scan must have started after the collection's T0");
        await late.DisposeAsync();
    }

    [Fact]
    public async Task UnlockedTemporaryEntry_IsKeptForAMinuteOfTheRegistrysClock_ThenRemoved()
    {
        // What a registration leaves between its create and its lock, or a process killed right there.
        var (registry, clock, directory) = NewRegistry();
        string temp = Path.Combine(directory, ".tmp-999999-abc");
        File.WriteAllBytes(temp, []);

        var (_, removedEarly) = await registry.ScanAsync();
        Assert.Equal(0, removedEarly);
        Assert.True(File.Exists(temp), "a fresh temporary entry may be a registration about to lock it");

        clock.Advance(WriterRegistry.TempEntryMaxAge + TimeSpan.FromSeconds(1));
        var (_, removed) = await registry.ScanAsync();
        Assert.Equal(1, removed);
        Assert.False(File.Exists(temp));
    }

    [Fact]
    public async Task LockedTemporaryEntry_IsNeverRemoved_HoweverOld()
    {
        var (registry, clock, directory) = NewRegistry();
        string temp = Path.Combine(directory, ".tmp-999999-def");
        Assert.Equal(0, LockFile.TryOpen(temp, Libc.O_RDWR | Libc.O_CREAT, 0b110_110_110, out var held));
        using (held)
        {
            Assert.Equal(0, held!.TryLock(exclusive: true));
            clock.Advance(TimeSpan.FromDays(1));

            var (live, removed) = await registry.ScanAsync();

            Assert.Equal(0, removed);
            Assert.Empty(live); // not yet a session: it has no final name
            Assert.True(File.Exists(temp));
        }
    }

    /// <summary>A registry over a fresh <c>writers</c> directory on a fake clock that starts now (file mtimes are real).</summary>
    private (WriterRegistry Registry, FakeTimeProvider Clock, string Directory) NewRegistry()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        string directory = _dir.Sub("writers");
        Directory.CreateDirectory(directory);
        return (new WriterRegistry(directory, "test", clock, NullLogger.Instance), clock, directory);
    }
}
