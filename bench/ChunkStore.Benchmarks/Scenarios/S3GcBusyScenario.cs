using System.Diagnostics;
using Amazon.S3;
using Amazon.S3.Model;
using ChunkStore.Benchmarks.Harness;
using ChunkStore.FileSystem;
using ChunkStore.S3;
using ChunkStore.Diagnostics;
using ChunkStore.Tests.Infrastructure;

namespace ChunkStore.Benchmarks.Scenarios;

/// <summary>
/// How often another process finds unrelated chunks busy while an S3 garbage collection sweeps (issue 12, item 6).
/// A fresh store holds <c>objects</c> 64-byte chunks, <c>garbage</c> of them unreferenced and old (local files' atime
/// two days back, objects older than the grace period in server time), the rest referenced. The store talks to S3
/// through a <see cref="LatencyProxy"/> that holds every request of the collection for <c>latency</c> (a remote
/// endpoint: LIST pages and DeleteObjects alike). A second process (<see cref="LockProbe"/>) try-locks fresh random
/// digests on the store's lock directory, only while the sweep runs. Figure: the busy share; baseline: the share a full
/// batch's locks cover, held throughout.
/// </summary>
internal sealed class S3GcBusyScenario(S3Target target, int objects, int garbage, int batchSize, TimeSpan latency) : IScenario
{
    /// <summary>Short, so that the objects are old enough in server time after a few seconds (the new sweep checks it).</summary>
    private static readonly TimeSpan s_grace = TimeSpan.FromSeconds(2);

    /// <summary>How much older than the grace period, in server time, the newest object must be before the collection starts.</summary>
    private static readonly TimeSpan s_serverAgeMargin = TimeSpan.FromSeconds(5);

    public string Name => $"S3GcBusyRate {(garbage == objects ? "dense" : "sparse")}/{batchSize}: {garbage:N0} of {objects:N0} objects garbage, DeleteBatchSize {batchSize}";

    public string Baseline => "a full batch's locks held the whole sweep: 1 − (1 − 1/stripes)^min(batch, garbage)";

