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

        var result = await store.Maintenance.GarbageCollectAsync([digest], Short);

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
        var all = await store.Maintenance.VerifyAllAsync();

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

    /// <summary>A store with three good chunks and, under four more chunk names, entries that are not regular files.</summary>
    private async Task<(ChunkRepository Store, List<ChunkDigest> Good, Dictionary<ChunkDigest, string> Odd, string LinkTarget)> StoreWithOddEntriesAsync(string name)
    {
        var store = TestData.NewStore(_dir.Sub(name));
        var good = new List<ChunkDigest>();
        for (int i = 0; i < 3; i++)
        {
            good.Add((await store.InsertAsync(TestData.Random(500, 10 + i))).Digest);
        }

        // The live link points at a file whose content does hash to the link's name: only the entry's type is wrong.
        var linked = TestData.Random(500, 20);
        string target = _dir.Sub(name + "-link-target");
        File.WriteAllBytes(target, linked);
        var odd = new Dictionary<ChunkDigest, string>();
        string Path(byte[] content)
        {
            var d = ChunkDigest.Compute(content);
            string p = TestData.ChunkPath(store, d);
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(p)!);
            odd[d] = p;
            return p;
        }

        File.CreateSymbolicLink(Path(linked), target);
        File.CreateSymbolicLink(Path(TestData.Random(500, 21)), _dir.Sub("nowhere"));
        Directory.CreateDirectory(Path(TestData.Random(500, 22)));
        Shell.Check("mkfifo", Path(TestData.Random(500, 23)));

        // .NET's directory listing resolves a symbolic link to learn whether it points at a directory, and on a
        // relatime mount the first resolution after creation moves the link's own atime. Resolve them once now, so
        // that "left alone" below compares against stable timestamps.
        foreach (string p in odd.Values)
        {
            _ = File.Exists(p);
        }

        return (store, good, odd, target);
    }

    /// <summary>The type and timestamps of each entry (not following links), to prove they were left alone.</summary>
    private static string Describe(IEnumerable<string> paths, bool withAtime = true) => string.Join('\n', paths.Order(StringComparer.Ordinal).Select(p =>
    {
        Assert.Equal(0, Libc.LStat(p, out var st));
        return $"{p} {st.Mode:x} {(withAtime ? st.AccessTime.TotalNanoseconds : 0)} {st.ModifyTime.TotalNanoseconds} {st.Size}";
    }));

    /// <summary>
    /// Records the odd entries and the link's target now; the returned check asserts that neither changed. With
    /// <paramref name="entriesOwnAtime"/> false an entry's own atime may move (GC's mark touches a referenced name with
    /// one system call, never following a link, and cannot tell a file from another entry before it), but its type,
    /// link target, mtime and size, and the target's content and times, may not.
    /// </summary>
    private static Action LeftAlone(Dictionary<ChunkDigest, string> odd, string target, bool entriesOwnAtime = true)
    {
        string entries = Describe(odd.Values, entriesOwnAtime);
        byte[] targetBytes = File.ReadAllBytes(target); // (this read may move the target's atime once: relatime)
        string targetTimes = Describe([target]);
        var links = odd.Values.Where(p => new FileInfo(p).LinkTarget is not null).ToDictionary(p => p, p => new FileInfo(p).LinkTarget);
        return () =>
        {
            Assert.Equal(entries, Describe(odd.Values, entriesOwnAtime));
            Assert.Equal(targetTimes, Describe([target]));
            Assert.Equal(targetBytes, File.ReadAllBytes(target));
            Assert.All(links, l => Assert.Equal(l.Value, new FileInfo(l.Key).LinkTarget));
        };
    }

    [Fact]
    public async Task List_SymlinksDirectoryAndFifoUnderChunkNames_ListsOnlyTheRegularChunksAsContainsDoes()
    {
        var (store, good, odd, _) = await StoreWithOddEntriesAsync("list");
        await using var _ = store;

        var listed = new List<ChunkDigest>();
        await foreach (var d in store.ListAsync())
        {
            listed.Add(d);
        }

        Assert.Equal(good.Order(), listed.Order());
        foreach (var d in odd.Keys)
        {
            await Assert.ThrowsAsync<InvalidChunkEntryException>(async () => await store.ContainsAsync(d));
        }
    }

    [Fact]
    public async Task VerifyAll_SymlinksDirectoryAndFifoUnderChunkNames_ReportsThemInvalidVerifiesTheRestAndChangesNothing()
    {
        var (store, good, odd, target) = await StoreWithOddEntriesAsync("verify");
        await using var _ = store;
        var assertLeftAlone = LeftAlone(odd, target);

        var all = await store.Maintenance.VerifyAllAsync();
        var given = await store.Maintenance.VerifyAllAsync(ChunkRepository.ToAsync([.. odd.Keys, .. good]));

        foreach (var r in new[] { all, given })
        {
            Assert.Equal(7, r.Checked);
            Assert.Equal(3, r.Ok);
            Assert.Equal(4, r.InvalidEntries);
            Assert.Equal(0, r.Corrupt);
            Assert.Equal(0, r.Missing);
            Assert.Equal(0, r.Errors);
            Assert.Equal(odd.Values.Order(StringComparer.Ordinal), r.InvalidSample.Order(StringComparer.Ordinal));
        }

        assertLeftAlone();
        Assert.Empty(Directory.EnumerateFiles(store.Root, "*.bad", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task GarbageCollect_ReferencedDigestsWhoseEntriesAreNotRegularFiles_ReportsThemMissingAndLeavesThemAlone()
    {
        var (store, good, odd, target) = await StoreWithOddEntriesAsync("gc");
        await using var _ = store;
        var assertLeftAlone = LeftAlone(odd, target, entriesOwnAtime: false);

        var result = await store.Maintenance.GarbageCollectAsync([.. good, .. odd.Keys], Short);

        Assert.True(result.Completed);
        Assert.Equal(3, result.ChunksMarked);
        Assert.Equal(4, result.MissingChunks);
        Assert.Equal(odd.Keys.Order(), result.MissingSample.Order());
        Assert.Equal(4, result.UnknownEntries);
        Assert.Equal(odd.Values.Order(StringComparer.Ordinal), result.UnknownSample.Order(StringComparer.Ordinal));
        Assert.Equal(3, result.ChunksInUse);
        Assert.Equal(0, result.ChunksRemoved);
        assertLeftAlone();
    }
}
