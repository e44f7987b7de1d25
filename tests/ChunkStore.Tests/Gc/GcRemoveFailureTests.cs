using ChunkStore.Tests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace ChunkStore.Tests.Gc;

/// <summary>An entry the sweep cannot remove is skipped, counted and logged; the rest is removed (issue 19.6).</summary>
public sealed class GcRemoveFailureTests : IDisposable
{
    private static readonly GarbageCollectionOptions Short = new() { GracePeriod = TimeSpan.FromHours(1) };
    private readonly TempDirectory _dir = new();
    private readonly DateTime _longAgo = DateTime.UtcNow.AddDays(-3);

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task GarbageCollect_ImmutableChunkAndTempFile_SkipsAndCountsThem_RemovesTheRestAndCompletes()
    {
        Assert.True(TestData.IsRoot, "chattr +i needs root (CI runs as root)");
        var logs = new ListLoggerFactory();
        await using var store = TestData.NewStore(_dir.Sub("immutable"), o => o.LoggerFactory = logs);
        var chunks = new List<(ChunkDigest Digest, byte[] Data)>();
        for (int i = 0; i < 3; i++)
        {
            var data = TestData.Random(1000, i);
            var d = (await store.InsertAsync(data)).Digest;
            TestData.SetAccessTime(TestData.ChunkPath(store, d), _longAgo);
            chunks.Add((d, data));
        }

        string stuckChunk = TestData.ChunkPath(store, chunks[1].Digest);
        string stuckTemp = TestData.ChunkPath(store, chunks[0].Digest) + ".tmp-0123456789abcdef";
        File.WriteAllBytes(stuckTemp, [1, 2, 3]);
        File.SetLastWriteTimeUtc(stuckTemp, _longAgo);
        Shell.Check("chattr", "+i", stuckChunk);
        Shell.Check("chattr", "+i", stuckTemp);
        GarbageCollectionResult result;
        try
        {
            result = await store.Maintenance.GarbageCollectAsync([], Short);

            Assert.True(result.Completed);
            Assert.Equal(2, result.ChunksRemoved);
            Assert.Equal(2000, result.BytesRemoved);
            Assert.Equal(2, result.RemoveFailed);
            Assert.Equal(new[] { stuckChunk, stuckTemp }.Order(StringComparer.Ordinal), result.RemoveFailedSample.Order(StringComparer.Ordinal));
            Assert.Equal(0, result.TemporaryFilesRemoved);
            Assert.False(File.Exists(TestData.ChunkPath(store, chunks[0].Digest)));
            Assert.False(File.Exists(TestData.ChunkPath(store, chunks[2].Digest)));
            Assert.Equal(chunks[1].Data, await store.ReadAsync(chunks[1].Digest));
            Assert.True(File.Exists(stuckTemp));

            var saved = store.Maintenance.ReadLastGarbageCollection();
            Assert.NotNull(saved);
            Assert.True(saved.Completed);
            Assert.Equal(2, saved.RemoveFailed);

            var warnings = logs.WithId(ChunkStoreEventIds.GcRemoveFailed).ToList();
            Assert.Equal(2, warnings.Count);
            Assert.All(warnings, w => Assert.Equal(LogLevel.Warning, w.Level));
            Assert.Contains(warnings, w => w.Message.Contains(stuckChunk, StringComparison.Ordinal) && w.Message.Contains("permission denied", StringComparison.Ordinal));
            Assert.Contains(warnings, w => w.Message.Contains(stuckTemp, StringComparison.Ordinal));
        }
        finally
        {
            Shell.Run("chattr", "-i", stuckChunk);
            Shell.Run("chattr", "-i", stuckTemp);
        }

        // Removable again: the next collection retries and removes both.
        var next = await store.Maintenance.GarbageCollectAsync([], Short);
        Assert.Equal(1, next.ChunksRemoved);
        Assert.Equal(1, next.TemporaryFilesRemoved);
        Assert.Equal(0, next.RemoveFailed);
        Assert.False(File.Exists(stuckChunk));
        Assert.False(File.Exists(stuckTemp));
    }
}