    public async Task RunAsync(BenchContext context)
    {
        double peak = BenchContext.PeakWorkingSetMiB();
        await using var proxy = new LatencyProxy(new Uri(target.Endpoint));
        await target.WithStoreAsync(context, "s3-gc-busy", 8, async (repo, backend, raw, bucket) =>
        {
            var sw = Stopwatch.StartNew();
            var old = new ChunkDigest[garbage];
            var live = new ChunkDigest[objects - garbage];
            await Parallel.ForEachAsync(Enumerable.Range(0, objects), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, ct) =>
            {
                var d = (await repo.InsertAsync(Chunks.NewBuffer(64), ct)).Digest;
                if (i < garbage)
                {
                    old[i] = d;
                }
                else
                {
                    live[i - garbage] = d;
                }
            });
            double populate = sw.Elapsed.TotalSeconds;

            var layout = new ChunkLayout(repo.Root);
            var longAgo = DateTimeOffset.UtcNow.AddDays(-2);
            foreach (var d in old)
            {
                if (Posix.SetAtime(layout.ChunkPath(d), longAgo) is var err and not 0)
                {
                    throw new InvalidOperationException($"utimensat of {d}'s local file failed: errno {err}");
                }
            }

            // The probe samples once while nothing holds locks (expected 0 %), during the wait for the server's clock.
            await using var probe = await LockProbe.StartAsync(repo.Locks.LockDirectory, repo.Locks.Stripes);
            await probe.StartSamplingAsync();
            await WaitUntilServerAgeAsync(raw, bucket, s_grace + s_serverAgeMargin);
            var idle = await probe.StopSamplingAsync();

            long deletesBefore = backend.Requests.Count(S3RequestKind.DeleteObjects), delayedBefore = proxy.DelayedRequests;
            repo.Hooks = new HookSet { GcMarked = _ => new ValueTask(probe.StartSamplingAsync()) };
            proxy.Latency = latency;
            var r = await repo.Maintenance.GarbageCollectAsync(live, new GarbageCollectionOptions { GracePeriod = s_grace, WriterSafetyMargin = s_grace });
            proxy.Latency = TimeSpan.Zero;
            var busy = await probe.StopSamplingAsync();
            repo.Hooks = NoInterleavingHooks.Instance;
            long deletes = backend.Requests.Count(S3RequestKind.DeleteObjects) - deletesBefore, delayed = proxy.DelayedRequests - delayedBefore;
            if (r.ChunksRemoved + r.SkippedBusy + r.RemoveFailed != garbage || r.ChunksInUse != live.Length)
            {
                throw new InvalidOperationException($"{Name}: GC removed {r.ChunksRemoved}, skipped {r.SkippedBusy} busy, failed {r.RemoveFailed}, pending {r.ChunksPending}, in use {r.ChunksInUse}; expected {garbage} garbage and {live.Length} in use");
            }

            int stripes = repo.Locks.Stripes;
            double bound = 1 - Math.Pow(1 - (1.0 / stripes), Math.Min(batchSize, garbage));
            context.Report.GcBusy.Add(new GcBusyRow(Name, objects, garbage, batchSize, latency.TotalMilliseconds, stripes, r.SweepDuration.TotalSeconds,
                delayed, deletes, r.ChunksRemoved, r.SkippedBusy, busy.Samples, busy.BusyFraction, busy.PeakWindowBusy, bound, idle.BusyFraction, idle.Samples));
            double percent = 100 * busy.BusyFraction;
            context.Add(new ResultRow
            {
                Group = "S3 GC busy rate",
                Scenario = Name,
                Unit = "% busy",
                Figure = percent,
                FigureMin = percent,
                FigureMax = percent,
                Baseline = Baseline,
                BaselineFigure = 100 * bound,
                Repetitions = 1,
                Notes = $"sweep {r.SweepDuration.TotalSeconds:F1} s with {deletes} DeleteObjects; {delayed} requests of the GC each held {latency.TotalMilliseconds:F0} ms; {busy.Samples:N0} try-locks by another process during the sweep, peak 250 ms window {100 * busy.PeakWindowBusy:F1} %; one run (see the S3 GC busy table); populated at {objects / populate:F0} inserts/s",
            }, peak);
        }, o =>
        {
            o.Endpoint = proxy.Endpoint;
            o.DeleteBatchSize = batchSize;
        });
    }

    /// <summary>
    /// Waits until the newest object under <c>.chunks/</c> is <paramref name="age"/> old by the server's clock (the
    /// <c>Date</c> of an unauthenticated request: whole seconds, rounded down, so never early).
    /// </summary>
    private async Task WaitUntilServerAgeAsync(AmazonS3Client raw, string bucket, TimeSpan age)
    {
        var newest = DateTimeOffset.MinValue;
        long count = 0;
        string? token = null;
        do
        {
            var page = await raw.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, Prefix = ".chunks/", ContinuationToken = token });
            foreach (var o in page.S3Objects ?? [])
            {
                count++;
                if (o.LastModified is { } lm && new DateTimeOffset(DateTime.SpecifyKind(lm, DateTimeKind.Utc)) is var t && t > newest)
                {
                    newest = t;
                }
            }

            token = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (token is not null);
        if (count != objects)
        {
            throw new InvalidOperationException($"{Name}: the bucket lists {count} objects, expected {objects}");
        }

        using var http = new HttpClient();
        while (true)
        {
            using var response = await http.GetAsync(new Uri(target.Endpoint));
            var now = response.Headers.Date ?? throw new InvalidOperationException("the S3 endpoint's answer has no Date header");
            var left = newest + age - now;
            if (left <= TimeSpan.Zero)
            {
                return;
            }

            await Task.Delay(left + TimeSpan.FromMilliseconds(200));
        }
    }
}
