using ChunkStore.Benchmarks.Harness;

namespace ChunkStore.Benchmarks.Scenarios;

/// <summary>
/// Insert of new chunks vs the raw write path (temp-write + rename, same fsync policy, same parallelism).
/// Target (issue): ≥ 0.8× raw write with SyncMode.None.
/// </summary>
internal sealed class InsertNewScenario(int size, int threads, SyncMode sync) : IScenario
{
    public string Name => $"insert new {Chunks.SizeName(size)}, {threads} thread(s), SyncMode.{sync}";

    public string Baseline => sync switch
    {
        SyncMode.File => "raw write+rename, fsync file+dir",
        SyncMode.Batch => "raw write+rename, one syncfs at the end",
        _ => "raw write+rename, no fsync",
    };

    public async Task RunAsync(BenchContext context)
    {
        double peak = BenchContext.PeakWorkingSetMiB();
        using var repo = context.CreateStore("insert-new", sync);
        string rawRoot = context.NewDirectory("insert-new-raw");
        var raw = new RawWriter(rawRoot, size, threads, fsync: sync == SyncMode.File, syncfsAtEnd: sync == SyncMode.Batch);
        var buffers = Enumerable.Range(0, threads).Select(_ => Chunks.NewBuffer(size)).ToArray();
        var written = Enumerable.Range(0, threads).Select(_ => new List<ChunkDigest>()).ToArray();

        async Task<Sample> Figure()
        {
            WriteSession? session = sync == SyncMode.Batch ? await repo.BeginWriteSessionAsync() : null;
            return await Timing.RunTimedAsync(threads, context.RepetitionDuration, async (w, _) =>
            {
                var buffer = buffers[w];
                Chunks.Stamp(buffer);
                var r = session is null ? await repo.InsertAsync(buffer) : await session.InsertAsync(buffer);
                if (!r.IsNew)
                {
                    throw new InvalidOperationException("a stamped chunk was reported as a duplicate");
                }

                written[w].Add(r.Digest);
                return buffer.Length;
            }, session is null ? null : () => session.CompleteAsync());
        }

        Task Cleanup()
        {
            foreach (var list in written)
            {
                foreach (var d in list)
                {
                    File.Delete(repo.Layout.ChunkPath(d));
                }

                list.Clear();
            }

            return raw.CleanupAsync();
        }

        var (f, b) = await Timing.PairAsync(context.Repetitions, Figure, () => raw.RunAsync(context.RepetitionDuration), Cleanup);
        context.Add(BenchContext.Throughput("insert new", Name, Baseline, f, b,
            sync == SyncMode.None ? TargetKind.AtLeast : TargetKind.None, sync == SyncMode.None ? 0.8 : null), peak);
        await Cleanup();

        if (sync == SyncMode.None)
        {
            // The figure to beat (issue 15): a new insert must at least hash the chunk and write it under its name.
            var hashThenWrite = new RawWriter(rawRoot, size, threads, fsync: false, hashFirst: true);
            Task CleanupBoth() => Task.WhenAll(Cleanup(), hashThenWrite.CleanupAsync());
            var (f2, b2) = await Timing.PairAsync(context.Repetitions, Figure, () => hashThenWrite.RunAsync(context.RepetitionDuration), CleanupBoth);
            context.Add(BenchContext.Throughput("insert new", Name + " vs hash-then-write", "raw SHA-256 then write+rename, no fsync", f2, b2, TargetKind.AtLeast, 0.9), peak);
            await CleanupBoth();
        }

        BenchContext.DeleteQuietly(Path.GetDirectoryName(repo.Root)!);
        BenchContext.DeleteQuietly(rawRoot);
    }
}

/// <summary>Insert of chunks already stored (hash, lock, stat, touch) vs raw SHA-256. Target: ≥ 0.9×.</summary>
internal sealed class InsertDuplicateScenario(int size, int threads) : IScenario
{
    public string Name => $"insert duplicate {Chunks.SizeName(size)}, {threads} thread(s)";

    public string Baseline => "SHA256.HashData of the same buffers";

    /// <summary>Distinct chunks per worker, cycled (64 KiB fits the CPU caches in both figure and baseline).</summary>
    public static int PerWorker(int size) => size <= 64 << 10 ? 64 : size <= 1 << 20 ? 8 : 4;

    public async Task RunAsync(BenchContext context)
    {
        double peak = BenchContext.PeakWorkingSetMiB();
        using var repo = context.CreateStore("insert-dup");
        int k = PerWorker(size);
        var buffers = Enumerable.Range(0, threads).Select(_ => Enumerable.Range(0, k).Select(_ => Chunks.NewBuffer(size)).ToArray()).ToArray();
        foreach (var b in buffers.SelectMany(x => x))
        {
            await repo.InsertAsync(b);
        }

        var (f, bs) = await Timing.PairAsync(context.Repetitions,
            () => Timing.RunTimedAsync(threads, context.RepetitionDuration, async (w, i) =>
            {
                var buffer = buffers[w][i % k];
                var r = await repo.InsertAsync(buffer);
                if (r.IsNew)
                {
                    throw new InvalidOperationException("a stored chunk was reported as new");
                }

                return buffer.Length;
            }),
            () => Timing.RunTimedAsync(threads, context.RepetitionDuration, (w, i) =>
            {
                var buffer = buffers[w][i % k];
                RawOps.Hash(buffer);
                return ValueTask.FromResult((long)buffer.Length);
            }));
        context.Add(BenchContext.Throughput("insert duplicate", Name, Baseline, f, bs, TargetKind.AtLeast, 0.9), peak);
        BenchContext.DeleteQuietly(Path.GetDirectoryName(repo.Root)!);
    }
}
