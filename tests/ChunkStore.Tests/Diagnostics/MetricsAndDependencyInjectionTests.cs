using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using ChunkStore.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace ChunkStore.Tests.Diagnostics;

public sealed class MetricsAndDependencyInjectionTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Meter_CountsInsertsReadsVerificationsAndGcOutcomes()
    {
        await using var store = TestData.NewStore(_dir.Sub("m"));
        var measurements = new ConcurrentBag<(string Name, long Value, string Tag)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            // Only this store's meter: other tests run in parallel with meters of the same name.
            if (instrument.Meter.Name == "ChunkStore" && ReferenceEquals(instrument.Meter, store.Instrumentation.Inserts.Meter))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string tag = tags.Length > 0 ? $"{tags[0].Key}={tags[0].Value}" : "";
            measurements.Add((instrument.Name, value, tag));
        });
        listener.Start();

        var a = await store.InsertAsync(TestData.Random(1000, 1));
        await store.InsertAsync(TestData.Random(1000, 1));
        var b = await store.InsertAsync(TestData.Random(500, 2));
        await store.ReadAsync(a.Digest);
        await Assert.ThrowsAsync<ChunkNotFoundException>(async () => await store.ReadAsync(ChunkDigest.Compute([0])));
        await store.VerifyAsync(a.Digest);
        TestData.SetAccessTime(TestData.ChunkPath(store, b.Digest), DateTime.UtcNow.AddDays(-3));
        await store.Maintenance.GarbageCollectAsync([a.Digest], new GarbageCollectionOptions { GracePeriod = TimeSpan.FromHours(1) });

        long Sum(string name, string tag) => measurements.Where(m => m.Name == name && m.Tag == tag).Sum(m => m.Value);
        Assert.Equal(2, Sum("chunkstore.inserts", "chunkstore.result=new"));
        Assert.Equal(1, Sum("chunkstore.inserts", "chunkstore.result=duplicate"));
        Assert.Equal(1500, Sum("chunkstore.inserted_bytes", "chunkstore.result=new"));
        Assert.Equal(1, Sum("chunkstore.reads", "chunkstore.result=ok"));
        Assert.Equal(1, Sum("chunkstore.reads", "chunkstore.result=missing"));
        Assert.Equal(1, Sum("chunkstore.verifications", "chunkstore.status=ok"));
        Assert.Equal(1, Sum("chunkstore.gc.chunks", "chunkstore.gc.outcome=marked"));
        Assert.Equal(1, Sum("chunkstore.gc.chunks", "chunkstore.gc.outcome=removed"));
        Assert.Equal(1, Sum("chunkstore.gc.chunks", "chunkstore.gc.outcome=in_use"));
    }

    [Fact]
    public async Task ActivitySource_EmitsAGcSpanWithItsPhases()
    {
        await using var store = TestData.NewStore(_dir.Sub("t"));
        var spans = new ConcurrentBag<string>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == "ChunkStore",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStopped = a =>
            {
                if (a.GetTagItem("chunkstore.store") is string s && s == store.Root || a.Parent?.GetTagItem("chunkstore.store") is string p && p == store.Root)
                {
                    spans.Add(a.OperationName);
                }
            },
        };
        ActivitySource.AddActivityListener(listener);

        await store.Maintenance.GarbageCollectAsync([], new GarbageCollectionOptions { GracePeriod = TimeSpan.FromHours(1) });

        Assert.Contains("chunkstore.gc", spans);
        Assert.Contains("chunkstore.gc.mark", spans);
        Assert.Contains("chunkstore.gc.sweep", spans);
    }

    [Fact]
    public async Task ServiceCollection_ResolvesAStoreConfiguredFromInMemoryConfiguration()
    {
        string root = _dir.Sub("di");
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ChunkStore:Root"] = root,
            ["ChunkStore:SyncMode"] = "Batch",
            ["ChunkStore:MaxChunkSize"] = "65536",
            ["ChunkStore:LockStripes"] = "64",
        }).Build();
        var services = new ServiceCollection();
        services.AddMetrics();
        services.Configure<ChunkStoreOptions>(configuration.GetSection("ChunkStore"));
        services.AddChunkStore();

        await using (var provider = services.BuildServiceProvider())
        {
            var store = provider.GetRequiredService<ChunkRepository>();
            Assert.Same(store, provider.GetRequiredService<ChunkRepository>());
            Assert.Equal(root, store.Root);
            Assert.Equal(SyncMode.Batch, store.Options.SyncMode);
            Assert.Equal(64, store.Locks.Stripes);
            Assert.NotNull(store.Options.MeterFactory);
            await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await store.InsertAsync(new byte[65537]));
            var r = await store.InsertAsync(TestData.Random(100, 3));
            Assert.True(r.IsNew);
        }

        Assert.True(File.Exists(Path.Combine(root, ".chunkstore.json")));
    }

    [Fact]
    public async Task ServiceCollection_TwoKeyedStores_EachFromItsNamedOptions()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Stores:hot:Root"] = _dir.Sub("hot"),
            ["Stores:cold:Root"] = _dir.Sub("cold"),
            ["Stores:cold:SyncMode"] = "File",
        }).Build();
        var services = new ServiceCollection();
        services.Configure<ChunkStoreOptions>("hot", configuration.GetSection("Stores:hot"));
        services.Configure<ChunkStoreOptions>("cold", configuration.GetSection("Stores:cold"));
        services.AddKeyedChunkStore("hot");
        services.AddKeyedChunkStore("cold", o => o.MaxChunkSize = 4096);

        ChunkRepository hot, cold;
        await using (var provider = services.BuildServiceProvider())
        {
            hot = provider.GetRequiredKeyedService<ChunkRepository>("hot");
            cold = provider.GetRequiredKeyedService<ChunkRepository>("cold");
            Assert.Same(hot, provider.GetRequiredKeyedService<ChunkRepository>("hot"));
            Assert.NotSame(hot, cold);
            Assert.Null(provider.GetService<ChunkRepository>()); // no unkeyed store was registered
            Assert.Equal((_dir.Sub("hot"), SyncMode.None), (hot.Root, hot.Options.SyncMode));
            Assert.Equal((_dir.Sub("cold"), SyncMode.File, 4096), (cold.Root, cold.Options.SyncMode, cold.Options.MaxChunkSize));

            var digest = (await hot.InsertAsync(TestData.Random(100, 4))).Digest;
            Assert.True(await hot.ContainsAsync(digest));
            Assert.False(await cold.ContainsAsync(digest));
        }

        // The container disposed both.
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await hot.ContainsAsync(default));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await cold.ContainsAsync(default));
    }

    [Fact]
    public void AddKeyedChunkStore_BlankName_IsRejected()
    {
        Assert.ThrowsAny<ArgumentException>(() => new ServiceCollection().AddKeyedChunkStore(" "));
    }
}
