using ChunkStore.FileSystem;
using ChunkStore.Native;
using ChunkStore.Tests.Infrastructure;

namespace ChunkStore.Tests.Gc;

/// <summary>The access-time check needs no new file (issue 19.8) and still refuses every clock it cannot trust.</summary>
public sealed class GcClockCheckTests : IDisposable
{
    private static readonly GarbageCollectionOptions Short = new() { GracePeriod = TimeSpan.FromHours(1) };
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task GarbageCollect_FilesystemThatDropsEveryExplicitAtimeUpdate_Refuses()
    {
        await using var store = TestData.NewStore(_dir.Sub("drops-all"));
        var digest = (await store.InsertAsync(TestData.Random(100, 1))).Digest;
        TestData.SetAccessTime(TestData.ChunkPath(store, digest), DateTime.UtcNow.AddDays(-3));
        var backend = (FileSystemBackend)store.Backend;
        // Not only the touch is lost, the explicit "an hour ago" too: the probe's atime simply stays where it was.
        backend.TouchFunction = static _ => 0;
        backend.SetAccessTimeFunction = static (_, _) => 0;

        var ex = await Assert.ThrowsAsync<AccessTimeUnreliableException>(async () => await store.Maintenance.GarbageCollectAsync([], Short));

        Assert.Contains("explicit update", ex.Message, StringComparison.Ordinal);
        Assert.True(await store.ContainsAsync(digest));
    }

    [Fact]
    public async Task GarbageCollect_ChunksDirectoryOnItsOwnFileSystem_ChecksTheClockThereWithoutCreatingAFile()
    {
        string root = _dir.Sub("mounted-chunks");
        TestData.NewStore(root).Dispose();
        using var chunksFs = new SmallFileSystem("4m", inodes: 64, at: Path.Combine(root, ".chunks"));
        await using var store = ChunkRepository.Open(new ChunkStoreOptions { Root = root });
        var kept = (await store.InsertAsync(TestData.Random(100, 2))).Digest;
        var old = (await store.InsertAsync(TestData.Random(100, 3))).Digest;
        TestData.SetAccessTime(TestData.ChunkPath(store, old), DateTime.UtcNow.AddDays(-3));
        Assert.Equal(0, Libc.LStat(Path.Combine(root, ".gc.lock"), out var gcLockBefore));
        var backend = (FileSystemBackend)store.Backend;
        backend.TouchFunction = static _ => 0;
        await Assert.ThrowsAsync<AccessTimeUnreliableException>(async () => await store.Maintenance.GarbageCollectAsync([kept], Short));
        backend.TouchFunction = Libc.TouchAccessTime;
        var entries = Directory.GetFileSystemEntries(chunksFs.Path).Order(StringComparer.Ordinal).ToList();

        var result = await store.Maintenance.GarbageCollectAsync([kept], Short);

        Assert.True(result.Completed);
        Assert.Equal(1, result.ChunksRemoved);
        Assert.True(await store.ContainsAsync(kept));
        Assert.Equal(entries, Directory.GetFileSystemEntries(chunksFs.Path).Order(StringComparer.Ordinal).ToList());
        // .gc.lock is on another filesystem than the chunks, so it is not the probe: its atime did not move.
        Assert.Equal(0, Libc.LStat(Path.Combine(root, ".gc.lock"), out var gcLockAfter));
        Assert.Equal(gcLockBefore.AccessTime.TotalNanoseconds, gcLockAfter.AccessTime.TotalNanoseconds);
    }
}
