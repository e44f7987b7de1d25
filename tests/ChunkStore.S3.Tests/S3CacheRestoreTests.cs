using ChunkStore.S3.Tests.Infrastructure;
using ChunkStore.Tests.Infrastructure;

namespace ChunkStore.S3.Tests;

/// <summary>
/// Opening a store re-registers the full local copies in the LRU and demotes what exceeds the capacity to markers. The
/// scan is old news by the time a file is demoted: found by the torture harness (worker processes restart all the time),
/// where a demotion wrote back the atime seen at scan time over a later touch, and the next GC deleted a chunk a
/// session had just deduplicated.
/// </summary>
[Collection(nameof(S3CacheRestoreTests))] // the hook is static: no other test of this class runs alongside
public class S3CacheRestoreTests(S3BucketFixture fixture) : IClassFixture<S3BucketFixture>
{
    [S3Fact]
    public async Task Restore_TouchAfterTheScan_IsKeptWhenTheCopyIsDemoted()
    {
        var (root, options, digest) = await StoreWithOneAgedFullCopyAsync();
        string path = Path.Combine(root, ".chunks", digest.ToString()[..4], digest.ToString());

        // Another process deduplicates the chunk (touch) between this open's scan and its demotion.
        await using var reopened = OpenWithHook(root, options, r => File.SetLastAccessTimeUtc(path, DateTime.UtcNow));

        Assert.Equal(0, new FileInfo(path).Length);
        Assert.True(File.GetLastAccessTimeUtc(path) > DateTime.UtcNow.AddMinutes(-1), $"atime {File.GetLastAccessTimeUtc(path):O} went back");
    }

    [S3Fact]
    public async Task Restore_CopyRemovedAfterTheScan_NoMarkerIsWritten()
    {
        var (root, options, digest) = await StoreWithOneAgedFullCopyAsync();
        string path = Path.Combine(root, ".chunks", digest.ToString()[..4], digest.ToString());
        string key = ChunkStore.Remote.RemoteChunkKey.ForChunk(digest).ToKey(options.KeyPrefix);

        // A GC in another process removes the local copy and the object between the scan and the demotion.
        await using var reopened = OpenWithHook(root, options, r =>
        {
            File.Delete(path);
            fixture.Client.DeleteObjectAsync(fixture.Bucket, key).GetAwaiter().GetResult();
        });

        Assert.False(File.Exists(path), "a marker for a chunk the bucket does not hold");
        Assert.False(await fixture.ExistsAsync(key));
    }

    private async Task<(string Root, S3BackendOptions Options, ChunkDigest Digest)> StoreWithOneAgedFullCopyAsync()
    {
        await using var store = fixture.CreateStore();
        var digest = (await store.Repo.InsertAsync(S3TestStore.RandomChunk(5000))).Digest;
        Assert.Equal(5000, store.LocalSize(digest));
        store.AgeChunk(digest);
        return (store.Root, store.Options, digest);
    }

    private static ChunkRepository OpenWithHook(string root, S3BackendOptions options, Action<string> hook)
    {
        options.CacheCapacityBytes = 0; // every full copy is demoted at open
        var hooks = new HookSet { S3CacheRestoreListed = hook }; // the restore runs inside Open: hooks given before
        return S3ChunkStore.Open(new ChunkStoreOptions { Root = root, LockTimeout = TimeSpan.FromSeconds(30), InterleavingHooks = hooks }, options);
    }
}
