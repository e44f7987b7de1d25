using ChunkStore.S3.Tests.Infrastructure;

namespace ChunkStore.S3.Tests;

public class S3BasicTests(S3BucketFixture fixture) : IClassFixture<S3BucketFixture>
{
    [S3Fact]
    public async Task Insert_NewChunk_IsOnePutAndCachesFullFileAndLruEntry()
    {
        await using var store = fixture.CreateStore();
        byte[] data = S3TestStore.RandomChunk();
        long before = store.Requests.Total;

        var result = await store.Repo.InsertAsync(data);

        Assert.True(result.IsNew);
        Assert.Equal(1, store.Requests.Total - before);
        Assert.Equal(1, store.Count(S3RequestKind.Put));
        Assert.Equal(data, await fixture.GetAsync(store.Key(result.Digest)));
        Assert.Equal(data.Length, store.LocalSize(result.Digest));
        Assert.True(store.InLru(result.Digest));
    }

    [S3Fact]
    public async Task Insert_KnownChunk_MakesNoRequestAndTouches()
    {
        await using var store = fixture.CreateStore();
        byte[] data = S3TestStore.RandomChunk();
        var first = await store.Repo.InsertAsync(data);
        store.AgeChunk(first.Digest);
        long before = store.Requests.Total;

        var second = await store.Repo.InsertAsync(data);

        Assert.False(second.IsNew);
        Assert.Equal(0, store.Requests.Total - before);
        Assert.True(store.LocalAtime(first.Digest) > DateTimeOffset.UtcNow.AddMinutes(-1));
    }

    [S3Fact]
    public async Task Insert_WithoutCache_WritesMarkerAndKnownChunkStillNeedsNoRequest()
    {
        await using var store = fixture.CreateStore(cacheCapacityBytes: 0);
        byte[] data = S3TestStore.RandomChunk();
        var first = await store.Repo.InsertAsync(data);

        Assert.Equal(0, store.LocalSize(first.Digest)); // O-2: a marker even without caching
        Assert.False(store.InLru(first.Digest));
        long before = store.Requests.Total;
        Assert.False((await store.Repo.InsertAsync(data)).IsNew);
        Assert.Equal(0, store.Requests.Total - before);
    }

    [S3Fact]
    public async Task Insert_KnownChunkWithTruncatedLocalCopy_RepairsLocalCopyWithoutRequests()
    {
        await using var store = fixture.CreateStore();
        byte[] data = S3TestStore.RandomChunk();
        var digest = (await store.Repo.InsertAsync(data)).Digest;
        File.WriteAllBytes(store.LocalPath(digest), data[..100]);
        long before = store.Requests.Total;

        Assert.False((await store.Repo.InsertAsync(data)).IsNew);

        Assert.Equal(0, store.Requests.Total - before);
        Assert.Equal(data, File.ReadAllBytes(store.LocalPath(digest)));
        Assert.Equal(data, await store.Repo.ReadAsync(digest));
    }

