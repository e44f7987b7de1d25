using ChunkStore.FileSystem;
using ChunkStore.Tests.Infrastructure;
using ChunkStore.Diagnostics;

namespace ChunkStore.Tests.Gc;

public sealed class GarbageCollectionTests : IDisposable
{
    private static readonly GarbageCollectionOptions Short = new() { GracePeriod = TimeSpan.FromHours(1), WriterSafetyMargin = TimeSpan.FromMinutes(5) };
    private readonly TempDirectory _dir = new();
    private readonly DateTime _longAgo = DateTime.UtcNow.AddDays(-3);

    public void Dispose() => _dir.Dispose();

    private async Task<(ChunkRepository Store, ChunkDigest Digest, byte[] Data)> StoreWithChunkAsync(int size, int seed, bool old)
    {
        var store = TestData.NewStore(_dir.Sub("s" + seed));
        var data = TestData.Random(size, seed);
        var d = (await store.InsertAsync(data)).Digest;
        if (old)
        {
            TestData.SetAccessTime(TestData.ChunkPath(store, d), _longAgo);
        }

        return (store, d, data);
    }

    [Fact]
    public async Task EveryCounter_MatchesWhatIsOnDisk()
    {
        await using var store = TestData.NewStore(_dir.Sub("counters"));
        var layout = new ChunkLayout(store.Root);
        async Task<ChunkDigest> Put(int seed, int size, DateTime? atime)
        {
            var d = (await store.InsertAsync(TestData.Random(size, seed))).Digest;
            if (atime is { } t)
            {
                TestData.SetAccessTime(layout.ChunkPath(d), t);
            }

            return d;
        }

        var referencedOld = await Put(1, 100, _longAgo);           // referenced → marked → in use
        var referencedNew = await Put(2, 200, null);               // referenced → in use
        var pending = await Put(3, 300, DateTime.UtcNow.AddMinutes(-30)); // unreferenced, inside the 1 h grace
        var removable1 = await Put(4, 400, _longAgo);
        var removable2 = await Put(5, 500, _longAgo);
        var missingWithBad = ChunkDigest.Compute("bad"u8);
        Directory.CreateDirectory(layout.PrefixDirectory(missingWithBad));
        File.WriteAllBytes(layout.BadPath(missingWithBad, 0), [1]);
        TestData.SetAccessTime(layout.BadPath(missingWithBad, 0), _longAgo); // referenced → touched → kept
        var oldBad = ChunkDigest.Compute("old bad"u8);
        Directory.CreateDirectory(layout.PrefixDirectory(oldBad));
        File.WriteAllBytes(layout.BadPath(oldBad, 2), [2]);
        TestData.SetAccessTime(layout.BadPath(oldBad, 2), _longAgo); // unreferenced → removed
        var missing = ChunkDigest.Compute("missing"u8);
        string staleTemp = layout.ChunkPath(removable1) + ".tmp-00000000deadbeef";
        File.WriteAllBytes(staleTemp, [3]);
        File.SetLastWriteTimeUtc(staleTemp, _longAgo);
        string freshTemp = layout.ChunkPath(referencedNew) + ".tmp-000000000000cafe";
        File.WriteAllBytes(freshTemp, [4]);
        string unknown = Path.Combine(layout.PrefixDirectory(pending), "README.txt");
        File.WriteAllText(unknown, "not a chunk");
        TestData.SetAccessTime(unknown, _longAgo);

        var result = await store.Maintenance.GarbageCollectAsync([referencedOld, referencedNew, referencedOld, missingWithBad, missing], Short);

        Assert.True(result.Completed);
        Assert.Equal(5, result.ReferencesRead);
        Assert.Equal(1, result.ReferencesDeduplicated);
        Assert.Equal(2, result.ChunksMarked);
        Assert.Equal(2, result.MissingChunks);
        Assert.Equal([missingWithBad, missing], result.MissingSample);
        Assert.Equal(2, result.ChunksInUse);
        Assert.Equal(300, result.BytesInUse);
        Assert.Equal(1, result.ChunksPending);
        Assert.Equal(300, result.BytesPending);
        Assert.Equal(2, result.ChunksRemoved);
        Assert.Equal(900, result.BytesRemoved);
        Assert.Equal(1, result.BadRemoved);
        Assert.Equal(1, result.BadKept);
        Assert.Equal(1, result.TemporaryFilesRemoved);
        Assert.Equal(1, result.UnknownEntries);
        Assert.Equal(0, result.SkippedBusy);
        Assert.Equal(0, result.RemoteRequests);

        Assert.True(File.Exists(layout.ChunkPath(referencedOld)));
        Assert.True(File.Exists(layout.ChunkPath(pending)));
        Assert.False(File.Exists(layout.ChunkPath(removable1)));
        Assert.False(File.Exists(layout.ChunkPath(removable2)));
        Assert.True(File.Exists(layout.BadPath(missingWithBad, 0)));
        Assert.False(File.Exists(layout.BadPath(oldBad, 2)));
        Assert.False(File.Exists(staleTemp));
        Assert.True(File.Exists(freshTemp));
        Assert.True(File.Exists(unknown), "names outside the layout are never deleted");

        var saved = store.Maintenance.ReadLastGarbageCollection();
        Assert.NotNull(saved);
        Assert.Equal(2, saved.ChunksRemoved);
        Assert.Equal(result.Cutoff, saved.Cutoff);
        Assert.Equal(result.MissingSample, saved.MissingSample); // digests survive .gc-status (as hex)
        Assert.Equal(result.UnknownSample, saved.UnknownSample);
        Assert.Contains(missing.ToString(), File.ReadAllText(layout.GcStatusPath), StringComparison.Ordinal);
    }

