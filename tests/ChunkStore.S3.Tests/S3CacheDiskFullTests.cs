using ChunkStore.S3.Tests.Infrastructure;
using ChunkStore.Tests.Infrastructure;

namespace ChunkStore.S3.Tests;

/// <summary>The local cache directory runs out of space: the full copies are only a cache, the markers are what matters.</summary>
public class S3CacheDiskFullTests(S3BucketFixture fixture) : IClassFixture<S3BucketFixture>
{
    [S3Fact]
    public async Task CacheDiskFull_InsertsStillSucceedWithMarkers_ReadsComeFromTheBucket_NoTemporaryFiles()
    {
        using var fs = new SmallFileSystem("1m");
        string root = Path.Combine(fs.Path, "cache");
        var s3 = fixture.Options("store-" + Guid.NewGuid().ToString("N")[..12]);
        await using var repo = S3ChunkStore.Create(new ChunkStoreOptions { Root = root, LockTimeout = TimeSpan.FromSeconds(30) }, s3);
        var backend = (S3ChunkBackend)repo.Backend;

        // 12 × 256 KiB = 3 MiB of chunks into a 1 MiB cache filesystem (the LRU's own capacity, 64 MiB, is not the limit).
        var chunks = Enumerable.Range(0, 12).Select(i => TestData.Random(256 * 1024, 900 + i)).ToList();
        foreach (var data in chunks)
        {
            Assert.True((await repo.InsertAsync(data)).IsNew);
        }

        int markers = 0;
        foreach (var data in chunks)
        {
            var digest = ChunkDigest.Compute(data);
            var local = new FileInfo(backend.Layout.ChunkPath(digest));
            Assert.True(local.Exists, "every inserted chunk has a local marker or copy (O-2)");
            if (local.Length == 0)
            {
                markers++;
                Assert.False(backend.Cache.Contains(digest));
            }
            else
            {
                Assert.Equal(data.Length, local.Length);
            }

            Assert.True(await fixture.ExistsAsync(backend.ObjectKey(digest)));
        }

        Assert.InRange(markers, 8, 12);
        foreach (var data in chunks)
        {
            Assert.Equal(data, await repo.ReadAsync(ChunkDigest.Compute(data)));
        }

        Assert.Empty(Directory.EnumerateFiles(Path.Combine(root, ".chunks"), "*.tmp-*", SearchOption.AllDirectories));
    }
}
