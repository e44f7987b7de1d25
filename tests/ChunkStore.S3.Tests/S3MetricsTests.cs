using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using ChunkStore.S3.Diagnostics;
using ChunkStore.S3.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace ChunkStore.S3.Tests;

public class S3MetricsTests(S3BucketFixture fixture) : IClassFixture<S3BucketFixture>
{
    private const int ChunkSize = 1000;

    /// <summary>Collects the measurements of one store's <c>ChunkStore.S3</c> meter instance only (other tests run in parallel with meters of the same name).</summary>
    private sealed class S3Measurements : IDisposable
    {
        private readonly MeterListener _listener = new();

        public S3Measurements(Meter meter)
        {
            _listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == S3Instrumentation.Name && ReferenceEquals(instrument.Meter, meter))
                {
                    l.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Longs.Add((instrument.Name, value, Tags(tags))));
            _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Doubles.Add((instrument.Name, value, Tags(tags))));
            _listener.Start();
        }

        public ConcurrentBag<(string Name, long Value, Dictionary<string, string> Tags)> Longs { get; } = [];

        public ConcurrentBag<(string Name, double Value, Dictionary<string, string> Tags)> Doubles { get; } = [];

        public long Sum(string name) => Longs.Where(m => m.Name == name).Sum(m => m.Value);

        public long Requests(string kind, string? result = null) => Longs
            .Where(m => m.Name == "chunkstore.s3.requests" && m.Tags[S3Instrumentation.RequestTag] == kind && (result is null || m.Tags[S3Instrumentation.ResultTag] == result))
            .Sum(m => m.Value);

        public int Durations(string kind) => Doubles.Count(m => m.Name == "chunkstore.s3.request.duration" && m.Tags[S3Instrumentation.RequestTag] == kind);

        public void Dispose() => _listener.Dispose();

        private static Dictionary<string, string> Tags(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var d = new Dictionary<string, string>();
            foreach (var t in tags)
            {
                d[t.Key] = t.Value?.ToString() ?? "";
            }

            return d;
        }
    }

    private static Dictionary<S3RequestKind, long> Snapshot(S3TestStore store) =>
        Enum.GetValues<S3RequestKind>().ToDictionary(k => k, store.Count);

    [S3Fact]
    public async Task Meter_CountsRequestsByKindLikeTheRequestHook_AndCacheHitsMissesEvictions()
    {
        // Room for three full chunks: the fourth insert evicts one.
        await using var store = fixture.CreateStore(cacheCapacityBytes: 3 * ChunkSize);
        using var m = new S3Measurements(store.Backend.Instrumentation.Meter);
        var start = Snapshot(store);
        long Delta(S3RequestKind kind) => store.Count(kind) - start[kind];

        // New insert: 1 PUT (conditional), result ok.
        var a = S3TestStore.RandomChunk(ChunkSize);
        var da = (await store.Repo.InsertAsync(a)).Digest;
        Assert.Equal(1, Delta(S3RequestKind.Put));
        Assert.Equal(1, m.Requests("put", "ok"));

        // Duplicate: no request at all.
        long total = store.Requests.Total;
        Assert.False((await store.Repo.InsertAsync(a)).IsNew);
        Assert.Equal(total, store.Requests.Total);
        Assert.Equal(1, m.Requests("put"));

        // Read of a just-inserted chunk: a cache hit, no request.
        Assert.Equal(a, await store.Repo.ReadAsync(da));
        Assert.Equal(total, store.Requests.Total);
        Assert.Equal(1, m.Sum("chunkstore.s3.cache.hits"));
        Assert.Equal(0, m.Sum("chunkstore.s3.cache.misses"));

        // Three more chunks: 4 KB of full chunks in a 3 KB cache, so one or more are evicted (turned into markers).
        var chunks = new Dictionary<ChunkDigest, byte[]> { [da] = a };
        for (int i = 0; i < 3; i++)
        {
            var data = S3TestStore.RandomChunk(ChunkSize);
            chunks[(await store.Repo.InsertAsync(data)).Digest] = data;
        }

        Assert.Equal(4, Delta(S3RequestKind.Put));
        await WaitForAsync(() => store.Backend.Cache.Count + m.Sum("chunkstore.s3.cache.evictions") == 4 && store.Backend.PendingEvictions == 0);
        long evictions = m.Sum("chunkstore.s3.cache.evictions");
        Assert.InRange(evictions, 1, 4);
        var evicted = chunks.Keys.Where(d => !store.InLru(d)).ToList();
        Assert.Equal(evictions, evicted.Count);
        Assert.All(evicted, d => Assert.Equal(0, store.LocalSize(d))); // markers now

        // Read miss of an evicted chunk: exactly 1 GET, counted as a miss; the bytes are right.
        long gets = Delta(S3RequestKind.Get);
        Assert.Equal(chunks[evicted[0]], await store.Repo.ReadAsync(evicted[0]));
        Assert.Equal(1, Delta(S3RequestKind.Get) - gets);
        Assert.Equal(1, m.Requests("get", "ok"));
        Assert.Equal(1, m.Sum("chunkstore.s3.cache.misses"));
        Assert.Equal(1, m.Sum("chunkstore.s3.cache.hits"));

        // Read of a chunk that does not exist: a miss and 1 GET answered 404.
        var absent = ChunkDigest.Compute(Guid.NewGuid().ToByteArray());
        await Assert.ThrowsAsync<ChunkNotFoundException>(async () => await store.Repo.ReadAsync(absent));
        Assert.Equal(2, Delta(S3RequestKind.Get));
        Assert.Equal(1, m.Requests("get", "not_found"));
        Assert.Equal(2, m.Sum("chunkstore.s3.cache.misses"));

        // GC removing one aged, unreferenced chunk: the identity GET + 1 LIST + 1 DeleteObjects.
        var garbage = chunks.Keys.First(d => d != evicted[0]);
        store.AgeChunk(garbage);
        await store.WaitForServerAgeAsync();
        var result = await store.CollectAsync(chunks.Keys.Where(d => d != garbage).ToArray());
        Assert.Equal(1, result.ChunksRemoved);
        Assert.False(await store.ObjectExistsAsync(garbage));
        Assert.Equal(1, Delta(S3RequestKind.List));
        Assert.Equal(1, Delta(S3RequestKind.DeleteObjects));
        Assert.Equal(1, Delta(S3RequestKind.GetIdentity));
        Assert.Equal(1, m.Requests("list", "ok"));
        Assert.Equal(1, m.Requests("delete_objects", "ok"));
        Assert.Equal(1, m.Requests("get_identity", "ok"));

        // Every kind: the meter's count equals the request hook's count, and one duration per request.
        foreach (var kind in Enum.GetValues<S3RequestKind>())
        {
            string name = S3Instrumentation.KindName(kind);
            Assert.Equal(Delta(kind), m.Requests(name));
            Assert.Equal(Delta(kind), m.Durations(name));
        }

        Assert.Equal(store.Requests.Total - start.Values.Sum(), m.Sum("chunkstore.s3.requests"));
        Assert.All(m.Doubles, d => Assert.InRange(d.Value, 0, 60));
    }

    [S3Fact]
    public async Task ActivitySource_EmitsRequestSpansWithKeys_AndGcPhaseSpans_WithoutCredentials()
    {
        await using var store = fixture.CreateStore();
        using var testSource = new ActivitySource("ChunkStore.S3.Tests." + nameof(S3MetricsTests));
        var spans = new ConcurrentBag<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is S3Instrumentation.Name || s.Name == testSource.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Add,
        };
        ActivitySource.AddActivityListener(listener);

        ActivityTraceId trace;
        var data = S3TestStore.RandomChunk(ChunkSize);
        ChunkDigest digest;
        using (var root = testSource.StartActivity("test"))
        {
            Assert.NotNull(root);
            trace = root.TraceId;
            digest = (await store.Repo.InsertAsync(data)).Digest;
            store.AgeChunk(digest);
            await store.WaitForServerAgeAsync();
            var result = await store.CollectAsync();
            Assert.Equal(1, result.ChunksRemoved);
        }

        // Only this test's trace (other tests run in parallel and emit spans from the same source).
        var mine = spans.Where(s => s.TraceId == trace && s.Source.Name == S3Instrumentation.Name).ToList();
        var put = Assert.Single(mine, s => s.OperationName == "chunkstore.s3.put");
        Assert.Equal(store.Key(digest), put.GetTagItem("aws.s3.key"));
        Assert.Equal(fixture.Bucket, put.GetTagItem("aws.s3.bucket"));
        Assert.Equal("ok", put.GetTagItem(S3Instrumentation.ResultTag));
        Assert.Equal(ActivityKind.Client, put.Kind);
        Assert.Single(mine, s => s.OperationName == "chunkstore.s3.list");
        var delete = Assert.Single(mine, s => s.OperationName == "chunkstore.s3.delete_objects");
        Assert.Equal(store.Key(digest), delete.GetTagItem("aws.s3.key"));
        Assert.Single(mine, s => s.OperationName == "chunkstore.s3.gc.prepare");
        var sweep = Assert.Single(mine, s => s.OperationName == "chunkstore.s3.gc.sweep_objects");
        Assert.Single(mine, s => s.OperationName == "chunkstore.s3.gc.sweep_local");

        // The listing and the batch delete run inside the sweep-objects span.
        Assert.All(mine.Where(s => s.OperationName is "chunkstore.s3.list" or "chunkstore.s3.delete_objects"), s => Assert.Equal(sweep.SpanId, s.ParentSpanId));

        // Never a credential in any tag.
        foreach (var span in mine)
        {
            foreach (var tag in span.TagObjects)
            {
                string value = tag.Value?.ToString() ?? "";
                Assert.DoesNotContain(S3TestEnvironment.SecretKey, value, StringComparison.Ordinal);
                if (S3TestEnvironment.AccessKey.Length > 0)
                {
                    Assert.DoesNotContain(S3TestEnvironment.AccessKey, value, StringComparison.Ordinal);
                }
            }
        }
    }

    [Fact]
    public void S3BackendOptions_BindFromConfiguration()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["S3:Endpoint"] = "http://127.0.0.1:7480",
            ["S3:Region"] = "eu-west-1",
            ["S3:Bucket"] = "my-bucket",
            ["S3:KeyPrefix"] = "/stores/a/",
            ["S3:AccessKey"] = "AKID",
            ["S3:SecretKey"] = "not-a-real-secret",
            ["S3:ForcePathStyle"] = "false",
            ["S3:ChecksumMode"] = "WhenSupported",
            ["S3:UseConditionalWrites"] = "false",
            ["S3:MaxConcurrentRequests"] = "4",
            ["S3:RetryCount"] = "5",
            ["S3:RetryBaseDelay"] = "00:00:00.050",
            ["S3:RequestTimeout"] = "00:02:00",
            ["S3:DeleteBatchSize"] = "500",
            ["S3:DeleteBatchMaxAge"] = "00:01:00",
            ["S3:CacheCapacityBytes"] = "1048576",
        }).Build();

        var o = configuration.GetSection("S3").Get<S3BackendOptions>();

        Assert.NotNull(o);
        Assert.Equal(new Uri("http://127.0.0.1:7480"), o.Endpoint);
        Assert.Equal("eu-west-1", o.Region);
        Assert.Equal("my-bucket", o.Bucket);
        Assert.Equal("stores/a", o.KeyPrefix);
        Assert.Equal("AKID", o.AccessKey);
        Assert.Equal("not-a-real-secret", o.SecretKey);
        Assert.False(o.ForcePathStyle);
        Assert.Equal(S3ChecksumMode.WhenSupported, o.ChecksumMode);
        Assert.False(o.UseConditionalWrites);
        Assert.Equal(4, o.MaxConcurrentRequests);
        Assert.Equal(5, o.RetryCount);
        Assert.Equal(TimeSpan.FromMilliseconds(50), o.RetryBaseDelay);
        Assert.Equal(TimeSpan.FromMinutes(2), o.RequestTimeout);
        Assert.Equal(500, o.DeleteBatchSize);
        Assert.Equal(TimeSpan.FromMinutes(1), o.DeleteBatchMaxAge);
        Assert.Equal(1 << 20, o.CacheCapacityBytes);
        Assert.DoesNotContain("not-a-real-secret", o.ToString(), StringComparison.Ordinal);
    }

    [S3Fact]
    public async Task AddKeyedChunkStoreS3_TwoStores_EachWithItsRootAndPrefix()
    {
        var services = new ServiceCollection();
        var prefixes = new Dictionary<string, string>();
        foreach (string name in new[] { "a", "b" })
        {
            string prefix = $"keyed-{name}-" + Guid.NewGuid().ToString("N")[..8];
            prefixes[name] = prefix;
            string root = fixture.NewRoot();
            services.Configure<ChunkStoreOptions>(name, o => { o.Root = root; o.LockTimeout = TimeSpan.FromSeconds(30); });
            var s3 = fixture.Options(prefix);
            services.AddKeyedChunkStoreS3(name, o =>
            {
                o.Endpoint = s3.Endpoint;
                o.Region = s3.Region;
                o.Bucket = s3.Bucket;
                o.KeyPrefix = s3.KeyPrefix;
                o.AccessKey = s3.AccessKey;
                o.SecretKey = s3.SecretKey;
            });
        }

        await using var provider = services.BuildServiceProvider();
        var a = provider.GetRequiredKeyedService<ChunkRepository>("a");
        var b = provider.GetRequiredKeyedService<ChunkRepository>("b");
        Assert.Equal(prefixes["a"], Assert.IsType<S3ChunkBackend>(a.Backend).KeyPrefix);
        Assert.Equal(prefixes["b"], Assert.IsType<S3ChunkBackend>(b.Backend).KeyPrefix);
        Assert.NotEqual(a.Root, b.Root);

        var digest = (await a.InsertAsync(S3TestStore.RandomChunk())).Digest;
        Assert.Contains(((S3ChunkBackend)a.Backend).ObjectKey(digest), await fixture.ListKeysAsync(prefixes["a"] + "/"));
        Assert.False(await b.ContainsAsync(digest));
    }

    [S3Fact]
    public async Task AddChunkStoreS3_FromConfiguration_ResolvesAWorkingRepository()
    {
        string root = fixture.NewRoot();
        string prefix = "di-" + Guid.NewGuid().ToString("N")[..12];
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ChunkStore:Root"] = root,
            ["ChunkStore:LockTimeout"] = "00:00:30",
            ["S3:Endpoint"] = S3TestEnvironment.RequireEndpoint(),
            ["S3:Region"] = S3TestEnvironment.Region,
            ["S3:Bucket"] = fixture.Bucket,
            ["S3:KeyPrefix"] = prefix,
            ["S3:AccessKey"] = S3TestEnvironment.AccessKey,
            ["S3:SecretKey"] = S3TestEnvironment.SecretKey,
            ["S3:ChecksumMode"] = "WhenRequired",
            ["S3:RetryBaseDelay"] = "00:00:00.050",
        }).Build();

        var services = new ServiceCollection();
        services.AddMetrics();
        services.Configure<ChunkStoreOptions>(configuration.GetSection("ChunkStore"));
        services.Configure<S3BackendOptions>(configuration.GetSection("S3"));
        services.AddChunkStoreS3(o => o.CacheCapacityBytes = 0); // markers only: the read below must fetch
        await using var provider = services.BuildServiceProvider();

        var repo = provider.GetRequiredService<ChunkRepository>();
        Assert.Same(repo, provider.GetRequiredService<ChunkRepository>());
        var backend = Assert.IsType<S3ChunkBackend>(repo.Backend);
        Assert.Equal(prefix, backend.KeyPrefix);
        Assert.Equal(0, backend.Cache.CapacityBytes);

        // Both meters come from the container's factory.
        var factory = provider.GetRequiredService<IMeterFactory>();
        Assert.Same(factory, backend.Instrumentation.Meter.Scope);
        Assert.Same(factory, repo.Instrumentation.Inserts.Meter.Scope);

        var data = S3TestStore.RandomChunk(ChunkSize);
        var inserted = await repo.InsertAsync(data);
        Assert.True(inserted.IsNew);
        Assert.True(await fixture.ExistsAsync(backend.ObjectKey(inserted.Digest)));
        Assert.True(File.Exists(Path.Combine(root, ".chunkstore.json")));
        Assert.Equal(1, backend.Requests.Count(S3RequestKind.Put));

        Assert.Equal(data, await repo.ReadAsync(inserted.Digest));
        Assert.Equal(1, backend.Requests.Count(S3RequestKind.Get));
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), "condition not reached within 10 s");
            await Task.Delay(20);
        }
    }
}
