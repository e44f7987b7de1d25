using System.Diagnostics;
using System.Diagnostics.Metrics;
using ChunkStore.Benchmarks.Harness;

namespace ChunkStore.Benchmarks.Scenarios;

/// <summary>
/// What metrics and tracing cost: duplicate 64 KiB inserts and touches with nobody listening (the figure) vs the same
/// with a <see cref="MeterListener"/> and an <see cref="ActivityListener"/> collecting everything (the baseline). With
/// nobody listening the instrumentation is one <c>Enabled</c> check per operation, so the figure must not be slower.
/// </summary>
internal sealed class InstrumentationScenario : IScenario
{
    public string Name => "metrics off vs on, duplicate 64 KiB insert + touch, 1 thread";

    public string Baseline => "same operations with a MeterListener and ActivityListener on ChunkStore";

    public async Task RunAsync(BenchContext context)
    {
        double peak = BenchContext.PeakWorkingSetMiB();
        using var repo = context.CreateStore("instrumentation");
        var buffers = Enumerable.Range(0, 64).Select(_ => Chunks.NewBuffer(64 << 10)).ToArray();
        var digests = new ChunkDigest[buffers.Length];
        for (int i = 0; i < buffers.Length; i++)
        {
            digests[i] = (await repo.InsertAsync(buffers[i])).Digest;
        }

        async ValueTask<long> Op(long i)
        {
            var buffer = buffers[i % buffers.Length];
            await repo.InsertAsync(buffer);
            await repo.TouchAsync(digests[i % digests.Length]);
            return buffer.Length;
        }

        long measurements = 0;
        var (f, b) = await Timing.PairAsync(context.Repetitions,
            () => Timing.RunTimedAsync(1, context.RepetitionDuration, (_, i) => Op(i)),
            async () =>
            {
                using var meters = new MeterListener
                {
                    InstrumentPublished = (instrument, l) =>
                    {
                        if (instrument.Meter.Name == "ChunkStore")
                        {
                            l.EnableMeasurementEvents(instrument);
                        }
                    },
                };
                meters.SetMeasurementEventCallback<long>((_, _, _, _) => Interlocked.Increment(ref measurements));
                meters.SetMeasurementEventCallback<double>((_, _, _, _) => Interlocked.Increment(ref measurements));
                meters.Start();
                using var activities = new ActivityListener
                {
                    ShouldListenTo = s => s.Name == "ChunkStore",
                    Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
                };
                ActivitySource.AddActivityListener(activities);
                return await Timing.RunTimedAsync(1, context.RepetitionDuration, (_, i) => Op(i));
            });
        context.Add(BenchContext.Throughput("instrumentation", Name, Baseline, f, b, TargetKind.None, null,
            $"ratio ≥ 1 means listening costs something and not listening costs nothing; {measurements:N0} measurements recorded while listening"), peak);
        BenchContext.DeleteQuietly(Path.GetDirectoryName(repo.Root)!);
    }
}
