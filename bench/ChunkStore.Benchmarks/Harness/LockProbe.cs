using System.Diagnostics;
using System.Globalization;
using ChunkStore.Locking;

namespace ChunkStore.Benchmarks.Harness;

/// <summary>What a <see cref="LockProbe"/> saw while it sampled.</summary>
/// <param name="Busy">Try-locks that found the digest busy.</param>
/// <param name="Free">Try-locks that got the lock.</param>
/// <param name="PeakWindowBusy">The highest busy fraction of one 250 ms window (with at least 50 samples).</param>
/// <param name="Seconds">How long the probe sampled.</param>
internal readonly record struct ProbeCounts(long Busy, long Free, double PeakWindowBusy, double Seconds)
{
    public long Samples => Busy + Free;

    public double BusyFraction => Samples == 0 ? double.NaN : (double)Busy / Samples;
}

/// <summary>
/// A second process on a store's lock directory that try-locks fresh random digests and counts how many it finds
/// busy: what an unrelated insert in another process would meet. The benchmark starts itself as the probe with
/// <c>--lock-probe DIR STRIPES</c>. Line protocol: the probe prints <c>ready</c>; <c>start</c> begins sampling
/// (answer <c>started</c>); <c>stop</c> ends it (answer <c>counts BUSY FREE PEAK SECONDS</c>); end of input ends it.
/// </summary>
internal sealed class LockProbe : IAsyncDisposable
{
    private const string Argument = "--lock-probe";
    private static readonly TimeSpan s_answerTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan s_window = TimeSpan.FromMilliseconds(250);
    private readonly Process _process;

    private LockProbe(Process process) => _process = process;

    /// <summary>Whether <paramref name="args"/> ask this process to be a probe.</summary>
    public static bool IsProbe(string[] args) => args is [Argument, _, _];

    /// <summary>Starts the benchmark binary again as a probe on <paramref name="lockDirectory"/> and waits until it is ready.</summary>
    public static async Task<LockProbe> StartAsync(string lockDirectory, int stripes)
    {
        string self = Environment.ProcessPath ?? "dotnet";
        var info = new ProcessStartInfo(self) { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            info.ArgumentList.Add(typeof(LockProbe).Assembly.Location);
        }

        info.ArgumentList.Add(Argument);
        info.ArgumentList.Add(lockDirectory);
        info.ArgumentList.Add(stripes.ToString(CultureInfo.InvariantCulture));
        var probe = new LockProbe(Process.Start(info) ?? throw new InvalidOperationException("could not start the lock probe process"));
        await probe.ExpectAsync("ready");
        return probe;
    }

    public async Task StartSamplingAsync()
    {
        await _process.StandardInput.WriteLineAsync("start");
        await ExpectAsync("started");
    }

    public async Task<ProbeCounts> StopSamplingAsync()
    {
        await _process.StandardInput.WriteLineAsync("stop");
        var f = (await ExpectAsync("counts")).Split(' ');
        var ci = CultureInfo.InvariantCulture;
        return new ProbeCounts(long.Parse(f[1], ci), long.Parse(f[2], ci), double.Parse(f[3], ci), double.Parse(f[4], ci));
    }

    public async ValueTask DisposeAsync()
    {
        _process.StandardInput.Close();
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await _process.WaitForExitAsync(wait.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill();
        }

        _process.Dispose();
    }

    private async Task<string> ExpectAsync(string word)
    {
        _process.StandardInput.Flush();
        string line = await _process.StandardOutput.ReadLineAsync().WaitAsync(s_answerTimeout)
            ?? throw new InvalidOperationException($"the lock probe exited (code {(_process.HasExited ? _process.ExitCode : -1)}) instead of answering '{word}'");
        return line == word || line.StartsWith(word + " ", StringComparison.Ordinal)
            ? line
            : throw new InvalidOperationException($"the lock probe answered '{line}', expected '{word}'");
    }

    /// <summary>The probe process: <c>--lock-probe DIR STRIPES</c>.</summary>
    public static int RunChild(string[] args)
    {
        using var locks = new ChunkLockManager(args[1], int.Parse(args[2], CultureInfo.InvariantCulture));
        Sampler? sampler = null;
        Console.Out.WriteLine("ready");
        while (Console.In.ReadLine() is { } line)
        {
            switch (line)
            {
                case "start" when sampler is null:
                    sampler = new Sampler(locks);
                    Console.Out.WriteLine("started");
                    break;
                case "stop" when sampler is not null:
                    var c = sampler.Stop();
                    sampler = null;
                    Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"counts {c.Busy} {c.Free} {c.PeakWindowBusy:R} {c.Seconds:R}"));
                    break;
                default:
                    Console.Error.WriteLine($"lock probe: unexpected command '{line}'");
                    return 2;
            }
        }

        return 0;
    }

    /// <summary>
    /// Try-locks one fresh random digest about every millisecond on a thread of its own (≈ 1,000 samples/s, so the
    /// probe takes little CPU from the collection it watches on a small VM).
    /// </summary>
    private sealed class Sampler
    {
        private readonly ChunkLockManager _locks;
        private readonly Thread _thread;
        private readonly Stopwatch _elapsed = Stopwatch.StartNew();
        private volatile bool _stop;
        private long _busy, _free;
        private double _peak;

        public Sampler(ChunkLockManager locks)
        {
            _locks = locks;
            _thread = new Thread(Run) { IsBackground = true, Name = "lock probe" };
            _thread.Start();
        }

        public ProbeCounts Stop()
        {
            _stop = true;
            _thread.Join();
            return new ProbeCounts(_busy, _free, _peak, _elapsed.Elapsed.TotalSeconds);
        }

        private void Run()
        {
            Span<byte> bytes = stackalloc byte[32];
            long windowStart = Stopwatch.GetTimestamp(), windowBusy = 0, windowAll = 0;
            while (!_stop)
            {
                Random.Shared.NextBytes(bytes);
                if (_locks.TryAcquire(new ChunkDigest(bytes)) is { } held)
                {
                    held.Dispose();
                    _free++;
                }
                else
                {
                    _busy++;
                    windowBusy++;
                }

                windowAll++;
                if (Stopwatch.GetElapsedTime(windowStart) >= s_window)
                {
                    if (windowAll >= 50)
                    {
                        _peak = Math.Max(_peak, (double)windowBusy / windowAll);
                    }

                    (windowStart, windowBusy, windowAll) = (Stopwatch.GetTimestamp(), 0, 0);
                }

                Thread.Sleep(1);
            }
        }
    }
}
