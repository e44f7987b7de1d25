using System.Diagnostics;
using ChunkStore.Backup.Chunking;
using ChunkStore.Backup.Engine;

namespace ChunkStore.Backup.Commands;

internal static class BackupCommand
{
    public static readonly CommandSpec Spec = new(
        "backup",
        "backup <dir> [--store <path>] [--chunker cdc|fixed] [--chunk-size N] [--sync none|batch|file] [--force-read] [--no-files-cache]",
        "Back a directory up into the store (created if missing) and write a snapshot.",
        """
        Options:
          --chunker cdc|fixed   content-defined (FastCDC, default) or fixed-size chunks
          --chunk-size N        cdc: average size, a power of two (min = N/4, max = 4N; default 256K)
                                fixed: the chunk size (default 1M); suffixes K, M accepted
          --sync MODE           none, batch (default: one filesystem sync at the end) or file (fsync per chunk)
          --force-read          read every file, even those the files cache says are unchanged (the cache is rewritten)
          --no-files-cache      neither use nor update the files cache (<store>/files-cache/)

        A file whose size, mtime, ctime and inode match the last backup of the same directory is not read: its
        chunks are taken from the files cache after checking (touching) that each is still stored.
        Symlinks are skipped (never followed); unreadable files are reported and left out (exit code 3).
        """,
        ["--chunker", "--chunk-size", "--sync"],
        ["--force-read", "--no-files-cache"],
        1,
        1);

    public static async Task<int> RunAsync(CliContext ctx, CommandArgs args, CancellationToken cancellationToken)
    {
        var chunker = ParseChunker(args);
        var sync = args.Value("--sync") switch
        {
            null or "batch" => SyncMode.Batch,
            "none" => SyncMode.None,
            "file" => SyncMode.File,
            string other => throw new UsageException($"--sync: '{other}' is not one of none, batch, file."),
        };
        string source = Path.GetFullPath(args.Positionals[0]);
        if (!Directory.Exists(source))
        {
            throw new UsageException($"{source} is not a directory.");
        }

        string storePath = CliContext.StorePath(args);
        await using var repo = await CliContext.OpenStoreAsync(storePath, create: true, sync, cancellationToken);
        var options = new BackupOptions { ForceRead = args.Has("--force-read"), UseFilesCache = !args.Has("--no-files-cache") };
        var result = await RunBackupAsync(ctx, repo, source, chunker, options, cancellationToken).ConfigureAwait(false);
        return result.FilesFailed + result.Scan.Unreadable > 0 ? ExitCodes.StoreError : ExitCodes.Ok;
    }

    /// <summary>Runs a backup with progress display and prints its summary (shared with the demo).</summary>
    public static async Task<BackupResult> RunBackupAsync(CliContext ctx, ChunkRepository repo, string source, IChunker chunker, BackupOptions? options, CancellationToken cancellationToken)
    {
        var snapshots = CliContext.Snapshots(repo);
        var result = await ctx.WithProgressAsync("Backing up", 1, (advance, setTotal) => BackupEngine.RunAsync(
            repo, snapshots, source, chunker,
            new BackupProgress { Scanned = scan => setTotal(scan.TotalBytes), BytesDone = advance },
            options, cancellationToken)).ConfigureAwait(false);
        foreach (string warning in result.Warnings)
        {
            ctx.Warn(warning);
        }

        PrintSummary(ctx, result);
        return result;
    }

    public static void PrintSummary(CliContext ctx, BackupResult r) => ctx.KeyValues($"Backup {r.Snapshot.Id}", [
        ("source", r.Snapshot.Source),
        ("chunker", r.Snapshot.Chunker.ToString()),
        ("files", Sizes.Count(r.Files) + (r.FilesFailed + r.Scan.Unreadable > 0 ? $" ({r.FilesFailed + r.Scan.Unreadable} unreadable, left out)" : "")),
        ("directories", Sizes.Count(r.Snapshot.Directories.Count)),
        ("symlinks / special files skipped", $"{r.Scan.SymlinksSkipped} / {r.Scan.SpecialSkipped}"),
        ("bytes", $"{Sizes.Format(r.Bytes)} ({Sizes.Count(r.Bytes)})"),
        ("files unchanged (not read)", $"{Sizes.Count(r.FilesFromCache)} ({Sizes.Format(r.BytesFromCache)})" + (r.CacheEntriesStale > 0 ? $"; {Sizes.Count(r.CacheEntriesStale)} read again (a chunk was gone)" : "")),
        ("bytes read", Sizes.Format(r.BytesRead)),
        ("chunks total", Sizes.Count(r.Chunks)),
        ("chunks new", Sizes.Count(r.NewChunks)),
        ("chunks duplicate", Sizes.Count(r.DuplicateChunks)),
        ("new bytes stored", Sizes.Format(r.NewBytes)),
        ("dedup ratio (read : stored)", Sizes.Ratio(r.Bytes, r.NewBytes)),
        ("time", Sizes.Duration(r.Elapsed)),
        ("throughput", Sizes.Rate(r.Bytes, r.Elapsed)),
    ]);

    private static IChunker ParseChunker(CommandArgs args)
    {
        long? size = args.Size("--chunk-size");
        switch (args.Value("--chunker") ?? "cdc")
        {
            case "cdc":
                if (size is null)
                {
                    return new FastCdcChunker();
                }

                if (size < 1024 || size > ChunkStoreOptions.DefaultMaxChunkSize / 4 || (size & (size - 1)) != 0)
                {
                    throw new UsageException($"--chunk-size for cdc is the average chunk size: a power of two from 1K to 4M (got {size}).");
                }

                return FastCdcChunker.ForAverage((int)size);
            case "fixed":
                if (size > ChunkStoreOptions.DefaultMaxChunkSize)
                {
                    throw new UsageException($"--chunk-size for fixed chunking is at most 16M (got {size}).");
                }

                return new FixedSizeChunker((int)(size ?? 1024 * 1024));
            case string other:
                throw new UsageException($"--chunker: '{other}' is not one of cdc, fixed.");
        }

        throw new UnreachableException();
    }
}
