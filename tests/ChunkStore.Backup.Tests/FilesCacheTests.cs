using ChunkStore.Backup.Chunking;
using ChunkStore.Backup.Engine;
using ChunkStore.Backup.Snapshots;

namespace ChunkStore.Backup.Tests;

/// <summary>The pipeline and the files cache: round trips with the cache on and off, and every way a cache entry can be wrong.</summary>
public sealed class FilesCacheTests : IAsyncLifetime
{
    /// <summary>No racy window: the test files were written a moment ago and should still be cached (the window has its own test).</summary>
    private static readonly BackupOptions s_cached = new() { RacyWindow = TimeSpan.Zero };

    private readonly string _root = Path.Combine(Path.GetTempPath(), "chunkstore-filescache-tests-" + Guid.NewGuid().ToString("N"));
    private string _source = "";
    private ChunkRepository _repo = null!;
    private SnapshotStore _snapshots = null!;

    public Task InitializeAsync()
    {
        _source = Path.Combine(_root, "source");
        Directory.CreateDirectory(_source);
        _repo = ChunkRepository.OpenOrCreate(new ChunkStoreOptions { Root = Path.Combine(_root, "store") });
        _snapshots = new SnapshotStore(_repo.Root);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _repo.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task Backup_CacheOffThenOnThenOn_SameChunksAndIdenticalRestores()
    {
        var big = FastCdcChunkerTests.RandomBytes((6 * 1024 * 1024) + 5, seed: 20);
        Write("big.bin", big);
        Write("dir/copy.bin", big);
        Write("dir/small.txt", "small\n"u8.ToArray());
        Write("empty", []);
        for (int i = 0; i < 50; i++)
        {
            Write($"many/f{i:D2}", FastCdcChunkerTests.RandomBytes(1000 + (i * 3000), seed: 100 + i));
        }

        await Task.Delay(20); // past the files' timestamps (the kernel's coarse clock), so a zero window trusts them

        var off = await BackupAsync(new BackupOptions { UseFilesCache = false });
        Assert.False(Directory.Exists(Path.Combine(_repo.Root, FilesCache.DirectoryName)));
        var first = await BackupAsync(s_cached);
        var second = await BackupAsync(s_cached);

        Assert.Equal(0, first.FilesFromCache);
        Assert.Equal(54, second.FilesFromCache);
        Assert.Equal(0, second.BytesRead);
        Assert.Equal(second.Bytes, second.BytesFromCache);
        Assert.Equal(0, second.NewChunks);
        Assert.Equal(ChunkLists(off.Snapshot), ChunkLists(first.Snapshot));
        Assert.Equal(ChunkLists(off.Snapshot), ChunkLists(second.Snapshot));
        foreach (var result in new[] { off, first, second })
        {
            await AssertRestoresSourceAsync(result.Snapshot);
        }
    }

    [Fact]
    public async Task Backup_FileRewrittenWithSameSizeAndMtime_IsReadAgain()
    {
        Write("a.bin", FastCdcChunkerTests.RandomBytes(200_000, seed: 21));
        string path = Path.Combine(_source, "a.bin");
        var mtime = File.GetLastWriteTimeUtc(path);
        await Task.Delay(20);
        await BackupAsync(s_cached);

        // Same size, and mtime put back (as cp -p, rsync -t or tar do): only the ctime tells.
        File.WriteAllBytes(path, FastCdcChunkerTests.RandomBytes(200_000, seed: 22));
        File.SetLastWriteTimeUtc(path, mtime);
        await Task.Delay(20);
        var again = await BackupAsync(s_cached);

        Assert.Equal(0, again.FilesFromCache);
        await AssertRestoresSourceAsync(again.Snapshot);
    }

    [Fact]
    public async Task Backup_RacyFileChangedWithinOneTimestampTick_IsReadAgain()
    {
        // A filesystem whose timestamps did not move: the file was written, backed up and written again within one
        // tick of its clock. The scan hook pins mtime and ctime to one recent value, as such a filesystem reports.
        Write("racy.bin", FastCdcChunkerTests.RandomBytes(300_000, seed: 23));
        long tick = FileScanner.NowNs();
        var options = new BackupOptions { AdjustScan = f => f with { Stat = f.Stat with { ModifiedNs = tick, ChangedNs = tick } } };
        var first = await BackupAsync(options);
        Write("racy.bin", FastCdcChunkerTests.RandomBytes(300_000, seed: 24));

        var second = await BackupAsync(options);

        Assert.Equal(0, first.FilesFromCache);
        Assert.Equal(0, second.FilesFromCache);
        await AssertRestoresSourceAsync(second.Snapshot);
    }

    [Fact]
    public async Task Backup_FileUnchangedForLongerThanTheRacyWindow_ComesFromTheCache()
    {
        // The counterpart of the racy test, with the same hook: timestamps an hour old are trusted.
        Write("old.bin", FastCdcChunkerTests.RandomBytes(300_000, seed: 25));
        long hourAgo = FileScanner.NowNs() - (3600L * 1_000_000_000);
        var options = new BackupOptions { AdjustScan = f => f with { Stat = f.Stat with { ModifiedNs = hourAgo, ChangedNs = hourAgo } } };
        await BackupAsync(options);

        var second = await BackupAsync(options);

        Assert.Equal(1, second.FilesFromCache);
        Assert.Equal(0, second.BytesRead);
    }

    [Fact]
    public async Task Backup_CachedFileWhoseChunksGcRemoved_IsReadAndStoredAgain()
    {
        Write("a.bin", FastCdcChunkerTests.RandomBytes(700_000, seed: 26));
        Write("b.txt", "b\n"u8.ToArray());
        await Task.Delay(20);
        var first = await BackupAsync(s_cached);

        // Forget the snapshot and collect: every chunk goes, the files cache still lists them.
        _snapshots.Delete(first.Snapshot.Id);
        foreach (string chunk in Directory.EnumerateFiles(Path.Combine(_repo.Root, ".chunks"), "*", SearchOption.AllDirectories))
        {
            File.SetLastAccessTimeUtc(chunk, DateTime.UtcNow.AddDays(-2));
        }

        var gc = await _repo.Maintenance.GarbageCollectAsync([], new GarbageCollectionOptions { GracePeriod = TimeSpan.FromSeconds(1), WriterSafetyMargin = TimeSpan.Zero });
        Assert.Equal(first.NewChunks, gc.ChunksRemoved);

        var second = await BackupAsync(s_cached);

        Assert.Equal(2, second.CacheEntriesStale);
        Assert.Equal(0, second.FilesFromCache);
        Assert.Equal(first.NewChunks, second.NewChunks);
        foreach (var digest in second.Snapshot.AllDigests())
        {
            Assert.True(await _repo.ContainsAsync(digest), $"the snapshot references {digest}, which is not stored");
        }

        await AssertRestoresSourceAsync(second.Snapshot);
    }

    [Fact]
    public async Task Backup_ForceRead_ReadsEveryFileAndKeepsTheCacheForNextTime()
    {
        Write("a.bin", FastCdcChunkerTests.RandomBytes(1_500_000, seed: 27));
        Write("b.bin", FastCdcChunkerTests.RandomBytes(20_000, seed: 28));
        await Task.Delay(20);
        var first = await BackupAsync(s_cached);

        var forced = await BackupAsync(new BackupOptions { RacyWindow = TimeSpan.Zero, ForceRead = true });
        var after = await BackupAsync(s_cached);

        Assert.Equal(0, forced.FilesFromCache);
        Assert.Equal(first.Bytes, forced.BytesRead);
        Assert.Equal(ChunkLists(first.Snapshot), ChunkLists(forced.Snapshot));
        Assert.Equal(2, after.FilesFromCache);
    }

    [Fact]
    public async Task Backup_DamagedCacheFile_IsIgnoredWithAWarning()
    {
        Write("a.bin", FastCdcChunkerTests.RandomBytes(400_000, seed: 29));
        await Task.Delay(20);
        var first = await BackupAsync(s_cached);
        string cacheFile = FilesCache.PathFor(_repo.Root, _source);
        byte[] bytes = File.ReadAllBytes(cacheFile);
        bytes[bytes.Length / 2] ^= 0x40; // one bit, e.g. inside a digest
        File.WriteAllBytes(cacheFile, bytes);

        var second = await BackupAsync(s_cached);

        Assert.Contains(second.Warnings, w => w.Contains("files cache", StringComparison.Ordinal) && w.Contains("damaged", StringComparison.Ordinal));
        Assert.Equal(0, second.FilesFromCache);
        Assert.Equal(ChunkLists(first.Snapshot), ChunkLists(second.Snapshot));
        Assert.Equal(1, (await BackupAsync(s_cached)).FilesFromCache); // rewritten whole
    }

    [Fact]
    public async Task Backup_SmallBufferPool_NeverHoldsMoreChunksThanItsBoundAndRestoresExactly()
    {
        // 4 buffers of the maximum chunk size (the lowest bound), 3 readers and 6 inserters competing for them,
        // files of many sizes finishing out of order.
        for (int i = 0; i < 40; i++)
        {
            Write($"d{i % 4}/f{i:D2}.bin", FastCdcChunkerTests.RandomBytes(i % 10 == 0 ? 3_000_000 + i : 10 + (i * 7919), seed: 300 + i));
        }

        var options = new BackupOptions { UseFilesCache = false, Readers = 3, Inserters = 6, ChunkBufferBytes = 1 };

        var result = await BackupAsync(options);

        Assert.Equal(4, result.ChunkBufferLimit);
        Assert.InRange(result.PeakChunkBuffers, 1, 4);
        Assert.Equal(40, result.Files);
        await AssertRestoresSourceAsync(result.Snapshot);
    }

    [Fact]
    public async Task Cli_SecondBackupUsesTheCache_ForceReadAndNoFilesCacheReadEverything()
    {
        Write("a.bin", FastCdcChunkerTests.RandomBytes(300_000, seed: 30));
        string store = Path.Combine(_root, "cli-store");
        Assert.Equal(ExitCodes.Ok, (await BackupRoundTripTests.RunCliAsync(["backup", _source, "--store", store])).Code);
        await Task.Delay(FilesCache.DefaultRacyWindow + TimeSpan.FromMilliseconds(100)); // the file is no longer racy
        Assert.Equal(ExitCodes.Ok, (await BackupRoundTripTests.RunCliAsync(["backup", _source, "--store", store])).Code); // records a trusted entry

        var cached = await BackupRoundTripTests.RunCliAsync(["backup", _source, "--store", store]);
        var forced = await BackupRoundTripTests.RunCliAsync(["backup", _source, "--store", store, "--force-read"]);
        var off = await BackupRoundTripTests.RunCliAsync(["backup", _source, "--store", store, "--no-files-cache"]);

        Assert.Matches(@"files unchanged \(not read\)\s*│?\s*1 \(", cached.Output);
        Assert.Matches(@"files unchanged \(not read\)\s*│?\s*0 \(", forced.Output);
        Assert.Matches(@"files unchanged \(not read\)\s*│?\s*0 \(", off.Output);
        Assert.Equal(ExitCodes.Ok, forced.Code);
        Assert.Equal(ExitCodes.Ok, off.Code);
    }

    [Fact]
    public async Task Restore_V1SnapshotWithWholeFileHash_StillChecksTheHash()
    {
        byte[] data = FastCdcChunkerTests.RandomBytes(500_000, seed: 31);
        Write("a.bin", data);
        var backup = await BackupAsync(new BackupOptions { UseFilesCache = false });
        var v1 = backup.Snapshot;
        v1.Format = Snapshot.FormatV1;
        v1.Files[0].Sha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(data));

        var good = await RestoreEngine.RunAsync(_repo, v1, Path.Combine(_root, "v1-good"), force: false);
        v1.Files[0].Sha256 = new string('0', 64);
        var bad = await RestoreEngine.RunAsync(_repo, v1, Path.Combine(_root, "v1-bad"), force: false);

        Assert.Empty(good.Failures);
        Assert.Equal(data, File.ReadAllBytes(Path.Combine(_root, "v1-good", "a.bin")));
        Assert.Contains(bad.Failures, f => f.Contains("SHA-256", StringComparison.Ordinal));
    }

    private Task<BackupResult> BackupAsync(BackupOptions options) =>
        BackupEngine.RunAsync(_repo, _snapshots, _source, new FastCdcChunker(), options: options);

    private async Task AssertRestoresSourceAsync(Snapshot snapshot)
    {
        string target = Path.Combine(_root, "restore-" + Guid.NewGuid().ToString("N")[..8]);
        var restore = await RestoreEngine.RunAsync(_repo, snapshot, target, force: false);
        Assert.Empty(restore.Failures);
        Assert.Empty(TreeComparer.Compare(_source, target, snapshot.Files.Select(f => f.Path)));
        Directory.Delete(target, recursive: true);
    }

    private static List<string> ChunkLists(Snapshot snapshot) => snapshot.Files.Select(f => f.Path + ":" + string.Join(",", f.Chunks)).ToList();

    private void Write(string relative, byte[] bytes)
    {
        string path = Path.Combine(_source, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, bytes);
    }
}
