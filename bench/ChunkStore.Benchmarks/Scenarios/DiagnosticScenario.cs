using System.Diagnostics;
using ChunkStore.Benchmarks.Harness;
using ChunkStore.FileSystem;

namespace ChunkStore.Benchmarks.Scenarios;

/// <summary>
/// Sub-step timings that explain missed targets (run with <c>--diagnose</c>): the GC mark loop taken apart, and
/// <c>Locks.AcquireAsync</c> with more or fewer distinct stripes in use. Results go to the report's notes.
/// </summary>
internal sealed class DiagnosticScenario : IScenario
{
    public string Name => "diagnostics: mark and lock sub-steps";

    public string Baseline => "n/a";

    public async Task RunAsync(BenchContext context)
    {
        using var repo = context.CreateStore("diagnose");
        const int Count = 10_000;
        var digests = new List<ChunkDigest>(Count);
        var buf = new byte[64];
        for (int i = 0; i < Count; i++)
        {
            Random.Shared.NextBytes(buf);
            digests.Add((await repo.InsertAsync(buf)).Digest);
        }

        string chunks = repo.Layout.ChunksDirectory;
        var backend = (FileSystemBackend)repo.Backend;
        var steps = new (string Name, Func<Task> Run)[]
        {
            ("raw: build path + P/Invoke utimensat", () =>
            {
                foreach (var d in digests)
                {
                    Posix.TouchAtime(RawOps.ChunkPath(chunks, d));
                }

                return Task.CompletedTask;
            }),
            ("library: Layout.ChunkPath + Libc.TouchAccessTime", () =>
            {
                foreach (var d in digests)
                {
                    Native.Libc.TouchAccessTime(repo.Layout.ChunkPath(d));
                }

                return Task.CompletedTask;
            }),
            ("library: backend.MarkAsync loop (adds section)", async () =>
            {
                foreach (var d in digests)
                {
                    await backend.MarkAsync(d, default);
                }
            }),
            ("library: RecentDigestSet(1<<20).Add only", () =>
            {
                var set = new RecentDigestSet(1 << 20);
                foreach (var d in digests)
                {
                    set.Add(d);
                }

                return Task.CompletedTask;
            }),
            ("library: await foreach over ChunkRepository.ToAsync(list) only", async () =>
            {
                await foreach (var d in ChunkRepository.ToAsync(digests))
                {
                    _ = d;
                }
            }),
            ("GarbageCollectAsync: MarkDuration", async () => await repo.Maintenance.GarbageCollectAsync(digests)),
        };

        foreach (var (name, run) in steps)
        {
            var times = new List<double>();
            for (int r = 0; r < 4; r++)
            {
                var sw = Stopwatch.StartNew();
                await run();
                times.Add(sw.Elapsed.TotalSeconds);
            }

            double t = Series.Median(times.Skip(1));
            if (name.StartsWith("GarbageCollectAsync", StringComparison.Ordinal))
            {
                var r = await repo.Maintenance.GarbageCollectAsync(digests);
                t = r.MarkDuration.TotalSeconds;
            }

            context.Report.Notes.Add($"Diagnose mark ({Count:N0} chunks): {name}: {t * 1e6 / Count:F2} µs per chunk.");
            Console.Error.WriteLine($"  {name}: {t * 1e6 / Count:F2} µs/chunk");
        }

        // AcquireAsync: distinct stripes in use vs the lock manager's 256 cached descriptors, 1 and 2 threads.
        foreach (var (threads, perWorker) in new[] { (1, 128), (1, 512), (2, 64), (2, 128), (2, 512) })
        {
            var ds = Enumerable.Range(0, threads).Select(_ => Enumerable.Range(0, perWorker).Select(_ => ChunkDigest.Compute(Chunks.NewBuffer(64))).ToArray()).ToArray();
            int stripes = ds.SelectMany(x => x).Select(d => repo.Locks.StripeOf(d)).Distinct().Count();
            var s = await Timing.SingleAsync(3, () => Timing.RunTimedAsync(threads, TimeSpan.FromSeconds(0.3), async (w, i) =>
            {
                using var l = await repo.Locks.AcquireAsync(ds[w][i % perWorker], TimeSpan.FromSeconds(30));
                return 0;
            }));
            string line = $"Diagnose lock: AcquireAsync+Dispose, {threads} thread(s), {perWorker} digests each ({stripes} distinct stripes): {s.MicrosecondsPerOp:F2} µs/op ({Report.Fmt(s.OpsPerSecond)} ops/s).";
            context.Report.Notes.Add(line);
            Console.Error.WriteLine("  " + line);
        }

        // Raw 64 KiB write+rename: into a new prefix directory each time (young store) vs into one existing directory.
        string rawRoot = context.NewDirectory("diagnose-raw");
        var data = Chunks.NewBuffer(64 << 10);
        var rnd = new Random(1);
        foreach (bool existing in new[] { false, true, false, true })
        {
            var sw = Stopwatch.StartNew();
            var written = new List<string>();
            for (int i = 0; i < 300; i++)
            {
                string name = RawOps.RandomName(rnd);
                written.Add(RawOps.WriteRename(rawRoot, existing ? "0000" + name[4..] : name, data, fsync: false, rnd));
            }

            double us = sw.Elapsed.TotalSeconds * 1e6 / 300;
            string line = $"Diagnose write: raw 64 KiB write+rename, no fsync, {(existing ? "into one existing prefix directory" : "each into a new prefix directory (mkdir)")}: {us:F0} µs per file.";
            context.Report.Notes.Add(line);
            Console.Error.WriteLine("  " + line);
            written.ForEach(File.Delete);
        }

        BenchContext.DeleteQuietly(rawRoot);
        BenchContext.DeleteQuietly(Path.GetDirectoryName(repo.Root)!);
    }
}
