using ChunkStore.Backup.Chunking;
using ChunkStore.Backup.Engine;
using ChunkStore.Backup.Snapshots;
using Spectre.Console;

namespace ChunkStore.Backup.Tests;

public sealed class BackupRoundTripTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "chunkstore-backup-tests-" + Guid.NewGuid().ToString("N"));

    public BackupRoundTripTests()
    {
        Directory.CreateDirectory(_root);
    }

    public void Dispose()
    {
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task BackupThenRestore_Tree_RestoresIdenticalBytesAndDeduplicates()
    {
        string source = Path.Combine(_root, "source");
        var big = FastCdcChunkerTests.RandomBytes(5 * 1024 * 1024 + 17, seed: 10);
        WriteFile(source, "big.bin", big);
        WriteFile(source, "copy/of/big.bin", big);
        WriteFile(source, "small.txt", "hello, chunks\n"u8.ToArray());
        WriteFile(source, "empty", []);
        Directory.CreateDirectory(Path.Combine(source, "empty-dir"));
        File.CreateSymbolicLink(Path.Combine(source, "link"), Path.Combine(source, "small.txt"));

        await using var repo = ChunkRepository.OpenOrCreate(new ChunkStoreOptions { Root = Path.Combine(_root, "store") });
        var snapshots = new SnapshotStore(repo.Root);
        var backup = await BackupEngine.RunAsync(repo, snapshots, source, new FastCdcChunker());

        Assert.Equal(4, backup.Files);
        Assert.Equal(1, backup.Scan.SymlinksSkipped);
        Assert.Equal(2L * big.Length + 14, backup.Bytes);
        Assert.Equal(backup.Chunks / 2 + 1, backup.NewChunks); // the copy and nothing else is a duplicate
        Assert.Equal(big.Length + 14, backup.NewBytes);

        var loaded = snapshots.Load(snapshots.Resolve("latest"));
        string target = Path.Combine(_root, "restore");
        var restore = await RestoreEngine.RunAsync(repo, loaded, target, force: false);

        Assert.Empty(restore.Failures);
        Assert.Equal(4, restore.Files);
        Assert.Equal(big, File.ReadAllBytes(Path.Combine(target, "big.bin")));
        Assert.Equal(big, File.ReadAllBytes(Path.Combine(target, "copy/of/big.bin")));
        Assert.Equal("hello, chunks\n"u8.ToArray(), File.ReadAllBytes(Path.Combine(target, "small.txt")));
        Assert.Empty(File.ReadAllBytes(Path.Combine(target, "empty")));
        Assert.True(Directory.Exists(Path.Combine(target, "empty-dir")));
        Assert.False(File.Exists(Path.Combine(target, "link")));
        Assert.Equal(File.GetLastWriteTimeUtc(Path.Combine(source, "big.bin")), File.GetLastWriteTimeUtc(Path.Combine(target, "big.bin")));
        Assert.Empty(TreeComparer.Compare(source, target, loaded.Files.Select(f => f.Path)));

        // A second backup of the unchanged tree stores nothing new.
        var again = await BackupEngine.RunAsync(repo, snapshots, source, new FastCdcChunker());
        Assert.Equal(0, again.NewChunks);
        Assert.Equal(backup.Chunks, again.Chunks);
    }

    [Fact]
    public void Scan_FifoAndSymlinks_AreSkippedNotOpened()
    {
        string source = Path.Combine(_root, "source");
        WriteFile(source, "a.txt", [1, 2, 3]);
        File.CreateSymbolicLink(Path.Combine(source, "dangling"), Path.Combine(_root, "nowhere"));
        Directory.CreateSymbolicLink(Path.Combine(source, "loop"), source);
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", Path.Combine(source, "pipe")))
        {
            mkfifo.WaitForExit();
            Assert.Equal(0, mkfifo.ExitCode);
        }

        var scan = FileScanner.Scan(source, []);

        Assert.Equal(["a.txt"], scan.Files.Select(f => f.RelativePath));
        Assert.Equal(2, scan.SymlinksSkipped);
        Assert.Equal(1, scan.SpecialSkipped);
    }

    [Fact]
    public async Task Restore_CorruptChunk_ReportsFileAndKeepsOthers()
    {
        string source = Path.Combine(_root, "source");
        WriteFile(source, "a.bin", FastCdcChunkerTests.RandomBytes(300_000, seed: 11));
        WriteFile(source, "b.bin", FastCdcChunkerTests.RandomBytes(1000, seed: 12));
        await using var repo = ChunkRepository.OpenOrCreate(new ChunkStoreOptions { Root = Path.Combine(_root, "store") });
        var snapshots = new SnapshotStore(repo.Root);
        var backup = await BackupEngine.RunAsync(repo, snapshots, source, new FastCdcChunker());
        var digest = ChunkDigest.Parse(backup.Snapshot.Files.Single(f => f.Path == "b.bin").Chunks.Single());
        string chunkPath = Path.Combine(repo.Root, ".chunks", digest.ToString()[..4], digest.ToString());
        File.WriteAllBytes(chunkPath, new byte[1000]);

        var restore = await RestoreEngine.RunAsync(repo, backup.Snapshot, Path.Combine(_root, "restore"), force: false);

        Assert.Equal(1, restore.Files);
        Assert.Contains(restore.Failures, f => f.StartsWith("b.bin:", StringComparison.Ordinal));
        Assert.False(File.Exists(Path.Combine(_root, "restore", "b.bin")));
    }

    [Theory]
    [InlineData(new[] { "frobnicate" }, ExitCodes.Usage)]
    [InlineData(new[] { "backup" }, ExitCodes.Usage)]
    [InlineData(new[] { "gc", "--grace", "soon" }, ExitCodes.Usage)]
    [InlineData(new[] { "backup", ".", "--no-such-option" }, ExitCodes.Usage)]
    [InlineData(new[] { "stats", "--help" }, ExitCodes.Ok)]
    public async Task Cli_BadCommandLine_ExitsWithUsageCode(string[] args, int expected)
    {
        var (code, _, error) = await RunCliAsync(args);

        Assert.Equal(expected, code);
        if (expected == ExitCodes.Usage)
        {
            Assert.StartsWith("error: ", error, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", error, StringComparison.Ordinal); // no stack trace without --verbose
        }
    }

    [Fact]
    public async Task Cli_MissingStore_ExitsWithStoreErrorCode()
    {
        var (code, _, error) = await RunCliAsync(["stats", "--store", Path.Combine(_root, "nothing-here")]);

        Assert.Equal(ExitCodes.StoreError, code);
        Assert.Contains("no chunk store at", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cli_BackupRestoreVerify_CorruptionGivesExitCode1()
    {
        string source = Path.Combine(_root, "source");
        WriteFile(source, "data.bin", FastCdcChunkerTests.RandomBytes(700_000, seed: 13));
        string store = Path.Combine(_root, "store");

        Assert.Equal(ExitCodes.Ok, (await RunCliAsync(["backup", source, "--store", store])).Code);
        Assert.Equal(ExitCodes.Ok, (await RunCliAsync(["restore", "latest", Path.Combine(_root, "r1"), "--store", store])).Code);
        Assert.Equal(File.ReadAllBytes(Path.Combine(source, "data.bin")), File.ReadAllBytes(Path.Combine(_root, "r1", "data.bin")));
        Assert.Equal(ExitCodes.Usage, (await RunCliAsync(["restore", "latest", Path.Combine(_root, "r1"), "--store", store])).Code); // not empty
        Assert.Equal(ExitCodes.Ok, (await RunCliAsync(["verify", "--store", store])).Code);

        string chunk = Directory.EnumerateFiles(Path.Combine(store, ".chunks"), "*", SearchOption.AllDirectories).First();
        File.WriteAllBytes(chunk, [1, 2, 3]);

        Assert.Equal(ExitCodes.IntegrityProblem, (await RunCliAsync(["verify", "--store", store])).Code);
        Assert.Equal(ExitCodes.IntegrityProblem, (await RunCliAsync(["restore", "latest", Path.Combine(_root, "r2"), "--store", store])).Code);
    }

    [Fact]
    public async Task Cli_VerifyAndGc_ReportEntriesThatAreNotChunksAndEntriesThatCannotBeRemoved()
    {
        string source = Path.Combine(_root, "odd-source");
        WriteFile(source, "data.bin", FastCdcChunkerTests.RandomBytes(300_000, seed: 14));
        string store = Path.Combine(_root, "odd-store");
        Assert.Equal(ExitCodes.Ok, (await RunCliAsync(["backup", source, "--store", store])).Code);

        // A symbolic link under the name of a chunk no snapshot references, and an old unreferenced chunk that cannot
        // be removed (immutable: needs root, as CI runs).
        byte[] linked = "linked content"u8.ToArray();
        string link = ChunkFile(store, linked);
        File.CreateSymbolicLink(link, Path.Combine(source, "data.bin"));
        byte[] stuckData = "stuck content"u8.ToArray();
        string stuck = ChunkFile(store, stuckData);
        File.WriteAllBytes(stuck, stuckData);
        File.SetLastAccessTimeUtc(stuck, DateTime.UtcNow.AddDays(-3));

        var verify = await RunCliAsync(["verify", "--store", store]);
        Assert.Equal(ExitCodes.IntegrityProblem, verify.Code);
        Assert.Matches(@"not regular files \(left alone\)\s*│?\s*1\b", verify.Output);
        Assert.Contains(link, verify.Error, StringComparison.Ordinal);

        System.Diagnostics.Process.Start("chattr", ["+i", stuck])!.WaitForExit();
        try
        {
            var gc = await RunCliAsync(["gc", "--store", store, "--grace", "1h"]);
            Assert.Equal(ExitCodes.StoreError, gc.Code);
            Assert.Matches(@"could not remove \(retried next gc\)\s*│?\s*1\b", gc.Output);
            Assert.Matches(@"not the store's, left alone\s*│?\s*1\b", gc.Output);
            Assert.Contains(stuck, gc.Error, StringComparison.Ordinal);
            Assert.True(File.Exists(stuck));
            Assert.NotNull(new FileInfo(link).LinkTarget);
        }
        finally
        {
            System.Diagnostics.Process.Start("chattr", ["-i", stuck])!.WaitForExit();
        }
    }

    [Fact]
    public async Task Backup_EntryThatCannotBeStated_IsReportedAndFailsTheRun()
    {
        // A directory that can be listed but not searched (mode r--r--r--): its entries' names are known, a stat of
        // any of them fails with EACCES. Such an entry has not vanished; the backup must say it is left out and exit
        // with the store-error code, not skip it in silence. Root bypasses permissions, so the CLI runs as nobody.
        string source = Path.Combine(_root, "source");
        WriteFile(source, "ok.txt", "readable\n"u8.ToArray());
        WriteFile(source, "locked/secret.bin", [1, 2, 3]);
        string locked = Path.Combine(source, "locked");
        string storeParent = Path.Combine(_root, "stores");
        Directory.CreateDirectory(storeParent);
        File.SetUnixFileMode(storeParent, (UnixFileMode)0x1FF); // rwxrwxrwx: the unprivileged child creates the store
        File.SetUnixFileMode(locked, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        try
        {
            string store = Path.Combine(storeParent, "store");
            var run = await UnprivilegedCli.RunAsync(["backup", source, "--store", store], _root);

            Assert.True(ExitCodes.StoreError == run.Code, $"exit {run.Code}\nstdout:\n{run.Output}\nstderr:\n{run.Error}");
            Assert.Contains(Path.Combine(locked, "secret.bin"), run.Error, StringComparison.Ordinal);
            Assert.Contains("Permission denied", run.Error, StringComparison.Ordinal);

            var snapshots = new SnapshotStore(store);
            var saved = snapshots.Load(snapshots.Resolve("latest"));
            Assert.Equal(["ok.txt"], saved.Files.Select(f => f.Path));
        }
        finally
        {
            File.SetUnixFileMode(locked, (UnixFileMode)0x1ED); // rwxr-xr-x, so that Dispose can delete it
        }
    }

    private static string ChunkFile(string store, byte[] content)
    {
        string hex = ChunkDigest.Compute(content).ToString();
        string dir = Path.Combine(store, ".chunks", hex[..4]);
        Directory.CreateDirectory(dir);
        return Path.Combine(dir, hex);
    }

    internal static async Task<(int Code, string Output, string Error)> RunCliAsync(string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(output),
        });
        int code = await BackupCli.RunAsync(args, console, error);
        return (code, output.ToString(), error.ToString());
    }

    private static void WriteFile(string root, string relative, byte[] bytes)
    {
        string path = Path.Combine(root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, bytes);
    }
}
