using ChunkStore.FileSystem;
using ChunkStore.Native;
using ChunkStore.Tests.Infrastructure;

namespace ChunkStore.Tests;

/// <summary>
/// Entries put under chunk names behind the store's back (issue 19, 1–4 and 11): list, verify and GC agree with
/// contains, report what is odd, leave it alone and carry on with everything else.
/// </summary>
public sealed class OddEntryTests : IDisposable
{
    private static readonly GarbageCollectionOptions Short = new() { GracePeriod = TimeSpan.FromHours(1) };
    private readonly TempDirectory _dir = new();
    private readonly DateTime _longAgo = DateTime.UtcNow.AddDays(-3);

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task GarbageCollect_OldNamesTheFilesystemStoreNeverCreates_LeavesThemAndReportsThem()
    {
        await using var store = TestData.NewStore(_dir.Sub("foreign-names"));
        var layout = new ChunkLayout(store.Root);
        var digest = (await store.InsertAsync(TestData.Random(100, 1))).Digest;
        string chunk = layout.ChunkPath(digest);
        string usingMarker = layout.UsingPath(digest);                 // S3 only
        string notHexTemp = chunk + ".tmp-notHex";                     // not a name the store writes
        string shortTemp = chunk + ".tmp-cafe";                        // hex, but not the store's 16 digits
        string ownTemp = chunk + ".tmp-00c0ffee00c0ffee";             // what a killed insert leaves
        foreach (string path in new[] { usingMarker, notHexTemp, shortTemp, ownTemp })
        {
            File.WriteAllBytes(path, [7]);
            File.SetLastWriteTimeUtc(path, _longAgo);
            TestData.SetAccessTime(path, _longAgo);
        }

        var result = await store.GarbageCollectAsync([digest], Short);

        Assert.True(result.Completed);
        Assert.True(File.Exists(usingMarker), ".using is not a filesystem store's name: left alone");
        Assert.True(File.Exists(notHexTemp), "a temp name the store never writes is left alone");
        Assert.True(File.Exists(shortTemp), "a temp name the store never writes is left alone");
        Assert.False(File.Exists(ownTemp), "the store's own stale temporary file is removed");
        Assert.Equal(1, result.TemporaryFilesRemoved);
        Assert.Equal(0, result.MarkersRemoved);
        Assert.Equal(3, result.UnknownEntries);
        Assert.Equal(new[] { notHexTemp, shortTemp, usingMarker }.Order(StringComparer.Ordinal), result.UnknownSample.Order(StringComparer.Ordinal));
        Assert.True(File.Exists(chunk));
    }

    [Fact]
    public async Task Verify_FileUnderAChunkNameLargerThanAnyChunk_MovesItToBadAndReportsCorrupt()
    {
        await using var store = TestData.NewStore(_dir.Sub("oversized"));
        var data = TestData.Random(1000, 2);
        var digest = (await store.InsertAsync(data)).Digest;
        var other = TestData.Random(1000, 3);
        var otherDigest = (await store.InsertAsync(other)).Digest;
        const long Oversized = 300L * 1024 * 1024; // above ChunkStoreOptions.MaxChunkSizeLimit; sparse, so cheap
        foreach (var d in new[] { digest, otherDigest })
        {
            using var garbage = new FileStream(TestData.ChunkPath(store, d), FileMode.Create, FileAccess.Write);
            garbage.SetLength(Oversized);
        }

        var one = await store.VerifyAsync(digest);
        var all = await store.VerifyAllAsync();

        Assert.Equal(new ChunkVerifyResult(digest, ChunkVerifyStatus.Corrupt, 0), one);
        Assert.Equal(Oversized, new FileInfo(TestData.BadPath(store, digest, 0)).Length);
        Assert.Equal(1, all.Checked);
        Assert.Equal(1, all.Corrupt);
        Assert.Equal(0, all.Errors);
        Assert.Equal([otherDigest], all.BadSample);
        Assert.Equal(Oversized, new FileInfo(TestData.BadPath(store, otherDigest, 0)).Length);
        Assert.False(File.Exists(TestData.ChunkPath(store, digest)));
        Assert.False(File.Exists(TestData.ChunkPath(store, otherDigest)));

        // Moved aside, the next insert of the content stores a good copy again.
        Assert.True((await store.InsertAsync(data)).IsNew);
        Assert.Equal(data, await store.ReadAsync(digest));
    }
}
