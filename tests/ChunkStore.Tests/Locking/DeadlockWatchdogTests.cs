using ChunkStore.Tests.Infrastructure;

namespace ChunkStore.Tests.Locking;

public sealed class DeadlockWatchdogTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>
    /// Many tasks on two store instances (separate lock descriptors, like two processes) insert, touch, read,
    /// verify and rename-corrupt a few overlapping chunks while garbage collections run; everything must finish
    /// (no deadlock) and leave a consistent store.
    /// </summary>
    [Fact]
    public async Task OverlappingOperationsAndGc_FinishWithoutDeadlock_AndLeaveAConsistentStore()
    {
        var duration = TimeSpan.FromSeconds(Environment.GetEnvironmentVariable("CI") == "true" ? 30 : 10);
        await using var a = TestData.NewStore(_dir.Sub("s"), o => o.LockStripes = 16);
        await using var b = ChunkRepository.Open(new ChunkStoreOptions { Root = a.Root, LockTimeout = TimeSpan.FromSeconds(60) });
        var chunks = Enumerable.Range(0, 6).Select(i => TestData.Random(4096 + i, 900 + i)).ToArray();
        var digests = chunks.Select(c => ChunkDigest.Compute(c)).ToArray();
        using var stop = new CancellationTokenSource(duration);
        long ops = 0, gcs = 0;

        var workers = Enumerable.Range(0, 8).Select(t => Task.Run(async () =>
        {
            var store = t % 2 == 0 ? a : b;
            var rnd = new Random(t);
            while (!stop.IsCancellationRequested)
            {
                int k = rnd.Next(chunks.Length);
                switch (rnd.Next(5))
                {
                    case 0:
                    case 1:
                        await store.InsertAsync(chunks[k]);
                        break;
                    case 2:
                        await store.TouchAsync(digests[k]);
                        break;
                    case 3:
                        await store.Maintenance.RenameCorruptAsync(digests[k]);
                        break;
                    default:
                        try
                        {
                            Assert.Equal(chunks[k], await store.ReadAsync(digests[k]));
                        }
                        catch (ChunkNotFoundException)
                        {
                        }

                        break;
                }

                Interlocked.Increment(ref ops);
            }
        })).ToList();
        workers.Add(Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await a.Maintenance.GarbageCollectAsync(digests.Take(3), new GarbageCollectionOptions { GracePeriod = TimeSpan.FromSeconds(1), WriterSafetyMargin = TimeSpan.Zero });
                Interlocked.Increment(ref gcs);
            }
        }));

        var all = Task.WhenAll(workers);
        var finished = await Task.WhenAny(all, Task.Delay(duration + TimeSpan.FromSeconds(60)));
        Assert.True(finished == all, $"deadlock: workers still running 60 s after the end ({Interlocked.Read(ref ops)} ops, {gcs} GCs done)");
        await all;

        Assert.True(ops > 1000, $"only {ops} operations ran");
        Assert.True(gcs > 0);
        Assert.Equal(0, a.Locks.HeldCount);
        Assert.Equal(0, b.Locks.HeldCount);
        foreach (var file in Directory.EnumerateFiles(Path.Combine(a.Root, ".chunks"), "*", SearchOption.AllDirectories))
        {
            string name = Path.GetFileName(file);
            Assert.DoesNotContain(".tmp-", name, StringComparison.Ordinal);
            if (name.Length == 64)
            {
                Assert.Equal(name, ChunkDigest.Compute(File.ReadAllBytes(file)).ToString());
            }
        }

        for (int k = 0; k < chunks.Length; k++)
        {
            await a.InsertAsync(chunks[k]);
            Assert.Equal(chunks[k], await b.ReadAsync(digests[k]));
        }
    }
}
