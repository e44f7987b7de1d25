using ChunkStore.S3.Tests.Infrastructure;

namespace ChunkStore.S3.Tests;

/// <summary>
/// A local root belongs to one store (bucket, prefix and the identity object under the prefix), and one store has one
/// local root: its markers say "the object exists" and its atimes are the GC clock, so a root used with another
/// bucket or prefix, or a second root on one prefix, makes inserts skip uploads or GC delete what another root uses.
/// </summary>
public class S3StoreIdentityTests(S3BucketFixture fixture) : IClassFixture<S3BucketFixture>
{
    private static ChunkStoreOptions Local(string root) => new() { Root = root, LockTimeout = TimeSpan.FromSeconds(30) };

    [S3Fact]
    public async Task Create_WritesAnIdentityObjectUnderThePrefix()
    {
        await using var store = fixture.CreateStore();

        var keys = await fixture.ListKeysAsync(store.Options.KeyPrefix + "/");

        Assert.Contains(store.Options.KeyPrefix + "/" + ChunkStore.Remote.RemoteStoreIdentity.ObjectName, keys);
    }

    [S3Fact]
    public async Task Open_LocalRootWithAnotherPrefix_IsRefusedNamingWhatDiffers()
    {
        var store = fixture.CreateStore();
        await store.Repo.InsertAsync(S3TestStore.RandomChunk());
        await store.DisposeAsync();
        var other = fixture.Options("other-" + Guid.NewGuid().ToString("N")[..8]);

        var ex = Assert.Throws<S3StoreIdentityException>(() => S3ChunkStore.Open(Local(store.Root), other));

        Assert.False(ex.IsTransient);
        Assert.Contains("prefix", ex.Message);
        Assert.Contains(store.Options.KeyPrefix, ex.Message);
        Assert.Contains(other.KeyPrefix, ex.Message);
        Assert.Empty(await fixture.ListKeysAsync(other.KeyPrefix + "/")); // nothing written for the wrong prefix
    }

    [S3Fact]
    public async Task Open_LocalRootWithAnotherBucket_IsRefusedNamingWhatDiffers()
    {
        var store = fixture.CreateStore();
        await store.DisposeAsync();
        string bucket = "cs-other-" + Guid.NewGuid().ToString("N")[..12];
        await fixture.Client.PutBucketAsync(bucket);
        try
        {
            var other = fixture.Options(store.Options.KeyPrefix);
            other.Bucket = bucket;

            var ex = Assert.Throws<S3StoreIdentityException>(() => S3ChunkStore.Open(Local(store.Root), other));

            Assert.Contains("bucket", ex.Message);
            Assert.Contains(bucket, ex.Message);
            Assert.Contains(fixture.Bucket, ex.Message);
        }
        finally
        {
            await fixture.Client.DeleteBucketAsync(bucket);
        }
    }

    [S3Fact]
    public async Task Create_SecondLocalRootOnAPrefixThatHoldsAStore_IsRefused()
    {
        await using var store = fixture.CreateStore();
        var digest = (await store.Repo.InsertAsync(S3TestStore.RandomChunk())).Digest;

        var ex = Assert.Throws<S3StoreIdentityException>(() => S3ChunkStore.Create(Local(fixture.NewRoot()), store.Options));

        Assert.Contains(nameof(S3BackendOptions.TakeOverStore), ex.Message);
        Assert.True(await store.ObjectExistsAsync(digest));
    }

    [S3Fact]
    public async Task TakeOver_NewRootCollects_AndTheOldRootIsRefused()
    {
        var old = fixture.CreateStore();
        byte[] data = S3TestStore.RandomChunk();
        var digest = (await old.Repo.InsertAsync(data)).Digest;
        var takeOver = old.Options.Clone();
        takeOver.TakeOverStore = true;

        // The old root's cache is lost for good; a new root takes the store over and reads everything back.
        await using (var repo = S3ChunkStore.Create(Local(fixture.NewRoot()), takeOver))
        {
            Assert.Equal(data, await repo.ReadAsync(digest));
            var result = await repo.Maintenance.GarbageCollectAsync([digest]);
            Assert.True(result.Completed);
        }

        // The old root, still open, must not collect any more (its markers and atimes are not the store's clock).
        await Assert.ThrowsAsync<S3StoreIdentityException>(() => old.CollectAsync());
        await old.DisposeAsync();
        Assert.Throws<S3StoreIdentityException>(() => S3ChunkStore.Open(Local(old.Root), old.Options));
        Assert.True(await fixture.ExistsAsync(old.Key(digest)));
    }

