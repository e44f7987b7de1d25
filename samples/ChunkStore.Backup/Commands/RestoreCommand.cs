using ChunkStore.Backup.Engine;

namespace ChunkStore.Backup.Commands;

internal static class RestoreCommand
{
    public static readonly CommandSpec Spec = new(
        "restore",
        "restore <snapshot-id|latest> <target-dir> [--force]",
        "Restore a snapshot into a directory, verifying every chunk and every file's SHA-256 while writing.",
        """
        Options:
          --force   restore into a non-empty directory, overwriting files of the same name

        A snapshot id may be abbreviated to a unique prefix. Exit code 1 if any file could not be restored intact
        (it is left as <name>.partial).
        """,
        [],
        ["--force"],
        2,
        2);

    public static async Task<int> RunAsync(CliContext ctx, CommandArgs args, CancellationToken cancellationToken)
    {
        await using var repo = await CliContext.OpenStoreAsync(CliContext.StorePath(args), create: false, SyncMode.None, cancellationToken);
        var snapshots = CliContext.Snapshots(repo);
        var snapshot = snapshots.Load(snapshots.Resolve(args.Positionals[0]));
        var result = await RunRestoreAsync(ctx, repo, snapshot, args.Positionals[1], args.Has("--force"), cancellationToken).ConfigureAwait(false);
        return result.Failures.Count == 0 ? ExitCodes.Ok : ExitCodes.IntegrityProblem;
    }

    public static async Task<RestoreResult> RunRestoreAsync(CliContext ctx, ChunkRepository repo, Snapshots.Snapshot snapshot, string target, bool force, CancellationToken cancellationToken)
    {
        long total = snapshot.Files.Sum(f => f.Size);
        var result = await ctx.WithProgressAsync("Restoring", total, (advance, _) =>
            RestoreEngine.RunAsync(repo, snapshot, target, force, advance, cancellationToken)).ConfigureAwait(false);
        foreach (string failure in result.Failures)
        {
            ctx.Error.WriteLine("error: " + failure);
        }

        ctx.KeyValues($"Restore of {snapshot.Id}", [
            ("target", Path.GetFullPath(target)),
            ("files restored", $"{Sizes.Count(result.Files)} of {Sizes.Count(snapshot.Files.Count)}"),
            ("files failed", Sizes.Count(result.Failures.Count)),
            ("bytes", Sizes.Format(result.Bytes)),
            ("chunks read and verified", Sizes.Count(result.Chunks)),
            ("time", Sizes.Duration(result.Elapsed)),
            ("throughput", Sizes.Rate(result.Bytes, result.Elapsed)),
        ]);
        return result;
    }
}
