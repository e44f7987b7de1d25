using System.Collections.Concurrent;
using Xunit.Abstractions;
using ChunkStore.S3.Tests.Infrastructure;

namespace ChunkStore.S3.Tests;

public class S3StressTests(S3BucketFixture fixture, ITestOutputHelper output) : IClassFixture<S3BucketFixture>
{
    private const int ChunkSize = 10_000;

    [S3Fact]
    public async Task TinyLru_OverlappingInsertReadRenameSweep_NoDeadlockAndInvariantsHold()
    {
        await using var store = fixture.CreateStore(cacheCapacityBytes: 2 * ChunkSize);
        byte[][] chunks = Enumerable.Range(0, 8).Select(_ => S3TestStore.RandomChunk(ChunkSize)).ToArray();
        var digests = chunks.Select(c => ChunkDigest.Compute(c)).ToArray();
        var unexpected = new ConcurrentQueue<Exception>();
        long inserts = 0, reads = 0, renames = 0, sweeps = 0;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(6));

        async Task Worker(int seed)
        {
            var rng = new Random(seed);
            while (!stop.IsCancellationRequested)
            {
                int i = rng.Next(chunks.Length);
                try
                {
                    switch (rng.Next(10))
                    {
                        case < 5:
                            await store.Repo.InsertAsync(chunks[i]);
                            Interlocked.Increment(ref inserts);
                            break;
                        case < 9:
                            Assert.Equal(chunks[i], await store.Repo.ReadAsync(digests[i]));
                            Interlocked.Increment(ref reads);
                            break;
                        default:
                            await store.Repo.Maintenance.RenameCorruptAsync(digests[i]);
                            Interlocked.Increment(ref renames);
                            break;
                    }
                }
                catch (ChunkNotFoundException)
                {
                    // Renamed or collected meanwhile: a legitimate outcome for a read.
                }
                catch (Exception ex)
                {
                    unexpected.Enqueue(ex);
                }
            }
        }

        async Task Collector()
        {
            var rng = new Random(99);
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    // Let time pass for a random chunk: its marker ages past the cutoff, so the sweep deletes for real.
                    var victim = digests[rng.Next(digests.Length)];
                    try
                    {
                        S3TestStore.Age(store.LocalPath(victim));
                    }
                    catch (IOException)
                    {
                    }

                    await store.CollectAsync(digests.Where((_, k) => k % 2 == 0).ToArray());
                    Interlocked.Increment(ref sweeps);
                }
                catch (Exception ex)
                {
                    unexpected.Enqueue(ex);
                }
            }
        }

        var all = Task.WhenAll(Enumerable.Range(0, 6).Select(s => Task.Run(() => Worker(s))).Append(Task.Run(Collector)));

        // Deadlock watchdog: the workers stop after 6 s; everything must have returned well within 20 s more.
        var finished = await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(26)));
        Assert.True(finished == all, $"deadlock: workers still running (inserts {inserts}, reads {reads}, renames {renames}, sweeps {sweeps})");
        Assert.Empty(unexpected);
        Assert.True(inserts > 20 && reads > 20 && renames > 0 && sweeps > 0, $"too little work: {inserts}/{reads}/{renames}/{sweeps}");

        output.WriteLine($"inserts {inserts}, reads {reads}, renames {renames}, sweeps {sweeps}; requests: PUT {store.Count(S3RequestKind.Put)}, GET {store.Count(S3RequestKind.Get)}, DeleteObjects {store.Count(S3RequestKind.DeleteObjects)}, Copy {store.Count(S3RequestKind.Copy)}");

        // Let queued evictions (retried while their chunk was busy) finish.
        for (int t = 0; t < 250 && store.Backend.PendingEvictions > 0; t++)
        {
            await Task.Delay(20);
        }

        Assert.Equal(0, store.Backend.PendingEvictions);
        int full = 0;
        foreach (var d in digests)
        {
            long? local = store.LocalSize(d);
            if (local is not null)
            {
                Assert.True(await store.ObjectExistsAsync(d), $"S1 broken: local {(local == 0 ? "marker" : "file")} for {d} without object");
            }

            if (store.InLru(d))
            {
                Assert.Equal(ChunkSize, local); // S2: LRU ⇒ full file
            }
            else
            {
                Assert.NotEqual(ChunkSize, local); // an untracked full file would escape the capacity bound
            }

            if (local == ChunkSize)
            {
                full++;
            }
        }

        Assert.True(full <= 2, $"{full} full files with a 2-chunk cache");
    }
}
