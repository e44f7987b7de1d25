using System.Diagnostics;
using System.Runtime;
using ChunkStore.Benchmarks.Harness;
using ChunkStore.Benchmarks.Scenarios;

namespace ChunkStore.Benchmarks;

/// <summary>
/// Self-timed benchmark runner: every scenario is measured together with a raw baseline in the same run.
/// Usage: <c>ChunkStore.Benchmarks [quick|full] [--dir DIR] [--out DIR] [--s3] [--only TEXT] [--diagnose]</c>.
/// The S3 GC busy-rate scenarios start the binary again as a second process: <c>--lock-probe DIR STRIPES</c>
/// (<see cref="LockProbe"/>).
/// </summary>
internal static class Program
{
    private static readonly int[] s_sizes = [64 << 10, 1 << 20, 4 << 20];
    private static readonly int[] s_threads = [1, 2];

    public static async Task<int> Main(string[] args)
    {
        if (LockProbe.IsProbe(args))
        {
            return LockProbe.RunChild(args);
        }

        string mode = "quick";
        string? dir = null, outDir = null, only = null;
        bool s3 = false, diagnose = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "quick" or "full":
                    mode = args[i];
                    break;
                case "--mode":
                    mode = args[++i];
                    break;
                case "--dir":
                    dir = args[++i];
                    break;
                case "--out":
                    outDir = args[++i];
                    break;
                case "--only":
                    only = args[++i];
                    break;
                case "--s3":
                    s3 = true;
                    break;
                case "--diagnose":
                    diagnose = true;
                    break;
                default:
                    Console.Error.WriteLine($"unknown argument {args[i]}; usage: [quick|full] [--dir DIR] [--out DIR] [--s3] [--only TEXT] [--diagnose]");
                    return 2;
            }
        }

        if (mode is not ("quick" or "full"))
        {
            Console.Error.WriteLine("mode must be quick or full");
            return 2;
        }

        // The run's own folder, always fresh and always removed: --dir names the parent.
        string root = Path.Combine(dir ?? Path.GetTempPath(), $"chunkstore-bench-{Environment.ProcessId}-{DateTime.Now:yyyyMMddHHmmss}");
        Directory.CreateDirectory(root);
        var report = new Report { Mode = mode, Machine = MachineInfo.Collect(root) };
        bool full = mode == "full";
        var context = new BenchContext
        {
            Mode = mode,
            Directory = root,
            Repetitions = full ? 5 : 3,
            RepetitionDuration = TimeSpan.FromSeconds(full ? 0.6 : 0.2),
            Report = report,
            S3 = s3,
        };

        var scenarios = BuildScenarios(full, s3);
        if (diagnose)
        {
            scenarios.Add(new DiagnosticScenario());
            if (s3 && S3Target.FromEnvironment() is { } diagnoseTarget)
            {
                scenarios.Add(new S3InsertDiagnosticScenario(diagnoseTarget));
            }
        }

        if (only is not null)
        {
            scenarios = scenarios.Where(s => s.Name.Contains(only, StringComparison.OrdinalIgnoreCase)).ToList();
        }

        var total = Stopwatch.StartNew();
        try
        {
            Warmup(context);
            foreach (var scenario in scenarios)
            {
                Console.Error.WriteLine($"[{total.Elapsed:mm\\:ss}] {scenario.Name}");
                await scenario.RunAsync(context);
            }
        }
        finally
        {
            BenchContext.DeleteQuietly(root);
        }

        report.Duration = total.Elapsed;
        report.Notes.Add($"Load average at the end (1 / 5 / 15 min): {MachineInfo.LoadAverageNow()} on {Environment.ProcessorCount} cores.");
        AddNotes(context);
        string md = report.ToMarkdown();
        if (outDir is not null)
        {
            Directory.CreateDirectory(outDir);
            File.WriteAllText(Path.Combine(outDir, "report.md"), md);
            report.WriteJson(Path.Combine(outDir, "report.json"));
        }

        Console.WriteLine(md);
        return 0;
    }

    /// <summary>The scenario list: to add one, append an <see cref="IScenario"/> here.</summary>
    private static List<IScenario> BuildScenarios(bool full, bool s3)
    {
        var list = new List<IScenario>();

        // Reference baselines first (the insert rows use the SHA figures for their hash-then-write model).
        foreach (int size in s_sizes)
        {
            foreach (int t in s_threads)
            {
                list.Add(new HashBaseline(size, t));
            }
        }

        foreach (int size in s_sizes)
        {
            foreach (int t in s_threads)
            {
                if (full || (t == 1 && size != 1 << 20))
                {
                    list.Add(new RawWriteBaseline(size, t, fsync: true));
                }
            }
        }

        list.Add(new RawFlockBaseline());

        foreach (int size in s_sizes)
        {
            foreach (int t in s_threads)
            {
                list.Add(new InsertNewScenario(size, t, SyncMode.None));
            }
        }

        if (full)
        {
            foreach (var sync in new[] { SyncMode.File, SyncMode.Batch })
            {
                foreach (int size in new[] { 64 << 10, 4 << 20 })
                {
                    foreach (int t in s_threads)
                    {
                        list.Add(new InsertNewScenario(size, t, sync));
                    }
                }
            }
        }

        foreach (int size in s_sizes)
        {
            foreach (int t in s_threads)
            {
                list.Add(new InsertDuplicateScenario(size, t));
            }
        }

        list.Add(new InstrumentationScenario());

        foreach (int size in s_sizes)
        {
            foreach (int t in s_threads)
            {
                foreach (var mode in Enum.GetValues<ReadMode>())
                {
                    list.Add(new ReadScenario(size, t, mode));
                }
            }
        }

        foreach (int t in s_threads)
        {
            list.Add(new TouchScenario(t));
        }

        list.Add(new VerifyAllScenario(full ? 4096 : 1024, 64 << 10, 2));
        if (full)
        {
            list.Add(new VerifyAllScenario(256, 1 << 20, 2));
        }

        foreach (int t in s_threads)
        {
            list.Add(new LockScenario(t));
        }

        list.Add(new GcScenario(10_000, full ? 5 : 3));
        if (full)
        {
            list.Add(new GcScenario(100_000, 3));
            list.Add(new GcScenario(1_000_000, 2));
        }

        // samples/ChunkStore.Server: PUT /chunks over loopback against the library's own insert (Scenarios/ServerPutScenario.cs).
        foreach (var (size, inFlight) in full ? new[] { (64 << 10, 1), (64 << 10, 4), (1 << 20, 1), (1 << 20, 4), (4 << 20, 1), (4 << 20, 2) } : [(64 << 10, 1), (64 << 10, 4), (4 << 20, 1), (4 << 20, 2)])
        {
            list.Add(new ServerPutScenario(size, inFlight));
        }

        list.Add(new ServerPutScenario(64 << 10, 2, duplicates: true));

        if (s3)
        {
            if (S3Target.FromEnvironment() is not { } target)
            {
                // bench/run.sh --s3 starts a local RGW and exports these; running the binary directly needs them set.
                throw new InvalidOperationException("--s3 needs CHUNKSTORE_S3_ENDPOINT / _ACCESS_KEY / _SECRET_KEY (use bench/run.sh --s3, which starts a local RGW).");
            }

            foreach (var (size, inFlight) in new[] { (64 << 10, 1), (64 << 10, 8), (4 << 20, 1), (4 << 20, 4) })
            {
                list.Add(new S3InsertNewScenario(target, size, inFlight));
            }

            list.Add(new S3InsertDuplicateScenario(target, 64 << 10, 2));
            list.Add(new S3InsertDuplicateScenario(target, 4 << 20, 2));
            list.Add(new S3ReadMissScenario(target, 64 << 10, 8));
            list.Add(new S3ReadMissScenario(target, 4 << 20, 4));
            list.Add(new S3GcScenario(target, full ? 10_000 : 2_000));

            // Busy rate seen by another process during the sweep: every object garbage (dense), and 1 in 10 (sparse);
            // every request of the collection 100 ms away.
            var latency = TimeSpan.FromMilliseconds(100);
            foreach (var (objects, garbage) in new[] { full ? (20_000, 20_000) : (3_000, 3_000), full ? (20_000, 2_000) : (6_000, 600) })
            {
                foreach (int batch in new[] { 100, 1000 })
                {
                    list.Add(new S3GcBusyScenario(target, objects, garbage, batch, latency));
                }
            }
        }

        return list;
    }

    /// <summary>
    /// Touches memory and the filesystem before the first measurement: first-touch memory writes are slow on this VM
    /// (≈ 300 MB/s), so the page cache and heap get a few hundred MB written once.
    /// </summary>
    private static void Warmup(BenchContext context)
    {
        var sw = Stopwatch.StartNew();
        string dir = context.NewDirectory("warmup");
        var buffer = Chunks.NewBuffer(4 << 20);
        for (int i = 0; i < (context.Full ? 128 : 48); i++)
        {
            File.WriteAllBytes(Path.Combine(dir, $"w{i}"), buffer);
        }

        BenchContext.DeleteQuietly(dir);
        GCSettings.LatencyMode = GCLatencyMode.SustainedLowLatency;
        context.Report.Notes.Add($"Warm-up: wrote and removed {(context.Full ? 512 : 192)} MiB of files before the first measurement ({sw.Elapsed.TotalSeconds:F1} s), and every series has one discarded warm-up run; figures are warm (page cache hot, memory touched).");
    }

    private static void AddNotes(BenchContext context)
    {
        var n = context.Report.Notes;
        n.Add($"Each loop repetition runs {context.RepetitionDuration.TotalSeconds:F1} s; {context.Repetitions} timed repetitions per series after one discarded warm-up run; figure and baseline repetitions alternate (B,F,F,B,…).");
        n.Add("Parallelism: N threads = N thread-pool tasks looping on their own chunks; the baseline uses the same N. ops/s counts all threads together; µs/op = wall time / ops.");
        n.Add("Raw write baseline: File.OpenHandle(CreateNew) + RandomAccess.Write of a temp file next to the target, optional fsync(file), File.Move (rename), optional fsync(dir); prefix directory created on first use; no hashing. New-insert files are removed (untimed) after every repetition.");
        n.Add("Raw touch baseline: P/Invoke utimensat(AT_FDCWD, path, {UTIME_NOW, UTIME_OMIT}, AT_SYMLINK_NOFOLLOW) with the path built from the digest on each call. Raw walk: Directory.EnumerateDirectories + Directory.EnumerateFiles + P/Invoke statx per file.");
        n.Add("Memory: alloc B/op is GC.GetTotalAllocatedBytes(precise) delta / ops over all threads; peak WS is Process.PeakWorkingSet64 after the scenario (coarse, monotonic over the process) with its growth during the scenario.");
        n.Add("Duplicate inserts cycle a few chunks per thread (64 KiB: 64, 1 MiB: 8, 4 MiB: 4), so figure and baseline hash cache-warm buffers alike. SyncMode File/Batch only matter for new chunks, so duplicates run with SyncMode.None.");
        if (!context.S3)
        {
            n.Add("S3 scenarios not run (pass --s3).");
        }
    }
}
