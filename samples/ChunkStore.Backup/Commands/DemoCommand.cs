using System.Diagnostics;
using ChunkStore.Backup.Chunking;
using ChunkStore.Backup.Engine;
using ChunkStore.Backup.Snapshots;
using Spectre.Console;

namespace ChunkStore.Backup.Commands;

/// <summary>The README's main job in one command: back up, restore and compare, dedup, a 1-byte edit, verify, GC.</summary>
internal static class DemoCommand
{
    public const string DefaultStoreDirectory = ".demo-store";

    /// <summary>Size of the generated file for the edit step when the source has no file of at least <see cref="LargeFileMinimum"/>.</summary>
    private const int GeneratedFileSize = 64 * 1024 * 1024;

    private const long LargeFileMinimum = 8 * 1024 * 1024;

    /// <summary>The most new chunks a 1-byte change may cost with content-defined chunking (typically 1, at most 2).</summary>
    private const int MaxNewChunksAfterSmallChange = 4;

    public static readonly CommandSpec Spec = new(
        "demo",
        "demo [--store <path>] [<dir>]",
        "Run the whole story in one command: back up, restore and compare, back up again, edit one byte, verify, forget, gc.",
        """
        Arguments:
          <dir>            what to back up (default: this repository — the folder holding ChunkStore.sln(x)
                           above the current directory — else the current directory)
        Options:
          --store <path>   the store (default ./.demo-store; $CHUNKSTORE_STORE is ignored here)

        The demo ends with a real garbage collection using a 2 s grace period: point it only at a store of its own.
        Temporary files go under the system temp directory and are removed at the end. Exit code 0 only if every
        check passed (1 otherwise).
        """,
        [],
        [],
        0,
        1);

