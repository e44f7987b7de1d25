using ChunkStore.S3.Tests.Infrastructure;
using ChunkStore.Diagnostics;
using ChunkStore.Tests.Infrastructure;

namespace ChunkStore.S3.Tests;

public class S3RaceTests(S3BucketFixture fixture) : IClassFixture<S3BucketFixture>
{
    [S3Fact]
    public async Task O4_ReadMissOfCorruptObjectDuringRename_DoesNotReinsertIt()
    {
        await using var store = fixture.CreateStore();
        byte[] data = S3TestStore.RandomChunk();
        var digest = ChunkDigest.Compute(data);
        byte[] bad = (byte[])data.Clone();
        bad[5] ^= 0x10;
        await fixture.PutRawAsync(store.Key(digest), bad);
        var fetched = new TaskCompletionSource();
        var resume = new TaskCompletionSource();
        store.Repo.Hooks = new HookSet
        {
            S3Fetched = async _ =>
            {
                fetched.TrySetResult();
                await resume.Task;
            },
        };

        var read = Task.Run(async () => await store.Repo.ReadAsync(digest));
        await fetched.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var rename = Task.Run(async () => await store.Repo.Maintenance.RenameCorruptAsync(digest));
        await Task.Delay(300);
        Assert.False(rename.IsCompleted); // the read-miss holds the chunk lock from GET to cache insert
        resume.SetResult();

        await Assert.ThrowsAsync<ChunkCorruptException>(() => read);
        Assert.Equal(0, await rename);
        Assert.Null(store.LocalSize(digest));
        Assert.False(store.InLru(digest));
        Assert.False(await store.ObjectExistsAsync(digest));
        Assert.True((await store.Repo.InsertAsync(data)).IsNew);
        Assert.Equal(data, await store.Repo.ReadAsync(digest));
    }

    [S3Fact]
    public async Task R3_InsertDuringStalledRemoteRename_WaitsAndThenUploadsAGoodCopy()
    {
        await using var store = fixture.CreateStore();
        byte[] data = S3TestStore.RandomChunk();
        var digest = (await store.Repo.InsertAsync(data)).Digest;
        byte[] bad = (byte[])data.Clone();
        bad[1] ^= 2;
        await fixture.PutRawAsync(store.Key(digest), bad);
        var stalled = new TaskCompletionSource();
        var resume = new TaskCompletionSource();
        store.Repo.Hooks = new HookSet
        {
            S3Renaming = async _ =>
            {
                stalled.TrySetResult();
                await resume.Task;
            },
        };

        var rename = Task.Run(async () => await store.Repo.Maintenance.RenameCorruptAsync(digest));
        await stalled.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(store.InLru(digest)); // already dropped from the LRU and the local file renamed
        Assert.Null(store.LocalSize(digest));
        var insert = Task.Run(async () => await store.Repo.InsertAsync(data));
        await Task.Delay(300);
        Assert.False(insert.IsCompleted); // no 412 against the corrupt object that is about to move
        resume.SetResult();

        Assert.Equal(0, await rename);
        Assert.True((await insert).IsNew);
        Assert.Equal(data, await fixture.GetAsync(store.Key(digest)));
        Assert.Equal(bad, await fixture.GetAsync(store.BadKey(digest, 0)));
        Assert.True(store.InLru(digest));
    }

    [S3Fact]
    public async Task Eviction_WhileReaderHasFileOpen_ReaderKeepsFullContentAndMarkerKeepsAtime()
    {
        await using var store = fixture.CreateStore(cacheCapacityBytes: 10_000);
        byte[] first = S3TestStore.RandomChunk(10_000);
        var digest = (await store.Repo.InsertAsync(first)).Digest;
        store.AgeChunk(digest);
        var agedAtime = store.LocalAtime(digest);
        using var reader = new FileStream(store.LocalPath(digest), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);

        await store.Repo.InsertAsync(S3TestStore.RandomChunk(10_000)); // evicts the first
        for (int i = 0; i < 250 && (store.LocalSize(digest) != 0 || store.Backend.PendingEvictions > 0); i++)
        {
            await Task.Delay(20);
        }

        Assert.Equal(0, store.LocalSize(digest)); // replaced by a marker...
        Assert.False(store.InLru(digest));
        Assert.Equal(agedAtime, store.LocalAtime(digest)); // ...that keeps the GC clock where it was
        byte[] held = new byte[10_000];
        reader.ReadExactly(held);
        Assert.Equal(first, held); // never truncated in place
        Assert.Equal(first, await store.Repo.ReadAsync(digest)); // fetched again
    }

