using System.Diagnostics;

namespace ChunkStore.Benchmarks.Harness;

/// <summary>One timed repetition: wall time, operations, payload bytes and bytes allocated by all threads.</summary>
internal readonly record struct Sample(double Seconds, long Ops, long Bytes, long AllocatedBytes)
{
    public double OpsPerSecond => Ops / Seconds;

    public double BytesPerSecond => Bytes / Seconds;

    public double MicrosecondsPerOp => Seconds * 1e6 / Math.Max(1, Ops);
}

/// <summary>The repetitions of one measurement (warm-up excluded) and their medians.</summary>
internal sealed class Series(List<Sample> samples)
{
    public IReadOnlyList<Sample> Samples => samples;

    public double OpsPerSecond => Median(samples.Select(s => s.OpsPerSecond));

    public double BytesPerSecond => Median(samples.Select(s => s.BytesPerSecond));

    public double MicrosecondsPerOp => Median(samples.Select(s => s.MicrosecondsPerOp));

    public double AllocatedPerOp => Median(samples.Select(s => (double)s.AllocatedBytes / Math.Max(1, s.Ops)));

    public double MinOpsPerSecond => samples.Min(s => s.OpsPerSecond);

    public double MaxOpsPerSecond => samples.Max(s => s.OpsPerSecond);

    public long TotalOps => samples.Sum(s => s.Ops);

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }
}

/// <summary>A loop body: worker index, iteration of that worker → payload bytes processed.</summary>
internal delegate ValueTask<long> WorkerBody(int worker, long iteration);

internal static class Timing
{
    /// <summary>
    /// Runs <paramref name="threads"/> workers (thread-pool tasks) that call <paramref name="body"/> until
    /// <paramref name="duration"/> has passed, then <paramref name="finish"/> (inside the timed region, e.g. a syncfs).
    /// Allocation is <see cref="GC.GetTotalAllocatedBytes(bool)"/> (precise, all threads) around the region.
    /// </summary>
    public static async Task<Sample> RunTimedAsync(int threads, TimeSpan duration, WorkerBody body, Func<ValueTask>? finish = null)
    {
        long allocBefore = GC.GetTotalAllocatedBytes(true);
        long ops = 0, bytes = 0;
        var sw = Stopwatch.StartNew();
        long deadline = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var workers = new Task[threads];
        for (int w = 0; w < threads; w++)
        {
            int worker = w;
            workers[w] = Task.Run(async () =>
            {
                long i = 0, b = 0;
                do
                {
                    b += await body(worker, i).ConfigureAwait(false);
                    i++;
                }
                while (Stopwatch.GetTimestamp() < deadline);
                Interlocked.Add(ref ops, i);
                Interlocked.Add(ref bytes, b);
            });
        }

        await Task.WhenAll(workers).ConfigureAwait(false);
        if (finish is not null)
        {
            await finish().ConfigureAwait(false);
        }

        double seconds = sw.Elapsed.TotalSeconds;
        long allocated = GC.GetTotalAllocatedBytes(true) - allocBefore;
        return new Sample(seconds, ops, bytes, allocated);
    }

    /// <summary>Times one whole job (e.g. a VerifyAll or a GC) that reports its own operation and byte counts.</summary>
    public static async Task<Sample> RunOnceAsync(Func<Task<(long Ops, long Bytes)>> job)
    {
        long allocBefore = GC.GetTotalAllocatedBytes(true);
        var sw = Stopwatch.StartNew();
        var (ops, bytes) = await job().ConfigureAwait(false);
        double seconds = sw.Elapsed.TotalSeconds;
        return new Sample(seconds, ops, bytes, GC.GetTotalAllocatedBytes(true) - allocBefore);
    }

    /// <summary>
    /// Measures a figure and its baseline interleaved: one warm-up run of each (discarded), then
    /// <paramref name="reps"/> rounds alternating the order (B,F then F,B, …) so drift hits both alike.
    /// <paramref name="cleanup"/> runs untimed after every run (e.g. removing the files just written).
    /// </summary>
    public static async Task<(Series Figure, Series Baseline)> PairAsync(
        int reps, Func<Task<Sample>> figure, Func<Task<Sample>> baseline, Func<Task>? cleanup = null)
    {
        var f = new List<Sample>();
        var b = new List<Sample>();
        async Task Run(Func<Task<Sample>> what, List<Sample>? into)
        {
            var s = await what().ConfigureAwait(false);
            into?.Add(s);
            if (cleanup is not null)
            {
                await cleanup().ConfigureAwait(false);
            }
        }

        await Run(baseline, null).ConfigureAwait(false);
        await Run(figure, null).ConfigureAwait(false);
        for (int r = 0; r < reps; r++)
        {
            if (r % 2 == 0)
            {
                await Run(baseline, b).ConfigureAwait(false);
                await Run(figure, f).ConfigureAwait(false);
            }
            else
            {
                await Run(figure, f).ConfigureAwait(false);
                await Run(baseline, b).ConfigureAwait(false);
            }
        }

        return (new Series(f), new Series(b));
    }

    /// <summary>Measures one series alone (warm-up + reps), for baseline-only rows.</summary>
    public static async Task<Series> SingleAsync(int reps, Func<Task<Sample>> what, Func<Task>? cleanup = null)
    {
        var list = new List<Sample>();
        for (int r = -1; r < reps; r++)
        {
            var s = await what().ConfigureAwait(false);
            if (r >= 0)
            {
                list.Add(s);
            }

            if (cleanup is not null)
            {
                await cleanup().ConfigureAwait(false);
            }
        }

        return new Series(list);
    }
}
