using ChunkStore.FileSystem;
using ChunkStore.Tests.Infrastructure;

namespace ChunkStore.Tests.Gc;

/// <summary>
/// Garbage collection frees a full disk, which is when an operator needs it most (issue 19.8), on a real size-limited
/// tmpfs: with no free byte and with no free inode, and without ever weakening the access-time check.
/// </summary>
public sealed class GcFullDiskTests
{
    private static readonly GarbageCollectionOptions Short = new() { GracePeriod = TimeSpan.FromHours(1) };
    private readonly DateTime _longAgo = DateTime.UtcNow.AddDays(-3);

    /// <summary>A store on the small file system with referenced chunks and old garbage (32 KiB each).</summary>
    private async Task<(ChunkRepository Store, List<(ChunkDigest Digest, byte[] Data)> Kept, List<ChunkDigest> Garbage)> PlantAsync(string root, bool collectedBefore)
    {
        var store = TestData.NewStore(root);
        var kept = new List<(ChunkDigest, byte[])>();
        var garbage = new List<ChunkDigest>();
        for (int i = 0; i < 16; i++)
        {
            var data = TestData.Random(32 * 1024, 1000 + i);
            var digest = (await store.InsertAsync(data)).Digest;
            if (i % 4 == 0)
            {
                kept.Add((digest, data));
            }
            else
            {
                garbage.Add(digest);
            }
        }

        if (collectedBefore)
        {
            Assert.Equal(0, (await store.Maintenance.GarbageCollectAsync(kept.Select(k => k.Item1), Short)).ChunksRemoved);
        }

        foreach (var d in garbage)
        {
            TestData.SetAccessTime(TestData.ChunkPath(store, d), _longAgo);
        }

        return (store, kept, garbage);
    }

    private static async Task AssertCollectsAsync(ChunkRepository store, List<(ChunkDigest Digest, byte[] Data)> kept, List<ChunkDigest> garbage)
    {
        // The clock check still runs on the full disk: a filesystem that drops explicit atime updates is refused.
        var backend = (FileSystemBackend)store.Backend;
        backend.TouchFunction = static _ => 0;
        await Assert.ThrowsAsync<AccessTimeUnreliableException>(async () => await store.Maintenance.GarbageCollectAsync(kept.Select(k => k.Digest), Short));
        backend.TouchFunction = ChunkStore.Native.Libc.TouchAccessTime;

        var result = await store.Maintenance.GarbageCollectAsync(kept.Select(k => k.Digest), Short);

        Assert.True(result.Completed);
        Assert.Equal(garbage.Count, result.ChunksRemoved);
        Assert.Equal(kept.Count, result.ChunksMarked);
        Assert.Equal(0, result.RemoveFailed);
        foreach (var d in garbage)
        {
            Assert.False(await store.ContainsAsync(d));
        }

        foreach (var (digest, data) in kept)
        {
            Assert.Equal(data, await store.ReadAsync(digest));
        }

        // The space is free again: new chunks fit.
        Assert.True((await store.InsertAsync(TestData.Random(32 * 1024, 99))).IsNew);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task GarbageCollect_FileSystemWithNoFreeByte_RunsAndFreesSpace(bool collectedBefore)
    {
        using var fs = new SmallFileSystem("2m");
        var (store, kept, garbage) = await PlantAsync(Path.Combine(fs.Path, "store"), collectedBefore);
        await using var _ = store;
        SmallFileSystem.FillBytes(Path.Combine(fs.Path, "filler"));
        var full = await Assert.ThrowsAsync<ChunkStorageException>(async () => await store.InsertAsync(TestData.Random(32 * 1024, 98)));
        Assert.Equal(StorageErrorKind.DiskFull, full.Kind);

        await AssertCollectsAsync(store, kept, garbage);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task GarbageCollect_FileSystemWithNoFreeInode_RunsAndFreesInodes(bool collectedBefore)
    {
        using var fs = new SmallFileSystem("64m", inodes: 400);
        var (store, kept, garbage) = await PlantAsync(Path.Combine(fs.Path, "store"), collectedBefore);
        await using var _ = store;
        Assert.True(SmallFileSystem.FillInodes(Path.Combine(fs.Path, "filler")) > 0);
        var full = await Assert.ThrowsAsync<ChunkStorageException>(async () => await store.InsertAsync(TestData.Random(32 * 1024, 98)));
        Assert.Equal(StorageErrorKind.DiskFull, full.Kind);

        await AssertCollectsAsync(store, kept, garbage);
    }

    [Fact]
    public async Task GarbageCollect_NoFreeInodeForAMissingLockFile_SkipsThatChunkAndRemovesTheRest()
    {
        using var fs = new SmallFileSystem("64m", inodes: 400);
        var (planted, kept, garbage) = await PlantAsync(Path.Combine(fs.Path, "store"), collectedBefore: true);
        // The first garbage chunk the sweep meets (before any removal frees an inode) loses its stripe lock file, as
        // if it had been copied in behind the store's back: taking its lock needs a new inode. (A fresh instance, so
        // that no descriptor of the deleted file is still open.)
        var lonely = garbage.MinBy(d => d.ToString())!;
        Assert.Single(kept.Select(k => k.Digest).Concat(garbage), d => planted.Locks.StripeOf(d) == planted.Locks.StripeOf(lonely));
        string lockFile = Path.Combine(planted.Locks.LockDirectory, FormattableString.Invariant($"stripe-{planted.Locks.StripeOf(lonely):x4}.lock"));
        await planted.DisposeAsync();
        File.Delete(lockFile);
        SmallFileSystem.FillInodes(Path.Combine(fs.Path, "filler"));
        await using var store = ChunkRepository.Open(new ChunkStoreOptions { Root = planted.Root });

        var result = await store.Maintenance.GarbageCollectAsync(kept.Select(k => k.Digest), Short);

        Assert.True(result.Completed);
        Assert.Equal(garbage.Count - 1, result.ChunksRemoved);
        Assert.Equal(1, result.RemoveFailed);
        Assert.Equal([TestData.ChunkPath(store, lonely)], result.RemoveFailedSample);
        Assert.True(await store.ContainsAsync(lonely));

        // The removals freed inodes: the next collection creates the lock file and removes the chunk.
        var next = await store.Maintenance.GarbageCollectAsync(kept.Select(k => k.Digest), Short);
        Assert.Equal(1, next.ChunksRemoved);
        Assert.Equal(0, next.RemoveFailed);
        Assert.False(await store.ContainsAsync(lonely));
    }
}
