using System.Collections.Concurrent;
using System.Diagnostics;
using ChunkStore.Benchmarks.Harness;

namespace ChunkStore.Benchmarks.Scenarios;

/// <summary>
/// Garbage collection with every chunk referenced (nothing removable): mark rate (ChunksMarked / MarkDuration) vs a raw
/// utimensat loop over the same chunks, and sweep rate (entries / SweepDuration) vs a raw stat walk of the same
/// directories, both single-threaded like the GC. Also the GC's allocations and peak memory, to show they do not grow
/// with the chunk count.
/// </summary>
internal sealed class GcScenario(int chunkCount, int repetitions) : IScenario
{
    public string Name => $"GC at {chunkCount:N0} chunks";

    public string Baseline => "raw utimensat loop (mark), raw readdir+statx walk (sweep)";

    public async Task RunAsync(BenchContext context)
    {
        double peak = BenchContext.PeakWorkingSetMiB();
        using var repo = context.CreateStore($"gc-{chunkCount}");
        string chunks = repo.Layout.ChunksDirectory;

        // Populate: 64-byte random chunks through the store, 2 threads.
        var sw = Stopwatch.StartNew();
        var bag = new ConcurrentBag<ChunkDigest[]>();
        await Parallel.ForEachAsync(Enumerable.Range(0, 2), async (w, ct) =>
        {
            int n = (chunkCount / 2) + (w == 0 ? chunkCount % 2 : 0);
            var mine = new ChunkDigest[n];
            var buf = new byte[64];
            for (int i = 0; i < n; i++)
            {
                Random.Shared.NextBytes(buf);
                mine[i] = (await repo.InsertAsync(buf, ct)).Digest;
            }

            bag.Add(mine);
        });
        var digests = bag.SelectMany(x => x).ToList();
        double populate = sw.Elapsed.TotalSeconds;
        context.Report.Notes.Add($"GC at {chunkCount:N0}: populated with {chunkCount:N0} new 64 B chunks through InsertAsync, 2 threads, in {populate:F1} s ({Report.Fmt(chunkCount / populate)} inserts/s).");

        var mark = new List<Sample>();
        var sweep = new List<Sample>();
        var utim = new List<Sample>();
        var walk = new List<Sample>();
        GcMemoryRow? memory = null;
        long cutoff = DateTimeOffset.UtcNow.AddDays(-1).ToUnixTimeSeconds();

        Sample RawTouch()
        {
            var s = Stopwatch.StartNew();
            long alloc = GC.GetTotalAllocatedBytes(true);
            foreach (var d in digests)
            {
                if (Posix.TouchAtime(RawOps.ChunkPath(chunks, d)) != 0)
                {
                    throw new InvalidOperationException("utimensat failed");
                }
            }

            return new Sample(s.Elapsed.TotalSeconds, digests.Count, 0, GC.GetTotalAllocatedBytes(true) - alloc);
        }

        Sample RawWalk()
        {
            var s = Stopwatch.StartNew();
            long alloc = GC.GetTotalAllocatedBytes(true);
            long n = RawOps.StatWalk(chunks, cutoff, out _);
            return n == chunkCount
                ? new Sample(s.Elapsed.TotalSeconds, n, 0, GC.GetTotalAllocatedBytes(true) - alloc)
                : throw new InvalidOperationException($"stat walk saw {n} files, expected {chunkCount}");
        }

        async Task Collect(bool record)
        {
            double wsBefore = BenchContext.WorkingSetMiB();
            long heapPeak = 0, wsPeak = 0;
            using var stop = new CancellationTokenSource();
            var sampler = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    heapPeak = Math.Max(heapPeak, GC.GetTotalMemory(false));
                    wsPeak = Math.Max(wsPeak, Environment.WorkingSet);
                    try
                    {
                        await Task.Delay(10, stop.Token);
                    }
                    catch (OperationCanceledException)
                    {
                    }
                }
            });
            long alloc = GC.GetTotalAllocatedBytes(true);
            var r = await repo.Maintenance.GarbageCollectAsync(digests);
            alloc = GC.GetTotalAllocatedBytes(true) - alloc;
            await stop.CancelAsync();
            await sampler;
            long entries = r.ChunksInUse + r.ChunksPending + r.ChunksRemoved;
            if (r.ChunksMarked != chunkCount || r.ChunksInUse != chunkCount || r.ChunksRemoved != 0)
            {
                throw new InvalidOperationException($"GC marked {r.ChunksMarked}, in use {r.ChunksInUse}, removed {r.ChunksRemoved}; expected {chunkCount}/{chunkCount}/0");
            }

            if (record)
            {
                mark.Add(new Sample(r.MarkDuration.TotalSeconds, r.ChunksMarked, 0, alloc));
                sweep.Add(new Sample(r.SweepDuration.TotalSeconds, entries, 0, 0));
                memory ??= new GcMemoryRow(chunkCount, r.Duration.TotalSeconds, alloc, (double)alloc / chunkCount, heapPeak / 1048576.0, wsPeak / 1048576.0, wsBefore);
            }
        }

        // Warm-up of each (untimed; a whole extra GC only up to 100,000 chunks, to keep full mode in time), then
        // alternate orders.
        RawWalk();
        RawTouch();
        if (chunkCount <= 100_000)
        {
            await Collect(record: false);
        }
        for (int r = 0; r < repetitions; r++)
        {
            if (r % 2 == 0)
            {
                utim.Add(RawTouch());
                walk.Add(RawWalk());
                await Collect(record: true);
            }
            else
            {
                await Collect(record: true);
                walk.Add(RawWalk());
                utim.Add(RawTouch());
            }
        }

        var (m, u, s2, w2) = (new Series(mark), new Series(utim), new Series(sweep), new Series(walk));
        context.Add(BenchContext.Throughput("GC mark", $"mark (touch) rate, {chunkCount:N0} chunks", "raw utimensat loop over the same paths, 1 thread", m, u,
            TargetKind.AtLeast, 0.7, unit: "touches/s", notes: "MarkDuration / ChunksMarked; all chunks referenced; alloc column = whole GC (prepare+mark+sweep) per chunk"), peak);
        context.Add(BenchContext.Throughput("GC sweep", $"sweep rate, {chunkCount:N0} chunks", "raw readdir + statx walk, 1 thread", s2, w2,
            TargetKind.AtLeast, 0.7, unit: "entries/s", notes: "SweepDuration / entries; nothing removable (all in use)"), peak);
        if (memory is not null)
        {
            context.Report.GcMemory.Add(memory);
        }

        var del = Stopwatch.StartNew();
        BenchContext.DeleteQuietly(Path.GetDirectoryName(repo.Root)!);
        context.Report.Notes.Add($"GC at {chunkCount:N0}: removing the store took {del.Elapsed.TotalSeconds:F1} s (untimed); later file creation may be slower for a while (ext4 after mass deletes).");
    }
}
