using ChunkStore.Backup.Snapshots;

namespace ChunkStore.Backup.Commands;

internal static class StatsCommand
{
    public static readonly CommandSpec Spec = new(
        "stats",
        "stats",
        "Show store statistics: snapshots, chunks, bytes on disk, logical bytes, dedup ratio.",
        "",
        [],
        [],
        0,
        0);

    public static async Task<int> RunAsync(CliContext ctx, CommandArgs args, CancellationToken cancellationToken)
    {
        await using var repo = await CliContext.OpenStoreAsync(CliContext.StorePath(args), create: false, SyncMode.None, cancellationToken);
        var stats = await StoreStats.ComputeAsync(repo, cancellationToken).ConfigureAwait(false);
        ctx.KeyValues($"Store {repo.Root}", [
            ("snapshots", Sizes.Count(stats.Snapshots)),
            ("files in all snapshots", Sizes.Count(stats.Files)),
            ("logical bytes (sum of all snapshots)", Sizes.Format(stats.LogicalBytes)),
            ("chunks stored", Sizes.Count(stats.Chunks)),
            ("bytes on disk (chunk files)", Sizes.Format(stats.StoredBytes)),
            ("dedup ratio (logical : on disk)", Sizes.Ratio(stats.LogicalBytes, stats.StoredBytes)),
            ("chunks referenced / unreferenced", $"{Sizes.Count(stats.ReferencedChunks)} / {Sizes.Count(stats.Chunks - stats.ReferencedStored)}"),
            ("referenced but missing", Sizes.Count(stats.ReferencedChunks - stats.ReferencedStored)),
            (".bad files (corrupt copies set aside)", Sizes.Count(stats.BadFiles)),
            ("last gc", stats.LastGc is { } gc ? $"{gc.StartedAt:u}{(gc.DryRun ? " (dry run)" : "")}: {gc.ChunksRemoved} removed, {gc.ChunksPending} pending" : "never"),
        ]);
        return ExitCodes.Ok;
    }
}

/// <summary>Figures about a store and its snapshots.</summary>
internal sealed class StoreStats
{
    public int Snapshots { get; set; }

    public long Files { get; set; }

    public long LogicalBytes { get; set; }

    public long Chunks { get; set; }

    public long StoredBytes { get; set; }

    public long ReferencedChunks { get; set; }

    public long ReferencedStored { get; set; }

    public long BadFiles { get; set; }

    public GarbageCollectionResult? LastGc { get; set; }

    public static async Task<StoreStats> ComputeAsync(ChunkRepository repo, CancellationToken cancellationToken)
    {
        var stats = new StoreStats();
        var referenced = new HashSet<ChunkDigest>();
        foreach (var snapshot in new SnapshotStore(repo.Root).LoadAll())
        {
            stats.Snapshots++;
            stats.Files += snapshot.Files.Count;
            stats.LogicalBytes += snapshot.Files.Sum(f => f.Size);
            referenced.UnionWith(snapshot.AllDigests());
        }

        stats.ReferencedChunks = referenced.Count;
        var stored = new HashSet<ChunkDigest>();
        await foreach (var digest in repo.ListAsync(cancellationToken).ConfigureAwait(false))
        {
            stored.Add(digest);
        }

        stats.Chunks = stored.Count;
        stats.ReferencedStored = referenced.Count(stored.Contains);

        // Sizes come from the documented layout, <root>/.chunks/<4 hex>/<64 hex>: the library's API does not
        // report chunk sizes without reading them.
        string chunks = Path.Combine(repo.Root, ".chunks");
        if (Directory.Exists(chunks))
        {
            foreach (var file in new DirectoryInfo(chunks).EnumerateFiles("*", SearchOption.AllDirectories))
            {
                if (file.Name.Length == ChunkDigest.HexLength)
                {
                    stats.StoredBytes += file.Length;
                }
                else if (file.Name.EndsWith(".bad", StringComparison.Ordinal))
                {
                    stats.BadFiles++;
                }
            }
        }

        stats.LastGc = repo.ReadLastGarbageCollection();
        return stats;
    }
}