    [S3Fact]
    public async Task Open_PrefixRecreatedByAnotherStore_IsRefused()
    {
        var store = fixture.CreateStore();
        await store.DisposeAsync();

        // The prefix was wiped and a new store created there from another root.
        await fixture.Client.DeleteObjectAsync(fixture.Bucket, store.Options.KeyPrefix + "/" + ChunkStore.Remote.RemoteStoreIdentity.ObjectName);
        await using (S3ChunkStore.Create(Local(fixture.NewRoot()), store.Options))
        {
        }

        var ex = Assert.Throws<S3StoreIdentityException>(() => S3ChunkStore.Open(Local(store.Root), store.Options));
        Assert.Contains("identity", ex.Message);
    }

    [S3Fact]
    public async Task Open_IdentityObjectGone_IsRefused()
    {
        var store = fixture.CreateStore();
        await store.DisposeAsync();
        await fixture.Client.DeleteObjectAsync(fixture.Bucket, store.Options.KeyPrefix + "/" + ChunkStore.Remote.RemoteStoreIdentity.ObjectName);

        var ex = Assert.Throws<S3StoreIdentityException>(() => S3ChunkStore.Open(Local(store.Root), store.Options));

        Assert.Contains(ChunkStore.Remote.RemoteStoreIdentity.ObjectName, ex.Message);
    }

    [S3Fact]
    public async Task Gc_LocalClockSkewedFromTheServer_IsRefusedAndChangesNothing()
    {
        string root = fixture.NewRoot();
        var s3 = fixture.Options("skew-" + Guid.NewGuid().ToString("N")[..8]);
        var ahead = new OffsetTimeProvider(TimeSpan.FromMinutes(10));
        await using var repo = S3ChunkStore.Create(new ChunkStoreOptions { Root = root, TimeProvider = ahead }, s3);
        var digest = (await repo.InsertAsync(S3TestStore.RandomChunk())).Digest;
        S3TestStore.Age(((S3ChunkBackend)repo.Backend).Layout.ChunkPath(digest));

        var ex = await Assert.ThrowsAsync<S3ClockSkewException>(() => repo.Maintenance.GarbageCollectAsync(Array.Empty<ChunkDigest>(), new GarbageCollectionOptions { GracePeriod = TimeSpan.FromMinutes(1), WriterSafetyMargin = TimeSpan.FromMinutes(1) }));

        Assert.True(ex.Skew > TimeSpan.FromMinutes(9), $"measured {ex.Skew}");
        Assert.True(await fixture.ExistsAsync(((S3ChunkBackend)repo.Backend).ObjectKey(digest)));
    }

    [S3Fact]
    public void Open_WrongSecretKey_IsAPermanentError()
    {
        var s3 = fixture.Options("x");
        s3.SecretKey = "wrong-secret-key-0123456789";
        s3.RetryCount = 2;

        var ex = Assert.Throws<ChunkStorageException>(() => S3ChunkStore.Create(Local(fixture.NewRoot()), s3));

        Assert.False(ex.IsTransient);
        Assert.Contains("403", ex.Message);
    }

    [S3Fact]
    public void Open_UnknownAccessKey_IsAPermanentError()
    {
        var s3 = fixture.Options("x");
        s3.AccessKey = "no-such-access-key";

        var ex = Assert.Throws<ChunkStorageException>(() => S3ChunkStore.Create(Local(fixture.NewRoot()), s3));

        Assert.False(ex.IsTransient);
    }

    /// <summary>A clock that runs at the system's pace, <paramref name="offset"/> ahead of it.</summary>
    private sealed class OffsetTimeProvider(TimeSpan offset) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + offset;
    }
}
