using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using ChunkStore.Benchmarks.Harness;
using ChunkStore.S3;

namespace ChunkStore.Benchmarks.Scenarios;

/// <summary>The S3 endpoint of the run, from the environment that <c>scripts/s3-local.sh</c> writes.</summary>
internal sealed class S3Target
{
    public required string Endpoint { get; init; }

    public required string AccessKey { get; init; }

    public required string SecretKey { get; init; }

    public required string Region { get; init; }

    public static S3Target? FromEnvironment()
    {
        string? endpoint = Environment.GetEnvironmentVariable("CHUNKSTORE_S3_ENDPOINT");
        return string.IsNullOrEmpty(endpoint) ? null : new S3Target
        {
            Endpoint = endpoint,
            AccessKey = Environment.GetEnvironmentVariable("CHUNKSTORE_S3_ACCESS_KEY") ?? "",
            SecretKey = Environment.GetEnvironmentVariable("CHUNKSTORE_S3_SECRET_KEY") ?? "",
            Region = Environment.GetEnvironmentVariable("CHUNKSTORE_S3_REGION") ?? "us-east-1",
        };
    }

    /// <summary>A raw client with the settings the backend uses (path style, checksums only when required).</summary>
    public AmazonS3Client NewRawClient() => new(
        new BasicAWSCredentials(AccessKey, SecretKey),
        new AmazonS3Config
        {
            ServiceURL = Endpoint,
            ForcePathStyle = true,
            AuthenticationRegion = Region,
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        });

    /// <summary>A store in a fresh bucket; <paramref name="configure"/> may change the backend options before it is created.</summary>
    public async Task<(ChunkRepository Repo, AmazonS3Client Raw, string Bucket)> NewStoreAsync(BenchContext context, string name, int inFlight, Action<S3BackendOptions>? configure = null)
    {
        var raw = NewRawClient();
        string bucket = "bench-" + Guid.NewGuid().ToString("N")[..16];
        await raw.PutBucketAsync(new PutBucketRequest { BucketName = bucket });
        var options = new S3BackendOptions
        {
            Endpoint = new Uri(Endpoint),
            Region = Region,
            Bucket = bucket,
            AccessKey = AccessKey,
            SecretKey = SecretKey,
            MaxConcurrentRequests = Math.Max(inFlight, 8),
        };
        configure?.Invoke(options);
        var repo = S3ChunkStore.Create(new ChunkStoreOptions { Root = Path.Combine(context.NewDirectory(name), "cache") }, options);
        return (repo, raw, bucket);
    }

    /// <summary>Runs <paramref name="body"/> on a fresh store in a fresh bucket, then disposes the store and deletes the bucket.</summary>
    public async Task WithStoreAsync(BenchContext context, string name, int inFlight, Func<ChunkRepository, S3ChunkBackend, AmazonS3Client, string, Task> body,
        Action<S3BackendOptions>? configure = null)
    {
        var (repo, raw, bucket) = await NewStoreAsync(context, name, inFlight, configure);
        try
        {
            await body(repo, (S3ChunkBackend)repo.Backend, raw, bucket);
        }
        finally
        {
            await repo.DisposeAsync();
            await DeleteBucketAsync(raw, bucket);
            raw.Dispose();
        }
    }

    public static async Task DeleteBucketAsync(AmazonS3Client raw, string bucket)
    {
        while (true)
        {
            var page = await raw.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, MaxKeys = 1000 });
            if (page.S3Objects is not { Count: > 0 } objects)
            {
                break;
            }

            await raw.DeleteObjectsAsync(new DeleteObjectsRequest { BucketName = bucket, Objects = objects.Select(o => new KeyVersion { Key = o.Key }).ToList(), Quiet = true });
        }

        await raw.DeleteBucketAsync(bucket);
    }
}

/// <summary>
/// S3 insert of new chunks (conditional PUT + local cache) vs a raw AWS SDK PUT loop with the same client settings and
/// the same number of requests in flight; reports requests per insert from the backend's counting hook. Target ≥ 0.9×.
/// </summary>
internal sealed class S3InsertNewScenario(S3Target target, int size, int inFlight) : IScenario
{
    public string Name => $"S3 insert new {Chunks.SizeName(size)}, {inFlight} in flight";

    public string Baseline => "raw AWS SDK PutObject loop (If-None-Match: *), same in flight";