    [Fact]
    public async Task DryRun_ReportsTheSameRemovalsAndChangesNothing()
    {
        await using var store = TestData.NewStore(_dir.Sub("dry"));
        for (int i = 0; i < 10; i++)
        {
            var d = (await store.InsertAsync(TestData.Random(100, i))).Digest;
            if (i < 6)
            {
                TestData.SetAccessTime(TestData.ChunkPath(store, d), _longAgo);
            }
        }

        var before = TestData.Snapshot(store.Root);
        var dry = await store.Maintenance.GarbageCollectAsync([], new GarbageCollectionOptions { GracePeriod = TimeSpan.FromHours(1), DryRun = true });
        Assert.Equal(before, TestData.Snapshot(store.Root).Where(l => !l.StartsWith(".gc-status", StringComparison.Ordinal)).ToList());
        Assert.True(dry.DryRun);
        Assert.Equal(6, dry.ChunksRemoved);

        var real = await store.Maintenance.GarbageCollectAsync([], Short);
        Assert.Equal(6, real.ChunksRemoved);
        Assert.Equal(4, real.ChunksInUse + real.ChunksPending);
    }

    [Fact]
    public async Task MarkingManyRepeatedReferences_TouchesEachDistinctChunkOnce()
    {
        await using var store = TestData.NewStore(_dir.Sub("dedup"));
        var digests = new List<ChunkDigest>();
        for (int i = 0; i < 1000; i++)
        {
            digests.Add((await store.InsertAsync(BitConverter.GetBytes(i))).Digest);
        }

        var references = Enumerable.Range(0, 10_000).Select(i => digests[i % 1000]);
        var result = await store.Maintenance.GarbageCollectAsync(references, Short);

        Assert.Equal(10_000, result.ReferencesRead);
        Assert.Equal(1000, result.ChunksMarked);
        Assert.Equal(9000, result.ReferencesDeduplicated);
    }

    [Fact]
    public async Task InsertDedupOfAnOldUnreferencedChunkDuringTheSweep_KeepsIt_RaceR5()
    {
        var (store, digest, data) = await StoreWithChunkAsync(1000, 10, old: true);
        await using var _ = store;
        bool raced = false;
        store.Hooks = new HookSet
        {
            // The plan saw an old atime and decided "remove"; now a writer deduplicates the chunk.
            GcRemoving = async name =>
            {
                if (name.Digest == digest)
                {
                    var r = await store.InsertAsync(data);
                    Assert.False(r.IsNew);
                    raced = true;
                }
            },
        };

        var result = await store.Maintenance.GarbageCollectAsync([], Short);

        Assert.True(raced);
        Assert.Equal(0, result.ChunksRemoved);
        Assert.Equal(data, await store.ReadAsync(digest));
    }

    [Fact]
    public async Task ChunkLockedByAnInsertDuringTheSweep_IsSkippedAsBusy()
    {
        var (store, digest, _) = await StoreWithChunkAsync(1000, 11, old: true);
        await using var __ = store;
        ChunkStore.Locking.ChunkLock? held = null;
        store.Hooks = new HookSet { GcRemoving = async name => held = await store.Locks.AcquireAsync(name.Digest, TimeSpan.FromSeconds(5)) };

        var result = await store.Maintenance.GarbageCollectAsync([], Short);
        held?.Dispose();

        Assert.Equal(1, result.SkippedBusy);
        Assert.Equal(0, result.ChunksRemoved);
        Assert.True(await store.ContainsAsync(digest));
    }

    [Fact]
    public async Task WriterThatStartedBeforeGcAndPublishesAfter_KeepsAllItsChunks()
    {
        await using var store = TestData.NewStore(_dir.Sub("writer"));
        var oldShared = TestData.Random(500, 20);
        var oldSharedDigest = (await store.InsertAsync(oldShared)).Digest;
        var oldGarbage = (await store.InsertAsync(TestData.Random(500, 21))).Digest;
        TestData.SetAccessTime(TestData.ChunkPath(store, oldSharedDigest), _longAgo);
        TestData.SetAccessTime(TestData.ChunkPath(store, oldGarbage), _longAgo);

        await using var session = await store.BeginWriteSessionAsync();
        var index = new List<ChunkDigest>();
        for (int i = 0; i < 20; i++)
        {
            index.Add((await session.InsertAsync(TestData.Random(500, 100 + i))).Digest);
        }

        index.Add((await session.InsertAsync(oldShared)).Digest); // dedup of an old chunk

        // GC runs before the writer publishes its index: none of the writer's chunks is referenced yet.
        var result = await store.Maintenance.GarbageCollectAsync([], new GarbageCollectionOptions { GracePeriod = TimeSpan.FromSeconds(1) });
        await session.CompleteAsync();

        Assert.Equal(1, result.ChunksRemoved);
        Assert.False(await store.ContainsAsync(oldGarbage));
        foreach (var d in index)
        {
            Assert.True(await store.ContainsAsync(d), $"chunk {d} of the live writer was removed");
        }
    }

