using ChunkStore.Backup.Snapshots;

namespace ChunkStore.Backup.Commands;

internal static class VerifyCommand
{
    public static readonly CommandSpec Spec = new(
        "verify",
        "verify [--snapshot <id>]",
        "Read and hash every stored chunk (or one snapshot's chunks) and check that every snapshot's chunks exist.",
        """
        Options:
          --snapshot <id>   verify only the chunks this snapshot references ('latest' accepted)

        A corrupt chunk is moved aside as <digest>.N.bad by the store; backing the same data up again repairs it.
        Something that is not a regular file under a chunk's name (a symbolic link, a directory, a FIFO) is
        reported and left alone. Exit code 1 if any chunk is corrupt, missing or such an entry.
        """,
        ["--snapshot"],
        [],
        0,
        0);

    public static async Task<int> RunAsync(CliContext ctx, CommandArgs args, CancellationToken cancellationToken)
    {
        await using var repo = await CliContext.OpenStoreAsync(CliContext.StorePath(args), create: false, SyncMode.None, cancellationToken);
        var snapshots = CliContext.Snapshots(repo);
        string? id = args.Value("--snapshot");
        var outcome = await RunVerifyAsync(ctx, repo, id is null ? null : snapshots.Load(snapshots.Resolve(id)), cancellationToken).ConfigureAwait(false);
        return outcome.Healthy ? ExitCodes.Ok : ExitCodes.IntegrityProblem;
    }

    public static async Task<(VerifyAllResult Result, long MissingReferenced, bool Healthy)> RunVerifyAsync(CliContext ctx, ChunkRepository repo, Snapshot? snapshot, CancellationToken cancellationToken)
    {
        var snapshots = CliContext.Snapshots(repo);
        VerifyAllResult result;
        long missingReferenced = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        if (snapshot is not null)
        {
            var digests = snapshot.AllDigests().Distinct().ToList();
            result = await ctx.WithProgressAsync($"Verifying {snapshot.Id}", digests.Count, (advance, _) =>
                repo.Maintenance.VerifyAllAsync(ToAsync(digests), 0, new CountProgress(advance), cancellationToken), bytes: false).ConfigureAwait(false);
        }
        else
        {
            var stored = new HashSet<ChunkDigest>();
            await foreach (var d in repo.ListAsync(cancellationToken).ConfigureAwait(false))
            {
                stored.Add(d);
            }

            // Referenced but not stored: verify-all over the stored chunks alone would never notice these.
            foreach (var s in snapshots.LoadAll())
            {
                missingReferenced += s.AllDigests().Distinct().Count(d => !stored.Contains(d));
            }

            // Every stored chunk, from the store's own listing: it also reports entries under chunk names that are
            // not chunks (symbolic links, directories, FIFOs), which a list of digests would never meet.
            result = await ctx.WithProgressAsync("Verifying all chunks", stored.Count, (advance, _) =>
                repo.Maintenance.VerifyAllAsync(null, 0, new CountProgress(advance), cancellationToken), bytes: false).ConfigureAwait(false);
        }

        var elapsed = clock.Elapsed;
        foreach (var bad in result.BadSample)
        {
            ctx.Error.WriteLine($"error: chunk {bad} is corrupt or missing");
        }

        foreach (string error in result.ErrorSample)
        {
            ctx.Error.WriteLine("error: " + error);
        }

        foreach (string path in result.InvalidSample)
        {
            ctx.Error.WriteLine($"error: {path} sits under a chunk's name but is not a regular file; left alone (remove it, then back the data up again)");
        }

        bool healthy = result.Corrupt == 0 && result.Missing == 0 && result.Errors == 0 && result.InvalidEntries == 0 && missingReferenced == 0;
        List<(string, string)> rows = [
            ("scope", snapshot is null ? "all stored chunks + every snapshot's references" : $"snapshot {snapshot.Id}"),
            ("chunks checked", Sizes.Count(result.Checked)),
            ("ok", Sizes.Count(result.Ok)),
            ("corrupt (moved to .bad)", Sizes.Count(result.Corrupt)),
            ("missing", Sizes.Count(result.Missing)),
            ("unreadable (errors)", Sizes.Count(result.Errors)),
            ("not regular files (left alone)", Sizes.Count(result.InvalidEntries)),
        ];
        if (snapshot is null)
        {
            rows.Add(("referenced by snapshots but not stored", Sizes.Count(missingReferenced)));
        }

        rows.Add(("bytes verified", Sizes.Format(result.BytesVerified)));
        rows.Add(("time", Sizes.Duration(elapsed)));
        rows.Add(("throughput", Sizes.Rate(result.BytesVerified, elapsed)));
        rows.Add(("result", healthy ? "OK" : "PROBLEMS FOUND"));
        ctx.KeyValues("Verify", rows);
        return (result, missingReferenced, healthy);
    }

    private static async IAsyncEnumerable<ChunkDigest> ToAsync(IEnumerable<ChunkDigest> digests)
    {
        foreach (var d in digests)
        {
            yield return d;
        }

        await Task.CompletedTask.ConfigureAwait(false);
    }

    /// <summary>Turns the store's cumulative verify progress into increments for the bar.</summary>
    private sealed class CountProgress(Action<long> advance) : IProgress<VerifyProgress>
    {
        private long _last;

        public void Report(VerifyProgress value)
        {
            long delta = value.Checked - Interlocked.Exchange(ref _last, value.Checked);
            if (delta > 0)
            {
                advance(delta);
            }
        }
    }
}