    public async Task RunAsync(BenchContext context)
    {
        double peak = BenchContext.PeakWorkingSetMiB();
        await target.WithStoreAsync(context, "s3-insert-new", inFlight, async (repo, backend, raw, bucket) =>
        {
        var buffers = Enumerable.Range(0, inFlight).Select(_ => Chunks.NewBuffer(size)).ToArray();
        long inserts = 0;
        long putsBefore = backend.Requests.Count(S3RequestKind.Put), totalBefore = backend.Requests.Total;
        var (f, b) = await Timing.PairAsync(context.Repetitions,
            () => Timing.RunTimedAsync(inFlight, context.RepetitionDuration, async (w, _) =>
            {
                var buffer = buffers[w];
                Chunks.Stamp(buffer);
                var r = await repo.InsertAsync(buffer);
                if (!r.IsNew)
                {
                    throw new InvalidOperationException("a stamped chunk was reported as a duplicate");
                }

                Interlocked.Increment(ref inserts);
                return buffer.Length;
            }),
            () => Timing.RunTimedAsync(inFlight, context.RepetitionDuration, async (w, _) =>
            {
                var buffer = buffers[w];
                Chunks.Stamp(buffer);
                using var stream = new MemoryStream(buffer, writable: false);
                await raw.PutObjectAsync(new PutObjectRequest
                {
                    BucketName = bucket,
                    Key = "raw/" + Guid.NewGuid().ToString("N"),
                    InputStream = stream,
                    AutoCloseStream = false,
                    IfNoneMatch = "*",
                });
                return buffer.Length;
            }));
        double putsPerInsert = (double)(backend.Requests.Count(S3RequestKind.Put) - putsBefore) / Math.Max(1, inserts);
        double requestsPerInsert = (double)(backend.Requests.Total - totalBefore) / Math.Max(1, inserts);
        context.Add(BenchContext.Throughput("S3 insert new", Name, Baseline, f, b, TargetKind.AtLeast, 0.9,
            $"{putsPerInsert:F2} PUT and {requestsPerInsert:F2} requests per insert ({inserts} inserts)"), peak);
        });
    }
}

/// <summary>S3 insert of known chunks (local cache: 0 requests) vs raw SHA-256 of the same buffers.</summary>
internal sealed class S3InsertDuplicateScenario(S3Target target, int size, int inFlight) : IScenario
{
    public string Name => $"S3 insert duplicate {Chunks.SizeName(size)}, {inFlight} in flight";

    public string Baseline => "SHA256.HashData of the same buffers";

    public async Task RunAsync(BenchContext context)
    {
        double peak = BenchContext.PeakWorkingSetMiB();
        await target.WithStoreAsync(context, "s3-insert-dup", inFlight, async (repo, backend, raw, bucket) =>
        {
        int k = InsertDuplicateScenario.PerWorker(size);
        var buffers = Enumerable.Range(0, inFlight).Select(_ => Enumerable.Range(0, k).Select(_ => Chunks.NewBuffer(size)).ToArray()).ToArray();
        foreach (var buffer in buffers.SelectMany(x => x))
        {
            await repo.InsertAsync(buffer);
        }

        long before = backend.Requests.Total, inserts = 0;
        var (f, b) = await Timing.PairAsync(context.Repetitions,
            () => Timing.RunTimedAsync(inFlight, context.RepetitionDuration, async (w, i) =>
            {
                var buffer = buffers[w][i % k];
                if ((await repo.InsertAsync(buffer)).IsNew)
                {
                    throw new InvalidOperationException("a stored chunk was reported as new");
                }

                Interlocked.Increment(ref inserts);
                return buffer.Length;
            }),
            () => Timing.RunTimedAsync(inFlight, context.RepetitionDuration, (w, i) =>
            {
                var buffer = buffers[w][i % k];
                RawOps.Hash(buffer);
                return ValueTask.FromResult((long)buffer.Length);
            }));
        context.Add(BenchContext.Throughput("S3 insert duplicate", Name, Baseline, f, b, TargetKind.None, null,
            $"{backend.Requests.Total - before} S3 requests for {inserts} duplicate inserts"), peak);
        });
    }
}

/// <summary>S3 read on a cache miss (1 GET + verify + cache fill) vs raw SDK GET + SHA-256 of the same objects.</summary>
internal sealed class S3ReadMissScenario(S3Target target, int size, int inFlight) : IScenario
{
    public string Name => $"S3 read (cache miss) {Chunks.SizeName(size)}, {inFlight} in flight";

    public string Baseline => "raw AWS SDK GetObject + SHA-256, same in flight";

