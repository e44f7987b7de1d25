using ChunkStore.Tests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace ChunkStore.Tests.Gc;

/// <summary>
/// What a collection finds wrong reaches the log, not only its result: each sampled missing referenced chunk is a
/// warning with event id 1302, each sampled unknown entry one with 1303 (the ids were declared and never logged).
/// </summary>
public sealed class GcWarningTests : IDisposable
{
    private static readonly GarbageCollectionOptions Short = new() { GracePeriod = TimeSpan.FromHours(1) };
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task GarbageCollect_ReferencedChunksMissing_WarnsWithEvent1302NamingEach()
    {
        var logs = new ListLoggerFactory();
        await using var store = TestData.NewStore(_dir.Sub("missing"), o => o.LoggerFactory = logs);
        var present = (await store.InsertAsync(TestData.Random(100, 1))).Digest;
        var gone = new[] { ChunkDigest.Compute(TestData.Random(100, 2)), ChunkDigest.Compute(TestData.Random(100, 3)) };

        var result = await store.Maintenance.GarbageCollectAsync([present, .. gone], Short);

        Assert.Equal(2, result.MissingChunks);
        var warnings = logs.WithId(ChunkStoreEventIds.GcMissingChunk).ToList();
        Assert.Equal(2, warnings.Count);
        Assert.All(warnings, w => Assert.Equal(LogLevel.Warning, w.Level));
        foreach (var digest in gone)
        {
            Assert.Single(warnings, w => w.Message.Contains(digest.ToString(), StringComparison.Ordinal));
        }

        Assert.DoesNotContain(warnings, w => w.Message.Contains(present.ToString(), StringComparison.Ordinal));
    }

    [Fact]
    public async Task GarbageCollect_UnknownEntry_WarnsWithEvent1303NamingItsPath()
    {
        var logs = new ListLoggerFactory();
        await using var store = TestData.NewStore(_dir.Sub("unknown"), o => o.LoggerFactory = logs);
        var digest = (await store.InsertAsync(TestData.Random(100, 4))).Digest;
        string notes = Path.Combine(Path.GetDirectoryName(TestData.ChunkPath(store, digest))!, "notes.txt");
        File.WriteAllText(notes, "an operator's file");

        var result = await store.Maintenance.GarbageCollectAsync([digest], Short);

        Assert.Equal(1, result.UnknownEntries);
        var warning = Assert.Single(logs.WithId(ChunkStoreEventIds.GcUnknownEntry));
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains(notes, warning.Message, StringComparison.Ordinal);
        Assert.True(File.Exists(notes));
    }

    [Fact]
    public async Task GarbageCollect_NothingWrong_LogsNeitherWarning()
    {
        var logs = new ListLoggerFactory();
        await using var store = TestData.NewStore(_dir.Sub("clean"), o => o.LoggerFactory = logs);
        var digest = (await store.InsertAsync(TestData.Random(100, 5))).Digest;

        await store.Maintenance.GarbageCollectAsync([digest], Short);

        Assert.Empty(logs.WithId(ChunkStoreEventIds.GcMissingChunk));
        Assert.Empty(logs.WithId(ChunkStoreEventIds.GcUnknownEntry));
    }
}

/// <summary>A write session that is never disposed pins the GC cutoff for ever; each collection says so (event 1103).</summary>
public sealed class OldWriteSessionWarningTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task GarbageCollect_SessionOlderThanGracePeriod_WarnsWithEvent1103NamingItsEntry()
    {
        var logs = new ListLoggerFactory();
        var clock = new MovableClock();
        await using var store = TestData.NewStore(_dir.Sub("old"), o => { o.LoggerFactory = logs; o.TimeProvider = clock; });
        await using var session = await store.BeginWriteSessionAsync();
        await using var young = await store.BeginWriteSessionAsync();
        var options = new GarbageCollectionOptions { GracePeriod = TimeSpan.FromHours(1) };

        await store.Maintenance.GarbageCollectAsync(Array.Empty<ChunkDigest>(), options);
        Assert.Empty(logs.WithId(ChunkStoreEventIds.OldWriteSession));

        clock.Offset = TimeSpan.FromHours(2);
        await using var fresh = await store.BeginWriteSessionAsync();
        var result = await store.Maintenance.GarbageCollectAsync(Array.Empty<ChunkDigest>(), options);

        var warnings = logs.WithId(ChunkStoreEventIds.OldWriteSession).ToList();
        Assert.Equal(2, warnings.Count); // the two old ones, not the fresh one
        Assert.All(warnings, w => Assert.Equal(LogLevel.Warning, w.Level));
        Assert.All(warnings, w => Assert.Contains($"-{Environment.ProcessId}-", w.Message, StringComparison.Ordinal));
        Assert.Equal(session.StartTime.ToUnixTimeMilliseconds(), result.OldestWriter.ToUnixTimeMilliseconds()); // entries keep ms
    }

    private sealed class MovableClock : TimeProvider
    {
        public TimeSpan Offset { get; set; }

        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + Offset;
    }
}