    [S3Fact]
    public async Task DeleteBatch_FlushesByAge()
    {
        // Max age zero: each queued key is sent on its own (and its lock released) before the next key is handled.
        await using var store = fixture.CreateStore(o => o.DeleteBatchMaxAge = TimeSpan.Zero);
        var digests = new List<ChunkDigest>();
        for (int i = 0; i < 3; i++)
        {
            digests.Add((await store.Repo.InsertAsync(S3TestStore.RandomChunk())).Digest);
            store.AgeChunk(digests[^1]);
        }

        await store.WaitForServerAgeAsync();
        int largest = 0;
        store.Repo.Hooks = new HookSet
        {
            S3DeletingBatch = keys =>
            {
                largest = Math.Max(largest, keys.Count);
                return ValueTask.CompletedTask;
            },
        };
        var result = await store.CollectAsync();

        Assert.Equal(3, result.ChunksRemoved);
        Assert.Equal(1, largest);
        Assert.Equal(3, store.Count(S3RequestKind.DeleteObjects));
    }

    [S3Fact]
    public async Task DeleteBatch_IsBoundedByCount()
    {
        await using var store = fixture.CreateStore(o => o.DeleteBatchSize = 2, cacheCapacityBytes: 0);
        for (int i = 0; i < 5; i++)
        {
            store.AgeChunk((await store.Repo.InsertAsync(S3TestStore.RandomChunk())).Digest);
        }

        await store.WaitForServerAgeAsync();
        var sizes = new List<int>();
        store.Repo.Hooks = new HookSet
        {
            S3DeletingBatch = keys =>
            {
                sizes.Add(keys.Count);
                Assert.Equal(keys.Count, keys.Count(k => k.StartsWith(store.Options.KeyPrefix + "/", StringComparison.Ordinal)));
                return ValueTask.CompletedTask;
            },
        };
        var result = await store.CollectAsync();

        Assert.Equal(5, result.ChunksRemoved);
        Assert.Equal([2, 2, 1], sizes);
        Assert.Empty(await fixture.ChunkKeysAsync(store.Options.KeyPrefix));
    }

    [S3Fact]
    public async Task Gc_CancelledMidSweep_ReleasesEveryLockAndNextGcFinishesTheJob()
    {
        await using var store = fixture.CreateStore(o => o.DeleteBatchSize = 2);
        var digests = new List<ChunkDigest>();
        byte[][] chunks = Enumerable.Range(0, 5).Select(_ => S3TestStore.RandomChunk()).ToArray();
        foreach (var c in chunks)
        {
            digests.Add((await store.Repo.InsertAsync(c)).Digest);
            store.AgeChunk(digests[^1]);
        }

        await store.WaitForServerAgeAsync();
        using var cts = new CancellationTokenSource();
        store.Repo.Hooks = new HookSet
        {
            S3DeletingBatch = _ =>
            {
                cts.Cancel();
                return ValueTask.CompletedTask;
            },
        };
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            store.Repo.Maintenance.GarbageCollectAsync(Array.Empty<ChunkDigest>(), S3TestStore.GcOptions(), null, cts.Token));

        Assert.Equal(0, store.Repo.Locks.HeldCount); // no lock leaked by the delete batch
        var remaining = await fixture.ChunkKeysAsync(store.Options.KeyPrefix);
        Assert.Equal(3, remaining.Count); // the first batch (2) was sent; the rest was left alone
        foreach (var d in digests)
        {
            // Invariant S1 holds at every stop: no local marker without its object.
            if (store.LocalSize(d) is not null)
            {
                Assert.True(await store.ObjectExistsAsync(d));
            }
        }

        store.Repo.Hooks = NoInterleavingHooks.Instance;
        var second = await store.CollectAsync();
        Assert.Empty(await fixture.ChunkKeysAsync(store.Options.KeyPrefix));
        Assert.Equal(3, second.ChunksRemoved);
    }
}
