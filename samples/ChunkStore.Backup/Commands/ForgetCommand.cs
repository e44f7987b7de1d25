using Spectre.Console;

namespace ChunkStore.Backup.Commands;

internal static class ForgetCommand
{
    public static readonly CommandSpec Spec = new(
        "forget",
        "forget <snapshot-id>",
        "Delete a snapshot file. Its chunks stay until the next 'gc' finds them unreferenced (and past the grace period).",
        "",
        [],
        [],
        1,
        1);

    public static async Task<int> RunAsync(CliContext ctx, CommandArgs args, CancellationToken cancellationToken)
    {
        await using var repo = await CliContext.OpenStoreAsync(CliContext.StorePath(args), create: false, SyncMode.None, cancellationToken);
        var store = CliContext.Snapshots(repo);
        string id = args.Positionals[0] == "latest" ? throw new UsageException("forget needs an explicit snapshot id, not 'latest'.") : store.Resolve(args.Positionals[0]);
        store.Delete(id);
        ctx.Out.WriteLine($"Forgot snapshot {id}; run 'chunkstore-backup gc' to remove chunks no other snapshot uses.");
        return ExitCodes.Ok;
    }
}
