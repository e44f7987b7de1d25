using ChunkStore.S3.Tests.Infrastructure;
using ChunkStore.Remote;
using ChunkStore.Tests.Infrastructure;

namespace ChunkStore.S3.Tests;

/// <summary>
/// Paths on which garbage collection or the local cache lost (or would lose) a chunk a user relies on: each test
/// builds the interleaving deterministically against the real server (issue 12).
/// </summary>
public class S3DataLossTests(S3BucketFixture fixture) : IClassFixture<S3BucketFixture>
{
    private static GarbageCollectionOptions ShortGrace => new() { GracePeriod = TimeSpan.FromSeconds(1), WriterSafetyMargin = TimeSpan.FromSeconds(1) };

    [S3Fact]
    public async Task Gc_ReadFillsTheCacheBetweenMarkAndSweep_KeepsTheReferencedChunk()
    {
        // A lost (here: new) cache: mark writes .using for the referenced digest; a read then fills the cache with the
        // object's old LastModified as the file's atime. The sweep must still see the chunk as in use (.using is newer).
        await using var store = fixture.CreateStore();
        byte[] data = S3TestStore.RandomChunk(10_000);
        var digest = ChunkDigest.Compute(data);
        await fixture.PutRawAsync(store.Key(digest), data);
        await Task.Delay(TimeSpan.FromSeconds(5)); // the object is older than the cutoff (grace 1 s) in server time too
        store.Repo.Hooks = new HookSet
        {
            GcMarked = async _ => Assert.Equal(data, await store.Repo.ReadAsync(digest)),
        };

        var result = await store.Repo.Maintenance.GarbageCollectAsync([digest], ShortGrace);

        Assert.True(await store.ObjectExistsAsync(digest), "the referenced chunk's object was deleted");
        Assert.Equal(0, result.ChunksRemoved);
        Assert.Equal(0, result.MissingChunks);
        Assert.NotNull(store.LocalSize(digest));
        Assert.False(File.Exists(store.UsingPath(digest))); // the filled file stands for the chunk now
        Assert.True(store.LocalAtime(digest) >= result.StartedAt - TimeSpan.FromSeconds(1), "the file carries the mark's time");
    }

    [S3Fact]
    public async Task Gc_ObjectWithoutLocalStateNewerThanTheCutoff_IsKept()
    {
        // A marker write that failed after a successful PUT (disk full), a re-created cache, another root: the
        // object of a live session has no local state. Its LastModified (server time) is inside the grace period.
        await using var store = fixture.CreateStore();
        var digest = (await store.Repo.InsertAsync(S3TestStore.RandomChunk(10_000))).Digest;
        File.Delete(store.LocalPath(digest));
        store.Backend.Cache.UnsafeRemove(digest);

        var result = await store.CollectAsync(); // grace 1 minute; nothing referenced

        Assert.True(await store.ObjectExistsAsync(digest), "a seconds-old object was deleted");
        Assert.Equal(0, result.ChunksRemoved);
        Assert.Equal(1, result.ChunksPending);
    }

    [S3Fact]
    public async Task RenameCorrupt_FailingBeforeAnyDeleteWasSent_LeavesNoPendingRecord()
    {
        await using var store = fixture.CreateStore(o => o.DeleteSettleTime = TimeSpan.FromMinutes(5));
        byte[] data = S3TestStore.RandomChunk(10_000);
        var digest = (await store.Repo.InsertAsync(data)).Digest;
        store.Repo.Hooks = new HookSet { S3Renaming = _ => throw new IOException("injected: the rename stops before CopyObject") };

        await Assert.ThrowsAnyAsync<Exception>(async () => await store.Repo.Maintenance.RenameCorruptAsync(digest));

        Assert.Equal(0, store.Backend.PendingDeletes.CountRecords());
        Assert.Null(store.Backend.PendingDeletes.Unsettled(store.Key(digest)));
    }