    public async Task RunAsync(BenchContext context)
    {
        double peak = BenchContext.PeakWorkingSetMiB();
        await target.WithStoreAsync(context, "s3-read", inFlight, async (repo, backend, raw, bucket) =>
        {
        const int count = 64;
        var digests = new List<ChunkDigest>();
        for (int i = 0; i < count; i++)
        {
            digests.Add((await repo.InsertAsync(Chunks.NewBuffer(size))).Digest);
        }

        var layout = new ChunkStore.FileSystem.ChunkLayout(repo.Root);
        string KeyOf(ChunkDigest d) => $".chunks/{d.ToString()[..4]}/{d}";
        long getsBefore = backend.Requests.Count(S3RequestKind.Get), reads = 0;
        var (f, b) = await Timing.PairAsync(context.Repetitions,
            () => Timing.RunTimedAsync(inFlight, context.RepetitionDuration, async (w, i) =>
            {
                var d = digests[(int)(((i * inFlight) + w) % count)];
                // Make it a miss: turn the full local copy into a marker and drop the LRU entry, as an eviction
                // would. Safety: benchmark only; the workers read distinct digests at any moment and nothing else
                // inserts, renames or collects in this store meanwhile.
                File.WriteAllBytes(layout.ChunkPath(d), []);
                backend.Cache.UnsafeRemove(d);
                byte[] bytes = await repo.ReadAsync(d);
                Interlocked.Increment(ref reads);
                return bytes.Length;
            }),
            () => Timing.RunTimedAsync(inFlight, context.RepetitionDuration, async (w, i) =>
            {
                var d = digests[(int)(((i * inFlight) + w) % count)];
                using var response = await raw.GetObjectAsync(bucket, KeyOf(d));
                using var buffer = new MemoryStream(size);
                await response.ResponseStream.CopyToAsync(buffer);
                RawOps.Hash(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
                return buffer.Length;
            }));
        double getsPerRead = (double)(backend.Requests.Count(S3RequestKind.Get) - getsBefore) / Math.Max(1, reads);
        context.Add(BenchContext.Throughput("S3 read", Name, Baseline, f, b, TargetKind.None, null, $"{getsPerRead:F2} GET per read"), peak);
        });
    }
}

/// <summary>S3 garbage collection over N objects: time and requests (⌈N/1000⌉ LIST expected), nothing removable.</summary>
internal sealed class S3GcScenario(S3Target target, int objects) : IScenario
{
    public string Name => $"S3 GC over {objects:N0} objects";

    public string Baseline => "raw AWS SDK ListObjectsV2 paging over the same bucket";

    public async Task RunAsync(BenchContext context)
    {
        double peak = BenchContext.PeakWorkingSetMiB();
        await target.WithStoreAsync(context, "s3-gc", 8, async (repo, backend, raw, bucket) =>
        {
        var digests = new List<ChunkDigest>(objects);
        await Parallel.ForEachAsync(Enumerable.Range(0, objects), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, ct) =>
        {
            var r = await repo.InsertAsync(BitConverter.GetBytes((long)i).Concat(Chunks.NewBuffer(56)).ToArray(), ct);
            lock (digests)
            {
                digests.Add(r.Digest);
            }
        });

        long listBefore = backend.Requests.Count(S3RequestKind.List), totalBefore = backend.Requests.Total;
        var options = new GarbageCollectionOptions { GracePeriod = TimeSpan.FromHours(1) };
        var phases = new List<(double Prepare, double Mark, double Sweep)>();
        var (f, b) = await Timing.PairAsync(context.Repetitions,
            () => Timing.RunTimedAsync(1, TimeSpan.Zero, async (_, _) =>
            {
                var result = await repo.Maintenance.GarbageCollectAsync(digests, options);
                phases.Add((result.PrepareDuration.TotalMilliseconds, result.MarkDuration.TotalMilliseconds, result.SweepDuration.TotalMilliseconds));
                return result.ChunksInUse;
            }),
            () => Timing.RunTimedAsync(1, TimeSpan.Zero, async (_, _) =>
            {
                long n = 0;
                string? token = null;
                do
                {
                    var page = await raw.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, Prefix = ".chunks/", ContinuationToken = token });
                    n += page.S3Objects?.Count ?? 0;
                    token = page.IsTruncated == true ? page.NextContinuationToken : null;
                }
                while (token is not null);
                return n;
            }));
        long runs = context.Repetitions + 1;
        double listsPerRun = (double)(backend.Requests.Count(S3RequestKind.List) - listBefore) / runs;
        double requestsPerRun = (double)(backend.Requests.Total - totalBefore) / runs;
        context.Add(BenchContext.Throughput("S3 GC", Name, Baseline, f, b, TargetKind.None, null,
            $"{listsPerRun:F1} LIST and {requestsPerRun:F1} requests per GC (⌈N/1000⌉ = {(objects + 999) / 1000}); figure in entries/s; " +
            $"median phases prepare / mark / sweep {Series.Median(phases.Select(p => p.Prepare)):F0} / {Series.Median(phases.Select(p => p.Mark)):F0} / {Series.Median(phases.Select(p => p.Sweep)):F0} ms, " +
            $"raw LIST {1000 / b.OpsPerSecond:F0} ms"), peak);
        });
    }
}
