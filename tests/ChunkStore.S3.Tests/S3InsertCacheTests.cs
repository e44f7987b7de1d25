using ChunkStore.S3.Tests.Infrastructure;

namespace ChunkStore.S3.Tests;

/// <summary>What an insert leaves in the local cache: by default only the marker (written under the chunk's lock);
/// the full copy comes with the first read, or with the insert itself with <see cref="S3BackendOptions.CacheOnInsert"/>.</summary>
public class S3InsertCacheTests(S3BucketFixture fixture) : IClassFixture<S3BucketFixture>
{
    [S3Fact]
    public async Task Insert_ByDefault_WritesOnlyTheMarker_AndTheFirstReadCachesTheCopy()
    {
        await using var store = fixture.CreateStore(o => o.CacheOnInsert = false);
        byte[] data = S3TestStore.RandomChunk(20_000);

        var result = await store.Repo.InsertAsync(data);

        Assert.True(result.IsNew);
        Assert.Equal(0, store.LocalSize(result.Digest));
        Assert.False(store.InLru(result.Digest));
        Assert.Equal(1, store.Count(S3RequestKind.Put));

        // A duplicate insert costs no request either way.
        long before = store.Requests.Total;
        Assert.False((await store.Repo.InsertAsync(data)).IsNew);
        Assert.Equal(before, store.Requests.Total);

        Assert.Equal(data, await store.Repo.ReadAsync(result.Digest)); // one GET, then cached
        Assert.Equal(data.Length, store.LocalSize(result.Digest));
        Assert.True(store.InLru(result.Digest));
        long gets = store.Count(S3RequestKind.Get);
        Assert.Equal(data, await store.Repo.ReadAsync(result.Digest));
        Assert.Equal(gets, store.Count(S3RequestKind.Get));
    }

    [S3Fact]
    public async Task Insert_WithCacheOnInsert_KeepsTheFullCopyAndTheMarkersTime()
    {
        await using var store = fixture.CreateStore(o => o.CacheOnInsert = true);
        byte[] data = S3TestStore.RandomChunk(20_000);

        var result = await store.Repo.InsertAsync(data);

        Assert.Equal(data.Length, store.LocalSize(result.Digest));
        Assert.True(store.InLru(result.Digest));
        Assert.True(store.LocalAtime(result.Digest) > DateTimeOffset.UtcNow - TimeSpan.FromMinutes(1));
        Assert.Equal(0, store.Repo.Locks.HeldCount);
    }
}