    [S3Fact]
    public async Task Insert_WaitingForAnUnsettledDelete_DoesNotHoldTheChunkLock()
    {
        await using var store = fixture.CreateStore(o => o.DeleteSettleTime = TimeSpan.FromSeconds(4));
        byte[] data = S3TestStore.RandomChunk(10_000);
        var digest = ChunkDigest.Compute(data);
        string key = store.Key(digest);
        await fixture.PutRawAsync(key, data);
        using (var intent = store.Backend.PendingDeletes.Begin([key]))
        {
            intent.Sending(); // a dead sender's record
        }

        var insert = Task.Run(async () => await store.Repo.InsertAsync(data));
        await Task.Delay(TimeSpan.FromSeconds(1.5)); // the insert has seen the record and waits

        Assert.False(insert.IsCompleted);
        using (var held = store.Repo.Locks.TryAcquire(digest))
        {
            Assert.True(held is not null, "the insert waits out the delete while holding the chunk lock");
        }

        var result = await insert;
        Assert.Equal(data, await fixture.GetAsync(key));
        Assert.NotNull(store.LocalSize(digest));
        _ = result;
    }

    [S3Fact]
    public async Task Gc_ReferencedChunkDeletedFromTheBucket_IsReportedMissingAndUploadedAgain()
    {
        await using var store = fixture.CreateStore(cacheCapacityBytes: 0);
        byte[] data = S3TestStore.RandomChunk(10_000);
        var digest = (await store.Repo.InsertAsync(data)).Digest;
        await fixture.Client.DeleteObjectAsync(fixture.Bucket, store.Key(digest)); // behind the store's back

        var result = await store.CollectAsync(digest);

        Assert.Equal(1, result.MissingChunks);
        Assert.Contains(digest, result.MissingSample);
        Assert.Null(store.LocalSize(digest));
        var again = await store.Repo.InsertAsync(data);
        Assert.True(again.IsNew);
        Assert.Equal(data, await fixture.GetAsync(store.Key(digest)));
    }

    [S3Fact]
    public async Task Gc_UnreferencedStaleMarkerOfADeletedObject_IsDropped()
    {
        await using var store = fixture.CreateStore(cacheCapacityBytes: 0);
        var digest = (await store.Repo.InsertAsync(S3TestStore.RandomChunk(10_000))).Digest;
        await fixture.Client.DeleteObjectAsync(fixture.Bucket, store.Key(digest));

        var result = await store.CollectAsync(); // the marker is fresh: only its missing object makes it stale

        Assert.Null(store.LocalSize(digest));
        Assert.Equal(0, result.MissingChunks);
        Assert.False(await store.Repo.ContainsAsync(digest));
    }

    [S3Fact]
    public async Task ReadMiss_AnsweredNotFound_DropsTheStaleMarker()
    {
        await using var store = fixture.CreateStore(cacheCapacityBytes: 0);
        byte[] data = S3TestStore.RandomChunk(10_000);
        var digest = (await store.Repo.InsertAsync(data)).Digest;
        Assert.Equal(0, store.LocalSize(digest)); // a marker
        await fixture.Client.DeleteObjectAsync(fixture.Bucket, store.Key(digest));

        await Assert.ThrowsAsync<ChunkNotFoundException>(async () => await store.Repo.ReadAsync(digest));

        Assert.Null(store.LocalSize(digest));
        Assert.False(await store.Repo.ContainsAsync(digest));
        Assert.True((await store.Repo.InsertAsync(data)).IsNew); // uploads again instead of trusting the marker
        Assert.True(await store.ObjectExistsAsync(digest));
    }

    [S3Fact]
    public async Task Contains_AfterAnotherInstanceCollectedTheChunk_IsFalse()
    {
        await using var store = fixture.CreateStore();
        var digest = (await store.Repo.InsertAsync(S3TestStore.RandomChunk(10_000))).Digest;
        Assert.True(store.InLru(digest));
        store.AgeChunk(digest);
        await store.WaitForServerAgeAsync();

        // A second instance on the same local root (another process) collects it.
        await using (var other = S3ChunkStore.Open(new ChunkStoreOptions { Root = store.Root }, store.Options))
        {
            var result = await other.Maintenance.GarbageCollectAsync(Array.Empty<ChunkDigest>(), S3TestStore.GcOptions());
            Assert.Equal(1, result.ChunksRemoved);
        }

        Assert.False(await store.ObjectExistsAsync(digest));
        Assert.False(await store.Repo.ContainsAsync(digest));
    }
}
