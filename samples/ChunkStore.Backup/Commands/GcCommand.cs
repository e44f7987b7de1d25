namespace ChunkStore.Backup.Commands;

internal static class GcCommand
{
    public static readonly CommandSpec Spec = new(
        "gc",
        "gc [--dry-run] [--grace <timespan>] [--writer-margin <timespan>]",
        "Remove chunks that no snapshot references and that nobody touched within the grace period.",
        """
        Options:
          --dry-run                 only count what would be removed
          --grace <timespan>        keep unreferenced chunks touched within this time (default 24h5m; e.g. 30s, 1h)
          --writer-margin <span>    safety margin before the oldest running backup's start (default 5m)

        The referenced set is every chunk of every snapshot file; a damaged snapshot file stops the collection
        (exit code 1) rather than letting its chunks go. Exit code 1 also when a referenced chunk is missing, 3 when
        an entry the collection meant to remove could not be removed (it stays; the next gc retries). A chunk is removed only if its last touch is older than
        min(now - grace, oldest running backup's start - writer margin) — with no backup running, now - margin —
        so a grace shorter than the margin removes nothing sooner than the margin allows.
        """,
        ["--grace", "--writer-margin"],
        ["--dry-run"],
        0,
        0);

    public static async Task<int> RunAsync(CliContext ctx, CommandArgs args, CancellationToken cancellationToken)
    {
        var options = new GarbageCollectionOptions { DryRun = args.Has("--dry-run") };
        try
        {
            if (args.Duration("--grace") is { } grace)
            {
                options.GracePeriod = grace;
            }

            if (args.Duration("--writer-margin") is { } margin)
            {
                options.WriterSafetyMargin = margin;
            }
        }
        catch (ArgumentOutOfRangeException ex)
        {
            throw new UsageException($"--grace must be at least 1 s and --writer-margin not negative ({ex.ActualValue}).");
        }

        await using var repo = await CliContext.OpenStoreAsync(CliContext.StorePath(args), create: false, SyncMode.None, cancellationToken);
        var result = await RunGcAsync(ctx, repo, options, cancellationToken).ConfigureAwait(false);
        return result.MissingChunks != 0 ? ExitCodes.IntegrityProblem : result.RemoveFailed != 0 ? ExitCodes.StoreError : ExitCodes.Ok;
    }

    public static async Task<GarbageCollectionResult> RunGcAsync(CliContext ctx, ChunkRepository repo, GarbageCollectionOptions options, CancellationToken cancellationToken)
    {
        // Load every snapshot before starting: a damaged one throws here, before anything is removed.
        var all = CliContext.Snapshots(repo).LoadAll();
        var referenced = all.SelectMany(s => s.AllDigests());
        var result = await repo.Maintenance.GarbageCollectAsync(referenced, options, null, cancellationToken).ConfigureAwait(false);
        foreach (var missing in result.MissingSample)
        {
            ctx.Error.WriteLine($"error: chunk {missing} is referenced by a snapshot but missing from the store");
        }

        foreach (string path in result.RemoveFailedSample)
        {
            ctx.Error.WriteLine($"error: could not remove {path} (see the store's log); left in place, the next gc retries");
        }

        foreach (string path in result.UnknownSample)
        {
            ctx.Error.WriteLine($"warning: {path} is not a chunk of the store (a foreign name, or not a regular file); left alone");
        }

        Print(ctx, result, all.Count);
        return result;
    }

    public static void Print(CliContext ctx, GarbageCollectionResult r, int snapshotCount) => ctx.KeyValues(
        r.DryRun ? "Garbage collection (dry run: nothing removed)" : "Garbage collection",
        [
            ("snapshots (referenced set)", Sizes.Count(snapshotCount)),
            ("references read / distinct marked", $"{Sizes.Count(r.ReferencesRead)} / {Sizes.Count(r.ChunksMarked)}"),
            ("cutoff (removable if last touched before)", r.Cutoff.ToString("u", System.Globalization.CultureInfo.InvariantCulture)),
            (r.DryRun ? "chunks that would be removed" : "chunks removed", $"{Sizes.Count(r.ChunksRemoved)} ({Sizes.Format(r.BytesRemoved)})"),
            ("unreferenced, kept (grace period)", $"{Sizes.Count(r.ChunksPending)} ({Sizes.Format(r.BytesPending)})"),
            ("kept, touched recently (running backup or writer margin)", $"{Sizes.Count(r.ChunksInUse)} ({Sizes.Format(r.BytesInUse)})"),
            ("referenced but missing", Sizes.Count(r.MissingChunks)),
            (".bad files removed / kept", $"{r.BadRemoved} / {r.BadKept}"),
            ("temp files / stale markers / dead writers removed", $"{r.TemporaryFilesRemoved} / {r.MarkersRemoved} / {r.DeadWritersRemoved}"),
            ("skipped (chunk busy)", Sizes.Count(r.SkippedBusy)),
            ("could not remove (retried next gc)", Sizes.Count(r.RemoveFailed)),
            ("not the store's, left alone", Sizes.Count(r.UnknownEntries)),
            ("time (prepare / mark / sweep)", $"{Sizes.Duration(r.Duration)} ({Sizes.Duration(r.PrepareDuration)} / {Sizes.Duration(r.MarkDuration)} / {Sizes.Duration(r.SweepDuration)})"),
        ]);
}
