using Amazon.S3.Model;
using ChunkStore.S3.Tests.Infrastructure;

namespace ChunkStore.S3.Tests;

/// <summary>A bucket that disappears under an open store: an outage to report, never "the chunks are gone".</summary>
public class S3MissingBucketTests(S3BucketFixture fixture) : IClassFixture<S3BucketFixture>
{
    [S3Fact]
    public async Task ReadMiss_WhenTheBucketIsGone_FailsAndKeepsTheMarker()
    {
        string bucket = "cs-gone-" + Guid.NewGuid().ToString("N")[..20];
        await fixture.Client.PutBucketAsync(new PutBucketRequest { BucketName = bucket });
        await using var store = fixture.CreateStore(s =>
        {
            s.Bucket = bucket;
            s.CacheOnInsert = false; // a marker only: the read below is a miss
        });
        byte[] data = S3TestStore.RandomChunk();
        var digest = (await store.Repo.InsertAsync(data)).Digest;
        Assert.Equal(0, store.LocalSize(digest));

        var keys = (await fixture.Client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket })).S3Objects ?? [];
        foreach (var obj in keys)
        {
            await fixture.Client.DeleteObjectAsync(bucket, obj.Key);
        }

        await fixture.Client.DeleteBucketAsync(bucket);

        // 404 NoSuchBucket is not 404 NoSuchKey: the marker must survive (it would be right again once the bucket is
        // back), and the caller learns of a storage failure, not of a missing chunk.
        var ex = await Assert.ThrowsAsync<ChunkStorageException>(async () => await store.Repo.ReadAsync(digest));
        Assert.Contains("NoSuchBucket", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, store.LocalSize(digest));
    }
}
