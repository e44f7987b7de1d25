using ChunkStore.Backup.Snapshots;

namespace ChunkStore.Backup.Commands;

internal static class StatsCommand
{
    public static readonly CommandSpec Spec = new(
        "stats",
        "stats",
        "Show store statistics: snapshots, chunks, bytes stored, logical bytes, dedup ratio.",
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
            ("bytes stored (chunks)", Sizes.Format(stats.StoredBytes)),
            ("dedup ratio (logical : stored)", Sizes.Ratio(stats.LogicalBytes, stats.StoredBytes)),
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
        await foreach (var chunk in repo.ListInfoAsync(cancellationToken).ConfigureAwait(false))
        {
            stored.Add(chunk.Digest);
            stats.StoredBytes += chunk.Size; // the chunk's size on either backend (on S3 the object's, not the local marker's)
        }

        stats.Chunks = stored.Count;
        stats.ReferencedStored = referenced.Count(stored.Contains);

        // Corrupt copies set aside by verify: counted from the documented local layout,
        // <root>/.chunks/<4 hex>/<64 hex>.<N>.bad (the library lists good chunks only).
        string chunks = Path.Combine(repo.Root, ".chunks");
        if (Directory.Exists(chunks))
        {
            stats.BadFiles = new DirectoryInfo(chunks).EnumerateFiles("*.bad", SearchOption.AllDirectories).Count();
        }

        stats.LastGc = repo.Maintenance.ReadLastGarbageCollection();
        return stats;
    }
}