    [Fact]
    public async Task RenameCorruptDuringTheSweep_NeitherAbortsGcNorResurrectsTheChunk()
    {
        var (store, digest, _) = await StoreWithChunkAsync(1000, 30, old: true);
        await using var _ = store;
        var other = (await store.InsertAsync(TestData.Random(100, 31))).Digest;
        TestData.SetAccessTime(TestData.ChunkPath(store, other), _longAgo);
        store.Hooks = new HookSet
        {
            GcRemoving = async name =>
            {
                if (name.Digest == digest && name.Kind == ChunkEntryKind.Chunk)
                {
                    Assert.Equal(0, await store.Maintenance.RenameCorruptAsync(digest));
                }
            },
        };

        var result = await store.Maintenance.GarbageCollectAsync([], Short);

        Assert.True(result.Completed);
        Assert.False(await store.ContainsAsync(digest));
        Assert.False(await store.ContainsAsync(other));
        Assert.True(File.Exists(TestData.BadPath(store, digest, 0)), "the fresh .bad copy is kept");
        Assert.Equal(1, result.ChunksRemoved);
    }

    [Fact]
    public async Task SecondGcOnTheSameStore_FailsFast()
    {
        await using var store = TestData.NewStore(_dir.Sub("single"));
        await using var other = ChunkRepository.Open(new ChunkStoreOptions { Root = store.Root });
        GarbageCollectionInProgressException? second = null;
        store.Hooks = new HookSet
        {
            GcMarked = async _ => second = await Assert.ThrowsAsync<GarbageCollectionInProgressException>(async () => await other.Maintenance.GarbageCollectAsync([])),
        };

        await store.Maintenance.GarbageCollectAsync([], Short);

        Assert.NotNull(second);
        Assert.True(second.IsTransient);
        var third = await other.Maintenance.GarbageCollectAsync([], Short); // free again afterwards
        Assert.True(third.Completed);
    }

    [Fact]
    public async Task FilesystemThatLosesAccessTimeUpdates_GcRefusesAndChangesNothing()
    {
        var (store, digest, _) = await StoreWithChunkAsync(100, 40, old: true);
        await using var _ = store;
        var backend = (FileSystemBackend)store.Backend;
        backend.TouchFunction = static _ => 0; // a filesystem that accepts but drops explicit atime updates
        var before = TestData.Snapshot(store.Root);

        var ex = await Assert.ThrowsAsync<AccessTimeUnreliableException>(async () => await store.Maintenance.GarbageCollectAsync([], Short));

        Assert.Contains("access-time", ex.Message, StringComparison.Ordinal);
        Assert.True(await store.ContainsAsync(digest));
        Assert.Equal(before, TestData.Snapshot(store.Root).Where(l => !l.StartsWith(".gc-status", StringComparison.Ordinal)).ToList());

        backend.TouchFunction = ChunkStore.Native.Libc.TouchAccessTime;
        var ok = await store.Maintenance.GarbageCollectAsync([], Short);
        Assert.Equal(1, ok.ChunksRemoved);
    }

    [Fact]
    public async Task CancelledDuringTheSweep_LeavesAConsistentStoreAndTheNextRunFinishes()
    {
        await using var store = TestData.NewStore(_dir.Sub("cancel"));
        var all = new Dictionary<ChunkDigest, byte[]>();
        for (int i = 0; i < 50; i++)
        {
            var data = TestData.Random(200, 500 + i);
            var d = (await store.InsertAsync(data)).Digest;
            all[d] = data;
            TestData.SetAccessTime(TestData.ChunkPath(store, d), _longAgo);
        }

        var keep = all.Keys.Take(10).ToList();
        using var cts = new CancellationTokenSource();
        int seen = 0;
        store.Hooks = new HookSet
        {
            GcRemoving = _ =>
            {
                if (++seen == 15)
                {
                    cts.Cancel();
                }

                return ValueTask.CompletedTask;
            },
        };

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.Maintenance.GarbageCollectAsync(keep, Short, null, cts.Token));
        Assert.False(store.Maintenance.ReadLastGarbageCollection()!.Completed);

        store.Hooks = NoInterleavingHooks.Instance;
        var result = await store.Maintenance.GarbageCollectAsync(keep, Short);
        Assert.True(result.Completed);
        foreach (var d in keep)
        {
            Assert.Equal(all[d], await store.ReadAsync(d));
        }

        int left = 0;
        await foreach (var d in store.ListAsync())
        {
            left++;
            Assert.Equal(all[d], await store.ReadAsync(d));
        }

        Assert.Equal(10, left);
    }
}
