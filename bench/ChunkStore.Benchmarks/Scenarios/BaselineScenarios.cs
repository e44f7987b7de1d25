using ChunkStore.Benchmarks.Harness;

namespace ChunkStore.Benchmarks.Scenarios;

/// <summary>SHA-256 throughput (<c>SHA256.HashData</c>) at a chunk size and thread count — the reference table.</summary>
internal sealed class HashBaseline(int size, int threads) : IScenario
{
    public string Name => $"SHA-256 {Chunks.SizeName(size)}, {threads} thread(s)";

    public string Baseline => "none (this is a baseline)";

    public async Task RunAsync(BenchContext context)
    {
        var buffers = Enumerable.Range(0, threads).Select(_ => Chunks.NewBuffer(size)).ToArray();
        var s = await Timing.SingleAsync(context.Repetitions, () => Timing.RunTimedAsync(threads, context.RepetitionDuration, (w, _) =>
        {
            RawOps.Hash(buffers[w]);
            return ValueTask.FromResult((long)size);
        }));
        context.Report.Baselines.Add(new BaselineRow(Name, s.OpsPerSecond, s.BytesPerSecond / 1e6, s.MicrosecondsPerOp, s.AllocatedPerOp));
    }
}

/// <summary>Raw temp-write + rename (optionally fsync file and directory) into a 65,536-prefix layout.</summary>
internal sealed class RawWriteBaseline(int size, int threads, bool fsync) : IScenario
{
    public string Name => $"raw write+rename {Chunks.SizeName(size)}, {threads} thread(s), {(fsync ? "fsync file+dir" : "no fsync")}";

    public string Baseline => "none (this is a baseline)";

    public async Task RunAsync(BenchContext context)
    {
        string root = context.NewDirectory("raw-write");
        var writer = new RawWriter(root, size, threads, fsync);
        var s = await Timing.SingleAsync(context.Repetitions, () => writer.RunAsync(context.RepetitionDuration), writer.CleanupAsync);
        context.Report.Baselines.Add(new BaselineRow(Name, s.OpsPerSecond, s.BytesPerSecond / 1e6, s.MicrosecondsPerOp, s.AllocatedPerOp,
            "files removed (untimed) after each repetition; prefix dirs kept"));
        BenchContext.DeleteQuietly(root);
    }
}

/// <summary>Raw flock: lock/unlock an already open fd, and open + flock + close an existing lock file.</summary>
internal sealed class RawFlockBaseline : IScenario
{
    public string Name => "raw flock";

    public string Baseline => "none (this is a baseline)";

    public async Task RunAsync(BenchContext context)
    {
        string dir = context.NewDirectory("raw-flock");
        string path = Path.Combine(dir, "lock");
        File.WriteAllBytes(path, []);
        int fd = Posix.Open(path, Posix.O_RDWR | Posix.O_CLOEXEC, 0);
        var s = await Timing.SingleAsync(context.Repetitions, () => Timing.RunTimedAsync(1, context.RepetitionDuration, (_, _) =>
        {
            Posix.Flock(fd, Posix.LOCK_EX | Posix.LOCK_NB);
            Posix.Flock(fd, Posix.LOCK_UN);
            return ValueTask.FromResult(0L);
        }));
        Posix.Close(fd);
        context.Report.Baselines.Add(new BaselineRow("raw flock(LOCK_EX|LOCK_NB) + flock(LOCK_UN) on an open fd, 1 thread", s.OpsPerSecond, 0, s.MicrosecondsPerOp, s.AllocatedPerOp));

        s = await Timing.SingleAsync(context.Repetitions, () => Timing.RunTimedAsync(1, context.RepetitionDuration, (_, _) =>
        {
            int f = Posix.Open(path, Posix.O_RDWR | Posix.O_CREAT | Posix.O_CLOEXEC, 0b110_110_110);
            Posix.Flock(f, Posix.LOCK_EX | Posix.LOCK_NB);
            Posix.Close(f);
            return ValueTask.FromResult(0L);
        }));
        context.Report.Baselines.Add(new BaselineRow("raw open + flock + close of an existing lock file, 1 thread", s.OpsPerSecond, 0, s.MicrosecondsPerOp, s.AllocatedPerOp));
        BenchContext.DeleteQuietly(dir);
    }
}

/// <summary>
/// The raw write path used by baselines: per-worker buffers stamped unique, random names, tracked for cleanup. With
/// <c>hashFirst</c> each file is named by the SHA-256 of its content, computed first ("hash-then-write": what a new
/// insert must do at least).
/// </summary>
internal sealed class RawWriter(string root, int size, int threads, bool fsync, bool syncfsAtEnd = false, bool hashFirst = false)
{
    private readonly byte[][] _buffers = Enumerable.Range(0, threads).Select(_ => Chunks.NewBuffer(size)).ToArray();
    private readonly Random[] _random = Enumerable.Range(0, threads).Select(i => new Random(i * 7919 + size)).ToArray();
    private readonly List<string>[] _written = Enumerable.Range(0, threads).Select(_ => new List<string>()).ToArray();

    public Task<Sample> RunAsync(TimeSpan duration) => Timing.RunTimedAsync(threads, duration, (w, _) =>
    {
        var buffer = _buffers[w];
        Chunks.Stamp(buffer);
        string name = hashFirst ? Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(buffer)) : RawOps.RandomName(_random[w]);
        _written[w].Add(RawOps.WriteRename(root, name, buffer, fsync, _random[w]));
        return ValueTask.FromResult((long)buffer.Length);
    }, syncfsAtEnd ? SyncFs : null);

    private ValueTask SyncFs()
    {
        Posix.SyncFs(root);
        return ValueTask.CompletedTask;
    }

    public Task CleanupAsync()
    {
        foreach (var list in _written)
        {
            foreach (var p in list)
            {
                File.Delete(p);
            }

            list.Clear();
        }

        return Task.CompletedTask;
    }
}
