using System.Diagnostics;
using Amazon.S3.Model;
using ChunkStore.Benchmarks.Harness;
using ChunkStore.Remote;
using ChunkStore.S3;

namespace ChunkStore.Benchmarks.Scenarios;

/// <summary>
/// Takes the S3 new-chunk insert apart (run with <c>--diagnose --s3</c>): one request in flight, the same 64 KiB body
/// stamped anew for every step, each step's µs per operation from the raw SDK call up to the full insert. Lock files are created first (the
/// steady state). The steps alternate operation by operation; the median, quartiles and mean of each go to the report's notes.
/// </summary>
internal sealed class S3InsertDiagnosticScenario(S3Target target) : IScenario
{
    private const int Size = 64 << 10;
    private const int Operations = 600;

    public string Name => "diagnostics: S3 insert sub-steps";

    public string Baseline => "n/a";

    public async Task RunAsync(BenchContext context)
    {
        await target.WithStoreAsync(context, "s3-insert-diag", 1, async (repo, backend, raw, bucket) =>
        {
            var (fullRepo, fullRaw, fullBucket) = await target.NewStoreAsync(context, "s3-insert-diag-full", 1, o => o.CacheOnInsert = true);
            var options = new S3BackendOptions
            {
                Endpoint = new Uri(target.Endpoint),
                Region = target.Region,
                Bucket = bucket,
                AccessKey = target.AccessKey,
                SecretKey = target.SecretKey,
                MaxConcurrentRequests = 8,
            };
            using var bare = new S3ObjectStorage(options, new S3.Diagnostics.S3Instrumentation(null));
            using var stack = S3ObjectStorage.Stack(new S3ObjectStorage(options, new S3.Diagnostics.S3Instrumentation(null)), options);
            var buffer = Chunks.NewBuffer(Size);
            string createRoot = context.NewDirectory("s3-insert-diag-create");
            try
            {
                // Steady state: a store that has seen a few thousand chunks has created all its lock files, and creating a
                // file can cost far more than using one (≈ 0.5 ms against 6 µs on this machine after mass deletes).
                WarmLockStripes(repo);
                WarmLockStripes(fullRepo);

                var steps = new (string Name, Func<Task> Run)[]
                {
                    ("SHA-256 of the body only", () =>
                    {
                        Chunks.Stamp(buffer);
                        _ = ChunkDigest.Compute(buffer);
                        return Task.CompletedTask;
                    }),
                    ("raw SDK PutObject, bench client (If-None-Match: *)", async () =>
                    {
                        Chunks.Stamp(buffer);
                        using var stream = new MemoryStream(buffer, writable: false);
                        await raw.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = "raw/" + Guid.NewGuid().ToString("N"), InputStream = stream, AutoCloseStream = false, IfNoneMatch = "*" });
                    }),
                    ("raw SDK PutObject, bench client, UseChunkEncoding = false", async () =>
                    {
                        Chunks.Stamp(buffer);
                        using var stream = new MemoryStream(buffer, writable: false);
                        await raw.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = "raw/" + Guid.NewGuid().ToString("N"), InputStream = stream, AutoCloseStream = false, IfNoneMatch = "*", UseChunkEncoding = false });
                    }),
                    ("S3ObjectStorage.PutAsync (adapter, no decorators)", async () =>
                    {
                        Chunks.Stamp(buffer);
                        var d = ChunkDigest.Compute(buffer);
                        await bare.PutAsync(RemoteChunkKey.ForChunk(d).ToKey("diag-bare"), buffer, ifAbsent: true, d, default);
                    }),
                    ("S3ObjectStorage.Stack PutAsync (retry + limit decorators)", async () =>
                    {
                        Chunks.Stamp(buffer);
                        var d = ChunkDigest.Compute(buffer);
                        await stack.PutAsync(RemoteChunkKey.ForChunk(d).ToKey("diag-stack"), buffer, ifAbsent: true, d, default);
                    }),
                    ("S3ObjectStorage.Stack PutAsync, the store's key form (no prefix)", async () =>
                    {
                        Chunks.Stamp(buffer);
                        var d = ChunkDigest.Compute(buffer);
                        await stack.PutAsync(RemoteChunkKey.ForChunk(d).ToKey(""), buffer, ifAbsent: true, d, default);
                    }),
                    ("the store's chunk lock alone (AcquireAsync + Dispose)", async () =>
                    {
                        Chunks.Stamp(buffer);
                        var d = ChunkDigest.Compute(buffer);
                        using var l = await repo.Locks.AcquireAsync(d, TimeSpan.FromSeconds(30));
                    }),
                    ("backend.InsertAsync (no repository layer)", async () =>
                    {
                        Chunks.Stamp(buffer);
                        await backend.InsertAsync(ChunkDigest.Compute(buffer), buffer, default);
                    }),
                    ("ChunkRepository.InsertAsync, defaults (CacheOnInsert = false: the marker)", async () =>
                    {
                        Chunks.Stamp(buffer);
                        await repo.InsertAsync(buffer);
                    }),
                    ("ChunkRepository.InsertAsync, CacheOnInsert = true (the full copy)", async () =>
                    {
                        Chunks.Stamp(buffer);
                        await fullRepo.InsertAsync(buffer);
                    }),
                    ("create + close one empty file in a random one of 65,536 directories (the marker's floor)", () =>
                    {
                        string dir = Path.Combine(createRoot, Random.Shared.Next(1 << 16).ToString("x4"));
                        string path = Path.Combine(dir, Guid.NewGuid().ToString("N"));
                        try
                        {
                            File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write).Dispose();
                        }
                        catch (DirectoryNotFoundException)
                        {
                            Directory.CreateDirectory(dir);
                            File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write).Dispose();
                        }

                        return Task.CompletedTask;
                    }),
                };

                // Interleaved operation by operation, so a drift of the server (it varies by a quarter within seconds)
                // hits every step alike; the median of single operations ignores the odd stall.
                var times = steps.Select(_ => new List<double>()).ToArray();
                for (int i = 0; i < Operations + 20; i++)
                {
                    for (int s = 0; s < steps.Length; s++)
                    {
                        long start = Stopwatch.GetTimestamp();
                        await steps[s].Run();
                        if (i >= 20)
                        {
                            times[s].Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
                        }
                    }
                }

                for (int s = 0; s < steps.Length; s++)
                {
                    var sorted = times[s].Order().ToList();
                    string line = $"Diagnose S3 insert (64 KiB, 1 in flight): {steps[s].Name}: median {sorted[sorted.Count / 2]:F0} µs/op (p25 {sorted[sorted.Count / 4]:F0}, p75 {sorted[sorted.Count * 3 / 4]:F0}, mean {sorted.Average():F0}; {sorted.Count} operations).";
                    context.Report.Notes.Add(line);
                    Console.Error.WriteLine("  " + line);
                }
            }
            finally
            {
                BenchContext.DeleteQuietly(createRoot);
                await fullRepo.DisposeAsync();
                await S3Target.DeleteBucketAsync(fullRaw, fullBucket);
                fullRaw.Dispose();
            }
        });
    }

    /// <summary>Takes and releases a lock on every stripe once, so each stripe's lock file exists.</summary>
    private static void WarmLockStripes(ChunkRepository repo)
    {
        var seen = new HashSet<int>();
        var buf = new byte[32];
        while (seen.Count < repo.Locks.Stripes)
        {
            Random.Shared.NextBytes(buf);
            var d = ChunkDigest.Compute(buf);
            if (seen.Add(repo.Locks.StripeOf(d)))
            {
                using var l = repo.Locks.TryAcquire(d);
            }
        }
    }
}
