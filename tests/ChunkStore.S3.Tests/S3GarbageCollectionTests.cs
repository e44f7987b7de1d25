using ChunkStore.Backends;
using ChunkStore.S3.Tests.Infrastructure;
using ChunkStore.Diagnostics;
using ChunkStore.Tests.Infrastructure;

namespace ChunkStore.S3.Tests;

public class S3GarbageCollectionTests(S3BucketFixture fixture, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<S3BucketFixture>
{
    [S3Fact]
    public async Task Gc_RemovesOldUnreferenced_KeepsReferencedAndRecent()
    {
        await using var store = fixture.CreateStore();
        var referenced = (await store.Repo.InsertAsync(S3TestStore.RandomChunk())).Digest;
        var garbage = (await store.Repo.InsertAsync(S3TestStore.RandomChunk(5000))).Digest;
        store.AgeChunk(referenced);
        store.AgeChunk(garbage);
        await store.WaitForServerAgeAsync();
        var recent = (await store.Repo.InsertAsync(S3TestStore.RandomChunk())).Digest;

        var result = await store.CollectAsync(referenced);

        Assert.True(result.Completed);
        Assert.Equal(1, result.ChunksRemoved);
        Assert.Equal(5000, result.BytesRemoved);
        Assert.Equal(1, result.ChunksMarked);
        Assert.True(await store.ObjectExistsAsync(referenced));
        Assert.True(await store.ObjectExistsAsync(recent));
        Assert.False(await store.ObjectExistsAsync(garbage));
        Assert.Null(store.LocalSize(garbage));
        Assert.False(store.InLru(garbage));
        Assert.True(store.InLru(referenced));
        Assert.Equal(0, result.MissingChunks);

        // Garbage gone: inserting it again uploads it again.
        Assert.True(store.Backend.Cache.Count == 2);
    }

    [S3Fact]
    public async Task Gc_DryRun_ChangesNothing()
    {
        await using var store = fixture.CreateStore();
        var garbage = (await store.Repo.InsertAsync(S3TestStore.RandomChunk())).Digest;
        store.AgeChunk(garbage);
        await store.WaitForServerAgeAsync();
        var result = await store.Repo.Maintenance.GarbageCollectAsync(Array.Empty<ChunkDigest>(), S3TestStore.GcOptions(dryRun: true));
        Assert.Equal(1, result.ChunksRemoved);
        Assert.True(await store.ObjectExistsAsync(garbage));
        Assert.NotNull(store.LocalSize(garbage));
        Assert.Equal(0, store.Count(S3RequestKind.DeleteObjects));
    }

    [S3Fact]
    public async Task Gc_DryRun_TouchesAndWritesNothing_YetCountsWhatTheRealRunDoes()
    {
        await using var store = fixture.CreateStore();
        var marked = (await store.Repo.InsertAsync(S3TestStore.RandomChunk())).Digest;       // referenced, marker
        var lost = (await store.Repo.InsertAsync(S3TestStore.RandomChunk())).Digest;         // referenced, no local state
        var garbage = (await store.Repo.InsertAsync(S3TestStore.RandomChunk())).Digest;      // unreferenced
        var missing = ChunkDigest.Compute(S3TestStore.RandomChunk());                          // referenced, never stored
        store.AgeChunk(marked);
        store.AgeChunk(garbage);
        store.Backend.Cache.UnsafeRemove(lost);
        File.Delete(store.LocalPath(lost));
        await store.WaitForServerAgeAsync();
        var atime = store.LocalAtime(marked);

        var dry = await store.Repo.Maintenance.GarbageCollectAsync([marked, lost, missing], S3TestStore.GcOptions(dryRun: true));

        Assert.Equal(atime, store.LocalAtime(marked));
        Assert.False(File.Exists(store.UsingPath(lost)));
        Assert.False(File.Exists(store.UsingPath(missing)));
        Assert.Null(store.LocalSize(lost));
        Assert.True(await store.ObjectExistsAsync(garbage));

        var real = await store.Repo.Maintenance.GarbageCollectAsync([marked, lost, missing], S3TestStore.GcOptions());

        Assert.Equal(real.ChunksRemoved, dry.ChunksRemoved);
        Assert.Equal(1, real.ChunksRemoved);
        Assert.Equal(real.ChunksInUse, dry.ChunksInUse);
        Assert.Equal(real.MissingChunks, dry.MissingChunks);
        Assert.Equal(1, real.MissingChunks);
        Assert.False(await store.ObjectExistsAsync(garbage));
        Assert.Equal(0, store.LocalSize(lost)); // the real run's .using became a marker
    }

    [S3Fact]
    public async Task Gc_RequestCounts_AreOneListPer1000ObjectsAndOneDeletePerBatch()
    {
        await using var store = fixture.CreateStore(o => o.DeleteBatchSize = 1000, cacheCapacityBytes: 0);
        const int n = 1100, old = 1050;
        var digests = new ChunkDigest[n];
        var clock = System.Diagnostics.Stopwatch.StartNew();
        async Task InsertRange(int from, int to) => await Parallel.ForAsync(from, to, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, ct) =>
        {
            digests[i] = (await store.Repo.InsertAsync(BitConverter.GetBytes(i).Concat(Guid.NewGuid().ToByteArray()).ToArray(), ct)).Digest;
        });
        await InsertRange(0, old);
        output.WriteLine($"{old} new inserts (20 B, 8 in flight): {clock.ElapsedMilliseconds} ms");
        for (int i = 0; i < old; i++)
        {
            store.AgeChunk(digests[i]);
        }

        await store.WaitForServerAgeAsync();
        await InsertRange(old, n); // recent: inside the grace period
        Assert.Equal(n, store.Count(S3RequestKind.Put));
        for (int i = old; i < n; i++)
        {
            Assert.True(await store.Repo.TouchAsync(digests[i])); // (0 requests: local markers) still recent on a slow machine
        }

        long lists = store.Count(S3RequestKind.List), deletes = store.Count(S3RequestKind.DeleteObjects), total = store.Requests.Total;
        clock.Restart();
        var result = await store.CollectAsync(digests[..10]);
        output.WriteLine($"GC over {n} objects, 1040 deleted: {clock.ElapsedMilliseconds} ms, {result.RemoteRequests} requests");

        Assert.Equal(2, store.Count(S3RequestKind.List) - lists); // ⌈1100/1000⌉
        Assert.Equal(2, store.Count(S3RequestKind.DeleteObjects) - deletes); // ⌈1040/1000⌉
        Assert.Equal(1040, result.ChunksRemoved);
        Assert.Equal(10, result.ChunksInUse); // marked
        Assert.Equal(50, result.ChunksPending); // recent but unreferenced: inside the grace period
        Assert.Equal(5, store.Requests.Total - total); // + 1 GET of the store identity
        Assert.Equal(5, result.RemoteRequests);
        Assert.Equal(60, (await fixture.ChunkKeysAsync(store.Options.KeyPrefix)).Count);
    }

    [S3Fact]
    public async Task R1_GcDuringUploadBeforeMarker_SkipsKeyAndObjectSurvives()
    {
        // The object is old in server time (a lost cache: the insert gets 412), so only the lock keeps the sweep away.
        await using var store = fixture.CreateStore();
        byte[] data = S3TestStore.RandomChunk();
        var digest = ChunkDigest.Compute(data);
        await fixture.PutRawAsync(store.Key(digest), data);
        await store.WaitForServerAgeAsync();
        var uploaded = new TaskCompletionSource();
        var release = new TaskCompletionSource();
        store.Repo.Hooks = new HookSet
        {
            S3Uploaded = async d =>
            {
                uploaded.SetResult();
                await release.Task;
            },
        };

        var insert = Task.Run(async () => await store.Repo.InsertAsync(data));
        await uploaded.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(await store.ObjectExistsAsync(digest));
        Assert.Null(store.LocalSize(digest)); // the dangerous window: object without marker

        var result = await store.CollectAsync();
        release.SetResult();
        var inserted = await insert;

        Assert.False(inserted.IsNew); // 412: the object existed
        Assert.Equal(1, result.SkippedBusy);
        Assert.Equal(0, result.ChunksRemoved);
        Assert.True(await store.ObjectExistsAsync(digest));
        Assert.Equal(data.Length, store.LocalSize(digest));
        Assert.Equal(data, await store.Repo.ReadAsync(digest));
    }

    [S3Fact]
    public async Task R2_InsertDuringQueuedDelete_WaitsForDeleteThenUploadsAgain()
    {
        await using var store = fixture.CreateStore();
        byte[] data = S3TestStore.RandomChunk();
        var digest = (await store.Repo.InsertAsync(data)).Digest;
        store.AgeChunk(digest);
        await store.WaitForServerAgeAsync();
        Task<ChunkInsertResult>? insert = null;
        bool completedWhileQueued = true;
        store.Repo.Hooks = new HookSet
        {
            S3DeletingBatch = async keys =>
            {
                Assert.Contains(store.Key(digest), keys);
                insert = Task.Run(async () => await store.Repo.InsertAsync(data));
                await Task.Delay(500);
                completedWhileQueued = insert.IsCompleted;
            },
        };

        var result = await store.CollectAsync();
        var inserted = await insert!;

        Assert.False(completedWhileQueued); // blocked on the lock the delete batch holds
        Assert.Equal(1, result.ChunksRemoved);
        Assert.True(inserted.IsNew); // 200 after the delete, not a 412 against the doomed object
        Assert.True(await store.ObjectExistsAsync(digest));
        Assert.Equal(data.Length, store.LocalSize(digest));
        Assert.True(store.InLru(digest));
    }

    [S3Fact]
    public async Task O1_LruHitDedupDuringWriterSession_ProtectsChunkFromGc()
    {
        await using var store = fixture.CreateStore();
        byte[] data = S3TestStore.RandomChunk();
        var digest = (await store.Repo.InsertAsync(data)).Digest;
        store.AgeChunk(digest);
        Assert.True(store.InLru(digest));
        await store.WaitForServerAgeAsync(); // only the dedup touch below protects it

        long before = store.Requests.Total;
        var dup = await store.Repo.InsertAsync(data); // LRU hit
        Assert.False(dup.IsNew);
        Assert.Equal(0, store.Requests.Total - before);

        var result = await store.CollectAsync(); // nothing references it yet (the backup's index is not written)
        Assert.Equal(0, result.ChunksRemoved);
        Assert.True(await store.ObjectExistsAsync(digest));
        Assert.Equal(data, await store.Repo.ReadAsync(digest));
    }

    [S3Fact]
    public async Task O2_UncachedUploadDuringGc_LeavesMarkerAndSurvives()
    {
        await using var store = fixture.CreateStore(cacheCapacityBytes: 0);
        byte[] data = S3TestStore.RandomChunk();
        var digest = (await store.Repo.InsertAsync(data)).Digest;
        Assert.Equal(0, store.LocalSize(digest));

        var result = await store.CollectAsync();

        Assert.Equal(0, result.ChunksRemoved);
        Assert.Equal(1, result.ChunksPending);
        Assert.True(await store.ObjectExistsAsync(digest));
    }

    [S3Fact]
    public async Task O3_BadKeysAndForeignKeys_DoNotAbortGcOrCreateGoodMarkers()
    {
        await using var store = fixture.CreateStore();
        byte[] data = S3TestStore.RandomChunk();
        var digest = ChunkDigest.Compute(data);
        string prefix = store.Options.KeyPrefix;
        string hex = digest.ToString();

        // A bad object with an old local .bad file, a recent bad object with a recent local .bad, and foreign keys.
        await fixture.PutRawAsync(store.BadKey(digest, 0), [1, 2, 3]);
        await fixture.PutRawAsync(store.BadKey(digest, 1), [4, 5, 6]);
        await store.WaitForServerAgeAsync();
        Directory.CreateDirectory(Path.GetDirectoryName(store.BadPath(digest, 0))!);
        File.WriteAllBytes(store.BadPath(digest, 0), [1, 2, 3]);
        File.WriteAllBytes(store.BadPath(digest, 1), [4, 5, 6]);
        S3TestStore.Age(store.BadPath(digest, 0));
        string[] foreign = [$"{prefix}/.chunks/{hex[..4]}/{hex}.0.bad/.0.bad", $"{prefix}/.chunks/zzzz/foo", $"{prefix}/.chunks/{hex[..4]}/{hex}.using"];
        foreach (var key in foreign)
        {
            await fixture.PutRawAsync(key, [9]);
        }

        var result = await store.CollectAsync();

        Assert.True(result.Completed);
        Assert.True(result.BadRemoved == 1, System.Text.Json.JsonSerializer.Serialize(result));
        Assert.Equal(1, result.BadKept);
        Assert.Equal(3, result.UnknownEntries);
        Assert.False(await fixture.ExistsAsync(store.BadKey(digest, 0)));
        Assert.True(await fixture.ExistsAsync(store.BadKey(digest, 1)));
        Assert.False(File.Exists(store.BadPath(digest, 0)));
        Assert.Null(store.LocalSize(digest)); // no good marker from a bad key
        foreach (var key in foreign)
        {
            Assert.True(await fixture.ExistsAsync(key), key);
        }

        // The good chunk can still be inserted (nothing claims it).
        Assert.True((await store.Repo.InsertAsync(data)).IsNew);
    }

    [S3Fact]
    public async Task R6_LostCache_ReferencedChunksGetUsingThenMarker_UnreferencedObjectsGo()
    {
        await using var store = fixture.CreateStore();
        byte[] kept = S3TestStore.RandomChunk(), dropped = S3TestStore.RandomChunk();
        var keptDigest = (await store.Repo.InsertAsync(kept)).Digest;
        var droppedDigest = (await store.Repo.InsertAsync(dropped)).Digest;
        var missingDigest = ChunkDigest.Compute(S3TestStore.RandomChunk()); // referenced, never stored

        // Lose the local cache (both files), as after a disk replacement.
        foreach (var d in new[] { keptDigest, droppedDigest })
        {
            store.Backend.Cache.UnsafeRemove(d);
            File.Delete(store.LocalPath(d));
        }

        await store.WaitForServerAgeAsync();

        var result = await store.CollectAsync(keptDigest, missingDigest);

        Assert.True(await store.ObjectExistsAsync(keptDigest));
        Assert.Equal(0, store.LocalSize(keptDigest)); // .using became a marker
        Assert.False(File.Exists(store.UsingPath(keptDigest)));
        Assert.False(await store.ObjectExistsAsync(droppedDigest));
        Assert.Equal(1, result.MissingChunks);
        Assert.Equal([missingDigest], result.MissingSample);
        Assert.False(File.Exists(store.UsingPath(missingDigest)));
        Assert.Null(store.LocalSize(missingDigest));
    }

    [S3Fact]
    public async Task Phase3_RemovesOldMarkerWhoseObjectVanished()
    {
        await using var store = fixture.CreateStore();
        byte[] data = S3TestStore.RandomChunk();
        var digest = (await store.Repo.InsertAsync(data)).Digest;
        await fixture.Client.DeleteObjectAsync(fixture.Bucket, store.Key(digest)); // deleted outside the store
        store.AgeChunk(digest);

        var result = await store.CollectAsync();

        Assert.Equal(1, result.MarkersRemoved);
        Assert.Null(store.LocalSize(digest));
        Assert.False(store.InLru(digest));
        Assert.True((await store.Repo.InsertAsync(data)).IsNew); // re-uploaded, not deduplicated against nothing
        Assert.True(await store.ObjectExistsAsync(digest));
    }

    [S3Fact]
    public async Task Gc_AfterRenameCorrupt_KeepsBadCopyWhileReferenced()
    {
        await using var store = fixture.CreateStore();
        var digest = (await store.Repo.InsertAsync(S3TestStore.RandomChunk())).Digest;
        Assert.Equal(0, await store.Repo.Maintenance.RenameCorruptAsync(digest));
        S3TestStore.Age(store.BadPath(digest, 0));

        var result = await store.CollectAsync(digest); // still referenced: phase 1 touches the .bad copy

        Assert.Equal(1, result.MissingChunks);
        Assert.Equal(1, result.BadKept);
        Assert.True(await fixture.ExistsAsync(store.BadKey(digest, 0)));
        Assert.False(File.Exists(store.UsingPath(digest))); // no .using for a chunk known bad (R6b)
        Assert.Null(store.LocalSize(digest));
    }
}