    [S3Fact]
    public async Task ConcurrentInserts_OfOneChunk_StoreItOnceAndExactlyOneIsNew()
    {
        await using var store = fixture.CreateStore();
        byte[] data = S3TestStore.RandomChunk();
        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () => await store.Repo.InsertAsync(data))));
        Assert.Single(results, r => r.IsNew);
        Assert.Equal(1, store.Count(S3RequestKind.Put));
        Assert.Equal(data, await fixture.GetAsync(store.Key(results[0].Digest)));
    }

    [S3Fact]
    public async Task Insert_WhenObjectExistsButNoLocalState_Gets412AndReportsDuplicateWithMarker()
    {
        await using var store = fixture.CreateStore();
        byte[] data = S3TestStore.RandomChunk();
        var digest = ChunkDigest.Compute(data);
        await fixture.PutRawAsync(store.Key(digest), data);

        var result = await store.Repo.InsertAsync(data);

        Assert.False(result.IsNew);
        Assert.Equal(1, store.Count(S3RequestKind.Put));
        Assert.NotNull(store.LocalSize(digest));
    }

    [S3Fact]
    public async Task Insert_WithoutConditionalWrites_HeadsThenPuts()
    {
        await using var store = fixture.CreateStore(o => o.UseConditionalWrites = false);
        byte[] data = S3TestStore.RandomChunk();
        Assert.True((await store.Repo.InsertAsync(data)).IsNew);
        Assert.Equal(1, store.Count(S3RequestKind.Head));
        Assert.Equal(1, store.Count(S3RequestKind.Put));

        // Local state gone: HEAD finds it, no second PUT.
        var digest = ChunkDigest.Compute(data);
        store.Backend.Cache.UnsafeRemove(digest);
        File.Delete(store.LocalPath(digest));
        Assert.False((await store.Repo.InsertAsync(data)).IsNew);
        Assert.Equal(2, store.Count(S3RequestKind.Head));
        Assert.Equal(1, store.Count(S3RequestKind.Put));
    }

    [S3Fact]
    public async Task Read_CacheHit_MakesNoRequest_CacheMiss_IsOneVerifiedGetThenCached()
    {
        await using var store = fixture.CreateStore();
        byte[] data = S3TestStore.RandomChunk(100_000);
        var digest = (await store.Repo.InsertAsync(data)).Digest;
        long before = store.Requests.Total;
        Assert.Equal(data, await store.Repo.ReadAsync(digest));
        Assert.Equal(0, store.Requests.Total - before);

        // Turn the full file into a marker, as an eviction would.
        store.Backend.Cache.UnsafeRemove(digest);
        File.WriteAllBytes(store.LocalPath(digest), []);
        var markerAtime = store.LocalAtime(digest);

        Assert.Equal(data, await store.Repo.ReadAsync(digest));
        Assert.Equal(1, store.Count(S3RequestKind.Get));
        Assert.Equal(data.Length, store.LocalSize(digest));
        Assert.True(store.InLru(digest));
        Assert.Equal(markerAtime, store.LocalAtime(digest)); // a read does not touch

        Assert.Equal(data, await store.Repo.ReadAsync(digest));
        Assert.Equal(1, store.Count(S3RequestKind.Get));
    }

    [S3Fact]
    public async Task Read_Missing_ThrowsChunkNotFound()
    {
        await using var store = fixture.CreateStore();
        var digest = ChunkDigest.Compute(S3TestStore.RandomChunk());
        await Assert.ThrowsAsync<ChunkNotFoundException>(async () => await store.Repo.ReadAsync(digest));
        Assert.False(await store.Repo.ContainsAsync(digest));
    }

    [S3Fact]
    public async Task Read_CorruptObject_ThrowsCorruptAndCachesNothing()
    {
        // O-4: a fetched object is verified before it is cached.
        await using var store = fixture.CreateStore();
        byte[] data = S3TestStore.RandomChunk();
        var digest = ChunkDigest.Compute(data);
        byte[] bad = (byte[])data.Clone();
        bad[17] ^= 0x40;
        await fixture.PutRawAsync(store.Key(digest), bad);

        await Assert.ThrowsAsync<ChunkCorruptException>(async () => await store.Repo.ReadAsync(digest));
        Assert.Null(store.LocalSize(digest));
        Assert.False(store.InLru(digest));
    }

    [S3Fact]
    public async Task Contains_And_Touch_UseLocalStateFirst_AndHeadOtherwise()
    {
        await using var store = fixture.CreateStore();
        byte[] data = S3TestStore.RandomChunk();
        var digest = (await store.Repo.InsertAsync(data)).Digest;
        long before = store.Requests.Total;
        Assert.True(await store.Repo.ContainsAsync(digest));
        store.AgeChunk(digest);
        Assert.True(await store.Repo.TouchAsync(digest));
        Assert.True(store.LocalAtime(digest) > DateTimeOffset.UtcNow.AddMinutes(-1));
        Assert.Equal(0, store.Requests.Total - before);

        // Without local state: Touch HEADs and writes a marker under the lock.
        store.Backend.Cache.UnsafeRemove(digest);
        File.Delete(store.LocalPath(digest));
        Assert.True(await store.Repo.TouchAsync(digest));
        Assert.Equal(0, store.LocalSize(digest));
        Assert.Equal(1, store.Count(S3RequestKind.Head));
    }

    [S3Fact]
    public async Task Verify_CorruptObject_RenamesItAndNextInsertUploadsAgain()
    {
        // R3/R4 (#6961): after a rename the LRU and the local file no longer claim the chunk.
        await using var store = fixture.CreateStore();
        byte[] data = S3TestStore.RandomChunk();
        var digest = (await store.Repo.InsertAsync(data)).Digest;
        byte[] bad = (byte[])data.Clone();
        bad[0] ^= 1;
        await fixture.PutRawAsync(store.Key(digest), bad);
        File.WriteAllBytes(store.LocalPath(digest), []); // the local full copy is gone (evicted); the object is bad
        store.Backend.Cache.UnsafeRemove(digest);

        var verify = await store.Repo.VerifyAsync(digest);

        Assert.Equal(ChunkVerifyStatus.Corrupt, verify.Status);
        Assert.Equal(0, verify.BadIndex);
        Assert.False(await fixture.ExistsAsync(store.Key(digest)));
        Assert.Equal(bad, await fixture.GetAsync(store.BadKey(digest, 0)));
        Assert.True(File.Exists(store.BadPath(digest, 0)));
        Assert.Null(store.LocalSize(digest));
        Assert.False(store.InLru(digest));

        long puts = store.Count(S3RequestKind.Put);
        var again = await store.Repo.InsertAsync(data);
        Assert.True(again.IsNew);
        Assert.Equal(puts + 1, store.Count(S3RequestKind.Put));
        Assert.Equal(data, await fixture.GetAsync(store.Key(digest)));
    }

    [S3Fact]
    public async Task Verify_CorruptObjectBehindAGoodCachedCopy_IsFoundAndRenamed()
    {
        // Verification checks the object itself: a good full local copy must not hide a corrupt object, which
        // every later insert would deduplicate against (412) and every cache miss would fail on.
        await using var store = fixture.CreateStore();
        byte[] data = S3TestStore.RandomChunk();
        var digest = (await store.Repo.InsertAsync(data)).Digest;
        Assert.True(store.InLru(digest));
        byte[] bad = (byte[])data.Clone();
        bad[^1] ^= 0x80;
        await fixture.PutRawAsync(store.Key(digest), bad);
        long gets = store.Count(S3RequestKind.Get);

        var verify = await store.Repo.VerifyAsync(digest);

        Assert.Equal(ChunkVerifyStatus.Corrupt, verify.Status);
        Assert.True(store.Count(S3RequestKind.Get) > gets, "verify must GET the object");
        Assert.False(await fixture.ExistsAsync(store.Key(digest)));
        Assert.False(store.InLru(digest));
        Assert.True((await store.Repo.InsertAsync(data)).IsNew);
        Assert.Equal(data, await fixture.GetAsync(store.Key(digest)));
    }

    [S3Fact]
    public async Task RenameCorrupt_OfCachedChunk_DropsLruEntryAndMovesObject()
    {
        await using var store = fixture.CreateStore();
        byte[] data = S3TestStore.RandomChunk();
        var digest = (await store.Repo.InsertAsync(data)).Digest;
        Assert.True(store.InLru(digest));

        Assert.Equal(0, await store.Repo.Maintenance.RenameCorruptAsync(digest));
        Assert.Null(await store.Repo.Maintenance.RenameCorruptAsync(digest)); // second time: nothing left

        Assert.False(store.InLru(digest));
        Assert.Null(store.LocalSize(digest));
        Assert.False(await fixture.ExistsAsync(store.Key(digest)));
        Assert.True(await fixture.ExistsAsync(store.BadKey(digest, 0)));
        Assert.Equal(data, File.ReadAllBytes(store.BadPath(digest, 0)));
        Assert.True((await store.Repo.InsertAsync(data)).IsNew);
    }

    [S3Fact]
    public async Task Verify_GoodChunk_IsOk_AndRenamesNothing()
    {
        await using var store = fixture.CreateStore();
        byte[] data = S3TestStore.RandomChunk();
        var digest = (await store.Repo.InsertAsync(data)).Digest;
        Assert.Equal(ChunkVerifyStatus.Ok, (await store.Repo.VerifyAsync(digest)).Status);
        Assert.True(await fixture.ExistsAsync(store.Key(digest)));
        Assert.Equal(0, store.Count(S3RequestKind.Copy));
    }

    [S3Fact]
    public async Task List_ReturnsChunksButNotBadCopies()
    {
        await using var store = fixture.CreateStore();
        var a = (await store.Repo.InsertAsync(S3TestStore.RandomChunk())).Digest;
        var b = (await store.Repo.InsertAsync(S3TestStore.RandomChunk())).Digest;
        await store.Repo.Maintenance.RenameCorruptAsync(b);
        var listed = new List<ChunkDigest>();
        await foreach (var d in store.Repo.ListAsync())
        {
            listed.Add(d);
        }

        Assert.Equal([a], listed);
    }

    [S3Fact]
    public void Open_MissingBucket_FailsWithPermanentNetworkError()
    {
        var s3 = fixture.Options("x");
        s3.Bucket = "no-such-bucket-" + Guid.NewGuid().ToString("N")[..8];
        s3.RetryCount = 0;
        var ex = Assert.Throws<ChunkStorageException>(() => S3ChunkStore.Create(new ChunkStoreOptions { Root = fixture.NewRoot() }, s3));
        Assert.Equal(StorageErrorKind.Network, ex.Kind);
        Assert.False(ex.IsTransient); // 404 NoSuchBucket: a retry loop would never end
        Assert.Contains(s3.Bucket, ex.Message);
    }

    [S3Fact]
    public async Task Insert_WhenBucketVanished_FailsTypedAndLeavesNoMarker()
    {
        string bucket = "cs-vanish-" + Guid.NewGuid().ToString("N")[..12];
        await fixture.Client.PutBucketAsync(bucket);
        var s3 = fixture.Options("p");
        s3.Bucket = bucket;
        s3.RetryCount = 1;
        await using var repo = S3ChunkStore.Create(new ChunkStoreOptions { Root = fixture.NewRoot() }, s3);
        await fixture.Client.DeleteObjectAsync(bucket, "p/" + ChunkStore.Remote.RemoteStoreIdentity.ObjectName);
        await fixture.Client.DeleteBucketAsync(bucket);
        byte[] data = S3TestStore.RandomChunk();

        var ex = await Assert.ThrowsAsync<ChunkStorageException>(async () => await repo.InsertAsync(data));

        Assert.Equal(StorageErrorKind.Network, ex.Kind);
        Assert.False(ex.IsTransient); // 404 NoSuchBucket: retrying does not help
        Assert.Equal(ChunkDigest.Compute(data), ex.Digest);
        Assert.Contains("404", ex.Message);
        Assert.False(File.Exists(((S3ChunkBackend)repo.Backend).Layout.ChunkPath(ChunkDigest.Compute(data))));
        Assert.Equal(1, ((S3ChunkBackend)repo.Backend).Requests.Count(S3RequestKind.Put)); // 4xx is not retried
    }

    [S3Fact]
    public void Open_UnreachableEndpoint_FailsWithTransientNetworkError()
    {
        var s3 = fixture.Options("x");
        s3.Endpoint = new Uri("http://127.0.0.1:9");
        s3.RetryCount = 0;
        var ex = Assert.Throws<ChunkStorageException>(() => S3ChunkStore.Create(new ChunkStoreOptions { Root = fixture.NewRoot() }, s3));
        Assert.Equal(StorageErrorKind.Network, ex.Kind);
        Assert.True(ex.IsTransient);
        Assert.DoesNotContain(s3.SecretKey, ex.ToString());
    }

    [S3Fact]
    public async Task Reopen_WithSmallerCapacity_KeepsCacheBounded()
    {
        var store = fixture.CreateStore(cacheCapacityBytes: 1 << 20);
        var digests = new List<ChunkDigest>();
        for (int i = 0; i < 5; i++)
        {
            digests.Add((await store.Repo.InsertAsync(S3TestStore.RandomChunk(10_000))).Digest);
            S3TestStore.Age(store.LocalPath(digests[i]), TimeSpan.FromMinutes(10 - i)); // later = more recent
        }

        Assert.All(digests, d => Assert.Equal(10_000, store.LocalSize(d)));
        await store.ReopenAsync(cacheCapacityBytes: 25_000);

        Assert.Equal([0L, 0L, 0L, 10_000L, 10_000L], digests.Select(d => store.LocalSize(d) ?? -1));
        Assert.True(store.InLru(digests[3]) && store.InLru(digests[4]));
        Assert.False(store.InLru(digests[0]));
        foreach (var d in digests)
        {
            Assert.Equal(10_000, (await store.Repo.ReadAsync(d)).Length);
        }

        await store.DisposeAsync();
    }
}
