using ChunkStore.Benchmarks.Harness;

namespace ChunkStore.Benchmarks.Scenarios;

/// <summary>
/// Uncontended chunk locks in one process: <c>Locks.AcquireAsync</c> + Dispose and <c>Locks.TryAcquire</c> + Dispose,
/// each worker cycling over its own digests, vs raw flock/unlock of an open fd (one lock file per worker). Then the lock
/// overhead on a duplicate 64 KiB insert: lock cost per op / duplicate-insert time per op (target ≤ 10 %).
/// </summary>
internal sealed class LockScenario(int threads) : IScenario
{
    private const int PerWorker = 256;

    public string Name => $"chunk lock, {threads} thread(s)";

    public string Baseline => "raw flock(LOCK_EX|LOCK_NB)+flock(LOCK_UN) on an open fd";

    public async Task RunAsync(BenchContext context)
    {
        double peak = BenchContext.PeakWorkingSetMiB();
        using var repo = context.CreateStore("lock");
        var digests = Enumerable.Range(0, threads)
            .Select(_ => Enumerable.Range(0, PerWorker).Select(_ => ChunkDigest.Compute(Chunks.NewBuffer(64))).ToArray()).ToArray();
        string rawDir = context.NewDirectory("lock-raw");
        var fds = Enumerable.Range(0, threads).Select(w =>
        {
            string p = Path.Combine(rawDir, $"w{w}");
            File.WriteAllBytes(p, []);
            return Posix.Open(p, Posix.O_RDWR | Posix.O_CLOEXEC, 0);
        }).ToArray();
        var timeout = TimeSpan.FromSeconds(30);

        Task<Sample> Raw() => Timing.RunTimedAsync(threads, context.RepetitionDuration, (w, _) =>
        {
            if (Posix.Flock(fds[w], Posix.LOCK_EX | Posix.LOCK_NB) != 0)
            {
                throw new InvalidOperationException("raw flock failed");
            }

            Posix.Flock(fds[w], Posix.LOCK_UN);
            return ValueTask.FromResult(0L);
        });

        Task<Sample> Acquire() => Timing.RunTimedAsync(threads, context.RepetitionDuration, async (w, i) =>
        {
            using var l = await repo.Locks.AcquireAsync(digests[w][i % PerWorker], timeout);
            return 0;
        });

        var (f, b) = await Timing.PairAsync(context.Repetitions, Acquire, Raw);
        context.Add(BenchContext.Throughput("lock", $"Locks.AcquireAsync + Dispose, {threads} thread(s)", Baseline, f, b,
            notes: $"{Report.Fmt(f.MicrosecondsPerOp)} µs vs {Report.Fmt(b.MicrosecondsPerOp)} µs per op (wall time × threads / ops = {Report.Fmt(f.MicrosecondsPerOp * threads)} µs of a thread)"), peak);

        (f, b) = await Timing.PairAsync(context.Repetitions, () => Timing.RunTimedAsync(threads, context.RepetitionDuration, (w, i) =>
        {
            using var l = repo.Locks.TryAcquire(digests[w][i % PerWorker]) ?? throw new InvalidOperationException("uncontended TryAcquire failed");
            return ValueTask.FromResult(0L);
        }), Raw);
        context.Add(BenchContext.Throughput("lock", $"Locks.TryAcquire + Dispose, {threads} thread(s)", Baseline, f, b,
            notes: $"{Report.Fmt(f.MicrosecondsPerOp)} µs vs {Report.Fmt(b.MicrosecondsPerOp)} µs per op"), peak);

        // Overhead on a duplicate 64 KiB insert: per-op time of both, measured interleaved.
        const int Size = 64 << 10;
        int k = InsertDuplicateScenario.PerWorker(Size);
        var buffers = Enumerable.Range(0, threads).Select(_ => Enumerable.Range(0, k).Select(_ => Chunks.NewBuffer(Size)).ToArray()).ToArray();
        var bufferDigests = buffers.Select(ws => ws.Select(x => ChunkDigest.Compute(x)).ToArray()).ToArray();
        foreach (var x in buffers.SelectMany(x => x))
        {
            await repo.InsertAsync(x);
        }

        var (lockCost, dup) = await Timing.PairAsync(context.Repetitions,
            () => Timing.RunTimedAsync(threads, context.RepetitionDuration, async (w, i) =>
            {
                using var l = await repo.Locks.AcquireAsync(bufferDigests[w][i % k], timeout);
                return 0;
            }),
            () => Timing.RunTimedAsync(threads, context.RepetitionDuration, async (w, i) =>
                (await repo.InsertAsync(buffers[w][i % k])).IsNew ? throw new InvalidOperationException("stored chunk reported new") : (long)Size));
        context.Add(new ResultRow
        {
            Group = "lock overhead",
            Scenario = $"lock acquire+release vs duplicate 64 KiB insert, {threads} thread(s)",
            Unit = "µs/op",
            Figure = lockCost.MicrosecondsPerOp,
            FigureMin = lockCost.Samples.Min(s => s.MicrosecondsPerOp),
            FigureMax = lockCost.Samples.Max(s => s.MicrosecondsPerOp),
            Baseline = "duplicate 64 KiB insert (same digests, same run)",
            BaselineFigure = dup.MicrosecondsPerOp,
            TargetKind = TargetKind.AtMost,
            Target = 0.10,
            AllocatedPerOp = lockCost.AllocatedPerOp,
            BaselineAllocatedPerOp = dup.AllocatedPerOp,
            Repetitions = lockCost.Samples.Count,
            Notes = $"lock cost = {100 * lockCost.MicrosecondsPerOp / dup.MicrosecondsPerOp:F1} % of a duplicate insert (µs/op = wall time / ops over all threads)",
        }, peak);

        foreach (var fd in fds)
        {
            Posix.Close(fd);
        }

        BenchContext.DeleteQuietly(Path.GetDirectoryName(repo.Root)!);
        BenchContext.DeleteQuietly(rawDir);
    }
}
