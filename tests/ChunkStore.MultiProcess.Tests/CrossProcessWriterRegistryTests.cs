using System.Diagnostics;
using ChunkStore.MultiProcess.Tests.Infrastructure;
using Xunit;

namespace ChunkStore.MultiProcess.Tests;

/// <summary>
/// The writer registry and the single-GC rule between real processes (DESIGN §4): a writer session in another
/// process moves the GC cutoff back, a killed writer's entry is ignored and removed, and a second collection in
/// another process fails fast.
/// </summary>
public sealed class CrossProcessWriterRegistryTests : MultiProcessTestBase
{
    private static readonly TimeSpan Margin = TimeSpan.FromHours(1);

    [Fact]
    public async Task WriterInOtherProcess_IsOldestWriter_ThenKilledWriterIsIgnoredAndRemoved()
    {
        var writer = Start("writer", Root);
        string started = await writer.ExpectAsync("STARTED");
        var writerStart = DateTimeOffset.FromUnixTimeMilliseconds(Field(started, 1));
        Assert.Equal(writer.Id, (int)Field(started, 2));
        string entry = Assert.Single(Directory.GetFiles(WritersDirectory, $"*-{writer.Id}-*.writer"));

        // Two unreferenced chunks: one last touched just inside the writer's protection window
        // (start − margin, start], one well before it.
        var planted = await PlantAsync(RandomChunks(2), TimeSpan.Zero);
        var (inWindow, beforeWindow) = (planted[0], planted[1]);
        File.SetLastAccessTimeUtc(ChunkPath(inWindow), (writerStart - Margin + TimeSpan.FromMilliseconds(50)).UtcDateTime);
        File.SetLastAccessTimeUtc(ChunkPath(beforeWindow), (writerStart - (2 * Margin)).UtcDateTime);

        var options = new GarbageCollectionOptions { GracePeriod = TimeSpan.FromSeconds(1), WriterSafetyMargin = Margin };
        var first = await Repo.Maintenance.GarbageCollectAsync(Array.Empty<ChunkDigest>(), options);
        Assert.True(first.Completed);
        Assert.Equal(writerStart, first.OldestWriter);
        Assert.Equal(writerStart - Margin, first.Cutoff);
        Assert.Equal(0, first.DeadWritersRemoved);
        Assert.True(File.Exists(ChunkPath(inWindow)), "the chunk inside the other process's writer window was removed");
        Assert.False(File.Exists(ChunkPath(beforeWindow)), "the chunk before the writer window survived");
        Assert.Equal(1, first.ChunksRemoved);
        Assert.True(File.Exists(entry), "GC removed the entry of a live writer");

        writer.Kill();
        Assert.True(File.Exists(entry), "the killed writer's entry is still there until a scan removes it");

        // The next collection ignores the dead entry (oldest writer = its own start), removes it, and no longer
        // protects the window.
        while (DateTimeOffset.UtcNow <= writerStart + TimeSpan.FromMilliseconds(100))
        {
            await Task.Delay(10);
        }

        var second = await Repo.Maintenance.GarbageCollectAsync(Array.Empty<ChunkDigest>(), options);
        Assert.True(second.Completed);
        Assert.True(second.DeadWritersRemoved >= 1, $"dead writers removed: {second.DeadWritersRemoved}");
        Assert.False(File.Exists(entry), "the killed writer's registry entry is still there");
        Assert.Equal(second.StartedAt, second.OldestWriter);
        Assert.False(File.Exists(ChunkPath(inWindow)), "a killed writer still protects its window");
        Assert.Empty(Directory.GetFiles(WritersDirectory));
    }

    [Fact]
    public async Task WriterInOtherProcess_EndedCleanly_RemovesItsEntry()
    {
        var writer = Start("writer", Root);
        await writer.ExpectAsync("STARTED");
        Assert.Single(Directory.GetFiles(WritersDirectory, $"*-{writer.Id}-*.writer"));
        await writer.SendAsync("end");
        await writer.ExpectAsync("ENDED");
        Assert.Equal(0, await writer.WaitForExitAsync());
        Assert.Empty(Directory.GetFiles(WritersDirectory));

        var result = await Repo.Maintenance.GarbageCollectAsync(Array.Empty<ChunkDigest>(), new GarbageCollectionOptions { GracePeriod = TimeSpan.FromSeconds(1) });
        Assert.Equal(result.StartedAt, result.OldestWriter);
        Assert.Equal(0, result.DeadWritersRemoved);
    }

    [Fact]
    public async Task SecondGcInOtherProcess_FailsFastWhileOneRuns()
    {
        var running = Start("gc-hold", Root);
        await running.ExpectAsync("MARKING");

        // Another process: fails at once with exit code 4.
        var watch = Stopwatch.StartNew();
        var second = Start("gc", Root, "1");
        await second.ExpectAsync("READY");
        await second.ExpectAsync("IN-PROGRESS");
        Assert.Equal(4, await second.WaitForExitAsync());
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"the second GC took {watch.Elapsed.TotalSeconds:F1} s to give up");

        // This process: the typed exception, without waiting.
        watch.Restart();
        await Assert.ThrowsAsync<GarbageCollectionInProgressException>(() => Repo.Maintenance.GarbageCollectAsync(Array.Empty<ChunkDigest>()));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"the in-process GC took {watch.Elapsed.TotalSeconds:F1} s to give up");

        // Once the first finishes, collecting works again.
        await running.SendAsync("go");
        string json = await running.ExpectAsync("{");
        Assert.Contains("\"completed\":true", json, StringComparison.Ordinal);
        Assert.Equal(0, await running.WaitForExitAsync());
        var after = await Repo.Maintenance.GarbageCollectAsync(Array.Empty<ChunkDigest>(), new GarbageCollectionOptions { GracePeriod = TimeSpan.FromSeconds(1) });
        Assert.True(after.Completed);
    }

    [Fact]
    public async Task GcProcessKilledWhileHoldingGcLock_NextGcRuns()
    {
        var running = Start("gc-hold", Root);
        await running.ExpectAsync("MARKING");
        await Assert.ThrowsAsync<GarbageCollectionInProgressException>(() => Repo.Maintenance.GarbageCollectAsync(Array.Empty<ChunkDigest>()));
        running.Kill();
        var result = await Repo.Maintenance.GarbageCollectAsync(Array.Empty<ChunkDigest>(), new GarbageCollectionOptions { GracePeriod = TimeSpan.FromSeconds(1) });
        Assert.True(result.Completed);
    }
}