    public static async Task<int> RunAsync(CliContext ctx, CommandArgs args, CancellationToken cancellationToken)
    {
        string storePath = Path.GetFullPath(args.Value("--store") ?? DefaultStoreDirectory);
        string source = Path.GetFullPath(args.Positionals.Count > 0 ? args.Positionals[0] : FindRepositoryRoot() ?? Directory.GetCurrentDirectory());
        if (!Directory.Exists(source))
        {
            throw new UsageException($"{source} is not a directory.");
        }

        string work = Path.Combine(Path.GetTempPath(), "chunkstore-demo-" + Guid.NewGuid().ToString("N")[..8]);
        var checks = new List<(string Check, bool Passed, string Detail)>();
        void Check(string name, bool passed, string detail)
        {
            checks.Add((name, passed, detail));
            ctx.Out.Write(new Text((passed ? "  ✔ " : "  ✘ FAILED: ") + name + " — " + detail + "\n"));
        }

        ctx.Out.Write(new Text($"ChunkStore demo\n  store:  {storePath}\n  source: {source}\n  temp:   {work}\n\n"));
        await using var repo = await CliContext.OpenStoreAsync(storePath, create: true, SyncMode.Batch, cancellationToken);
        var snapshots = CliContext.Snapshots(repo);
        var cdc = new FastCdcChunker();
        try
        {
            Directory.CreateDirectory(work);

            Step(ctx, "1. Back up the source");
            var first = await BackupCommand.RunBackupAsync(ctx, repo, source, cdc, null, cancellationToken).ConfigureAwait(false);
            Check("backup", first.Files > 0, $"{Sizes.Count(first.Files)} files, {Sizes.Format(first.Bytes)} in {Sizes.Count(first.Chunks)} chunks at {Sizes.Rate(first.Bytes, first.Elapsed)}");

            Step(ctx, "2. Restore it to a temporary directory and compare byte for byte");
            string restored = Path.Combine(work, "restore");
            var restore = await RestoreCommand.RunRestoreAsync(ctx, repo, first.Snapshot, restored, force: false, cancellationToken).ConfigureAwait(false);
            Check("restore verified every chunk and file size", restore.Failures.Count == 0, $"{Sizes.Count(restore.Files)} files, {restore.Failures.Count} failures");
            var differences = TreeComparer.Compare(source, restored, first.Snapshot.Files.Select(f => f.Path));
            foreach (string difference in differences)
            {
                ctx.Error.WriteLine("error: " + difference);
            }

            Check("restored tree equals the source, byte for byte", differences.Count == 0, differences.Count == 0 ? $"{Sizes.Count(first.Snapshot.Files.Count)} files identical" : $"{differences.Count} differences");

            Step(ctx, "3. Back up the same source again: everything is a duplicate");
            var second = await BackupCommand.RunBackupAsync(ctx, repo, source, cdc, null, cancellationToken).ConfigureAwait(false);
            Check("second backup stored no new chunk", second.NewChunks == 0, $"{Sizes.Count(second.DuplicateChunks)} of {Sizes.Count(second.Chunks)} chunks were duplicates, {Sizes.Format(second.NewBytes)} new, {Sizes.Rate(second.Bytes, second.Elapsed)}");

            Step(ctx, "4. Change one byte in the middle of a large file and back it up again");
            string editDir = Path.Combine(work, "edit");
            Directory.CreateDirectory(editDir);
            string largeCopy = Path.Combine(editDir, "large.bin");
            var largest = first.Snapshot.Files.Where(f => f.Size >= LargeFileMinimum).MaxBy(f => f.Size);
            if (largest is not null)
            {
                File.Copy(Path.Combine(source, largest.Path), largeCopy);
                ctx.Out.Write(new Text($"Copied the largest source file, {largest.Path} ({Sizes.Format(largest.Size)}).\n"));
            }
            else
            {
                // The source has no large file: make a deterministic one, so repeated demos deduplicate it too.
                var bytes = new byte[GeneratedFileSize];
                new Random(20261121).NextBytes(bytes);
                await File.WriteAllBytesAsync(largeCopy, bytes, cancellationToken).ConfigureAwait(false);
                ctx.Out.Write(new Text($"The source has no file of {Sizes.Format(LargeFileMinimum)} or more: generated a {Sizes.Format(GeneratedFileSize)} file.\n"));
            }

            var before = await BackupCommand.RunBackupAsync(ctx, repo, editDir, cdc, null, cancellationToken).ConfigureAwait(false);
            long offset = EditOneByte(largeCopy);
            var edited = await BackupCommand.RunBackupAsync(ctx, repo, editDir, cdc, null, cancellationToken).ConfigureAwait(false);
            Check(
                "a 1-byte edit costs only a few new chunks",
                edited.NewChunks is >= 1 and <= MaxNewChunksAfterSmallChange,
                $"byte {Sizes.Count(offset)} of {Sizes.Format(edited.Bytes)} changed: {edited.NewChunks} of {Sizes.Count(edited.Chunks)} chunks new ({Sizes.Format(edited.NewBytes)})");

            Step(ctx, "5. Verify every chunk in the store");
            var verify = await VerifyCommand.RunVerifyAsync(ctx, repo, null, cancellationToken).ConfigureAwait(false);
            var verifyDone = Stopwatch.StartNew();
            Check("verify found no corrupt or missing chunk", verify.Healthy, $"{Sizes.Count(verify.Result.Ok)} of {Sizes.Count(verify.Result.Checked)} chunks ok, {Sizes.Format(verify.Result.BytesVerified)} hashed");

            Step(ctx, "6. Forget the first snapshot and the two large-file snapshots, then collect garbage");
            snapshots.Delete(first.Snapshot.Id);
            snapshots.Delete(before.Snapshot.Id);
            snapshots.Delete(edited.Snapshot.Id);
            ctx.Out.Write(new Text(
                $"Forgot {first.Snapshot.Id}: every chunk of it is still used by {second.Snapshot.Id}, so that alone frees nothing.\n" +
                $"Forgot {before.Snapshot.Id} and {edited.Snapshot.Id}: their chunks that no other snapshot uses (the edited one{(largest is null ? ", and the generated file's" : "")}) are now unreferenced.\n"));
            var referenced = snapshots.LoadAll().SelectMany(s => s.AllDigests()).ToHashSet();
            var unreferenced = (await ListAsync(repo, cancellationToken).ConfigureAwait(false)).Where(d => !referenced.Contains(d)).ToHashSet();
            ctx.Out.Write(new Text($"Chunks no snapshot references now: {unreferenced.Count}.\n"));

            var dry = await GcCommand.RunGcAsync(ctx, repo, new GarbageCollectionOptions { DryRun = true }, cancellationToken).ConfigureAwait(false);
            var afterDry = await ListAsync(repo, cancellationToken).ConfigureAwait(false);
            Check("dry run (default 24 h grace) removes nothing", dry.ChunksRemoved == 0 && afterDry.Count == referenced.Count + unreferenced.Count, $"{Sizes.Count(afterDry.Count)} chunks still stored; fresh unreferenced chunks are inside the grace period");

            // GC goes by each chunk's last touch (atime). The unreferenced chunks were last touched by the pre-edit
            // backup — or by the verify step, since on a relatime mount the kernel itself moves atime on the first
            // read after a write. Let that be older than the short grace period, then collect for real.
            var grace = TimeSpan.FromSeconds(2);
            var wait = grace + TimeSpan.FromSeconds(1) - verifyDone.Elapsed;
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
            }

            var real = await GcCommand.RunGcAsync(ctx, repo, new GarbageCollectionOptions { GracePeriod = grace, WriterSafetyMargin = TimeSpan.FromSeconds(1) }, cancellationToken).ConfigureAwait(false);
            var afterReal = await ListAsync(repo, cancellationToken).ConfigureAwait(false);
            long lost = referenced.Count(d => !afterReal.Contains(d));
            long left = unreferenced.Count(afterReal.Contains);
            Check("gc kept every referenced chunk", lost == 0 && real.MissingChunks == 0, $"{Sizes.Count(referenced.Count)} referenced chunks, {lost} lost");
            Check(
                "gc (2 s grace) removed the unreferenced chunks",
                real.ChunksRemoved == unreferenced.Count - left && left == 0,
                $"{real.ChunksRemoved} removed ({Sizes.Format(real.BytesRemoved)}), {left} unreferenced left (pending: {real.ChunksPending})");

            Step(ctx, "7. Restore the remaining snapshot after gc and compare");
            string restoredAfterGc = Path.Combine(work, "restore-after-gc");
            var restoreAfterGc = await RestoreCommand.RunRestoreAsync(ctx, repo, second.Snapshot, restoredAfterGc, force: false, cancellationToken).ConfigureAwait(false);
            // Restore checks every file's size and SHA-256 against the snapshot, so zero failures means byte for byte.
            // (Not compared with the live source tree: it may have changed since the backup, e.g. an editor or a build.)
            Check(
                "the remaining snapshot restores byte for byte after gc",
                restoreAfterGc.Failures.Count == 0 && restoreAfterGc.Files == second.Snapshot.Files.Count,
                $"{Sizes.Count(restoreAfterGc.Files)} of {Sizes.Count(second.Snapshot.Files.Count)} files, {Sizes.Format(restoreAfterGc.Bytes)} restored, every chunk verified, {restoreAfterGc.Failures.Count} failures");

            Step(ctx, "Store after the demo");
            var stats = await StoreStats.ComputeAsync(repo, cancellationToken).ConfigureAwait(false);
            ctx.KeyValues("Store", [
                ("snapshots", Sizes.Count(stats.Snapshots)),
                ("logical bytes (all snapshots)", Sizes.Format(stats.LogicalBytes)),
                ("chunks / bytes stored", $"{Sizes.Count(stats.Chunks)} / {Sizes.Format(stats.StoredBytes)}"),
                ("dedup ratio (logical : stored)", Sizes.Ratio(stats.LogicalBytes, stats.StoredBytes)),
            ]);
        }
        finally
        {
            TryDelete(work);
        }

        bool allPassed = checks.All(c => c.Passed);
        ctx.Grid("Demo checks", ["check", "result", "detail"], checks.Select(c => new[] { c.Check, c.Passed ? "pass" : "FAIL", c.Detail }));
        ctx.Out.Write(new Text(allPassed
            ? $"\nAll {checks.Count} checks passed. Explore the store: chunkstore-backup snapshots --store {storePath}\n"
            : $"\n{checks.Count(c => !c.Passed)} of {checks.Count} checks FAILED.\n"));
        return allPassed ? ExitCodes.Ok : ExitCodes.IntegrityProblem;
    }

    /// <summary>Finds the repository root: the nearest folder at or above the current one holding ChunkStore.sln or .slnx.</summary>
    internal static string? FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "ChunkStore.sln")) || File.Exists(Path.Combine(dir.FullName, "ChunkStore.slnx")))
            {
                return dir.FullName;
            }
        }

        return null;
    }

    /// <summary>Flips bits of one byte near the middle (random position and value, so every run makes a new version).</summary>
    private static long EditOneByte(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        long offset = (stream.Length / 2) + Random.Shared.Next(-4096, 4096);
        stream.Position = offset;
        int value = stream.ReadByte();
        stream.Position = offset;
        stream.WriteByte((byte)(value ^ Random.Shared.Next(1, 256)));
        return offset;
    }

    private static void Step(CliContext ctx, string title)
    {
        ctx.Out.WriteLine();
        ctx.Out.Write(new Rule(Markup.Escape(title)).LeftJustified());
    }

    private static async Task<HashSet<ChunkDigest>> ListAsync(ChunkRepository repo, CancellationToken cancellationToken)
    {
        var set = new HashSet<ChunkDigest>();
        await foreach (var digest in repo.ListAsync(cancellationToken).ConfigureAwait(false))
        {
            set.Add(digest);
        }

        return set;
    }

    private static void TryDelete(string path)
    {
        try
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Leave it; it is under the temp directory.
        }
    }
}
