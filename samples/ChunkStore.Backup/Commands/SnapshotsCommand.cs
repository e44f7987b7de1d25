using System.Globalization;

namespace ChunkStore.Backup.Commands;

internal static class SnapshotsCommand
{
    public static readonly CommandSpec Spec = new("snapshots", "snapshots", "List the snapshots, oldest first.", "", [], [], 0, 0);

    public static async Task<int> RunAsync(CliContext ctx, CommandArgs args, CancellationToken cancellationToken)
    {
        await using var repo = await CliContext.OpenStoreAsync(CliContext.StorePath(args), create: false, SyncMode.None, cancellationToken);
        var store = CliContext.Snapshots(repo);
        var rows = new List<string[]>();
        bool damaged = false;
        foreach (string id in store.ListIds())
        {
            try
            {
                var s = store.Load(id);
                rows.Add([s.Id, s.CreatedAt.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture), Sizes.Count(s.Files.Count), Sizes.Format(s.Summary.Bytes), Sizes.Count(s.Summary.Chunks), Sizes.Format(s.Summary.NewBytes), s.Source]);
            }
            catch (IntegrityException ex)
            {
                damaged = true;
                ctx.Error.WriteLine("error: " + ex.Message);
                rows.Add([id, "DAMAGED", "", "", "", "", ""]);
            }
        }

        ctx.Grid($"{rows.Count} snapshot(s) in {store.Directory}", ["id", "created", "files", "size", "chunks", "new bytes", "source"], rows, 2, 3, 4, 5);
        return damaged ? ExitCodes.IntegrityProblem : ExitCodes.Ok;
    }
}
