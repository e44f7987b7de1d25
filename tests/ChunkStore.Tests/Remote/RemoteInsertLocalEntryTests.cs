using ChunkStore.FileSystem;
using ChunkStore.Remote;
using ChunkStore.Tests.Infrastructure;

namespace ChunkStore.Tests.Remote;

/// <summary>
/// The local entry of a remote insert (marker, or full copy with <c>CacheOnInsert</c>): written while the upload is in
/// flight, in place only once the object exists, and nothing of it left behind when the upload fails.
/// </summary>
public sealed class RemoteInsertLocalEntryTests : IDisposable
{
    private readonly TempDirectory _root = new("chunkstore-remote-insert");

    public void Dispose() => _root.Dispose();

    private static string[] TemporaryFilesOf(ChunkLayout layout, ChunkDigest digest)
    {
        string dir = layout.PrefixDirectory(digest);
        return Directory.Exists(dir)
            ? Directory.GetFiles(dir).Where(f => Path.GetFileName(f).Contains(ChunkEntryName.TemporaryInfix, StringComparison.Ordinal)).ToArray()
            : [];
    }

    /// <summary>Waits (2 s at most) until the insert has written a temporary file for <paramref name="digest"/>.</summary>
    private static async Task WaitForTemporaryFileAsync(ChunkLayout layout, ChunkDigest digest)
    {
        for (int i = 0; i < 200 && TemporaryFilesOf(layout, digest).Length == 0; i++)
        {
            await Task.Delay(10);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Insert_WritesTheLocalEntryWhileTheUploadIsInFlight_AndPutsItInPlaceAfter(bool cacheOnInsert)
    {
        var storage = new InMemoryRemoteStorage();
        await using var store = await MemoryRemoteStore.OpenAsync(_root.Sub("store"), storage, s => s with { CacheOnInsert = cacheOnInsert });
        var layout = ((RemoteChunkBackend)store.Backend).Layout;
        var data = TestData.Random(3000, seed: 7);
        var digest = ChunkDigest.Compute(data);
        long? preparedSize = null;
        bool chunkFileDuringUpload = true;
        storage.BeforePut = async key =>
        {
            // The request is "on the wire" for a while: the insert prepares its local file meanwhile.
            await WaitForTemporaryFileAsync(layout, digest);

            var temps = TemporaryFilesOf(layout, digest);
            preparedSize = temps.Length == 1 ? new FileInfo(temps[0]).Length : null;
            chunkFileDuringUpload = File.Exists(layout.ChunkPath(digest));
        };

        var before = DateTime.UtcNow;
        var result = await store.InsertAsync(data);

        Assert.True(result.IsNew);
        Assert.Equal(cacheOnInsert ? data.Length : 0, preparedSize);
        Assert.False(chunkFileDuringUpload); // not in place before the object exists (O-2: a local file ⇒ the object exists)
        Assert.Empty(TemporaryFilesOf(layout, digest));
        var local = new FileInfo(layout.ChunkPath(digest));
        Assert.Equal(cacheOnInsert ? data.Length : 0, local.Length);
        Assert.True(local.LastAccessTimeUtc >= before.AddSeconds(-1)); // touched when it was put in place
        Assert.Equal(cacheOnInsert, ((RemoteChunkBackend)store.Backend).Cache.Contains(digest));
        Assert.Equal(data, await store.ReadAsync(digest));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Insert_UploadFails_LeavesNoLocalFileOrTemporaryFile(bool cacheOnInsert)
    {
        var storage = new InMemoryRemoteStorage();
        await using var store = await MemoryRemoteStore.OpenAsync(_root.Sub("store"), storage, s => s with { CacheOnInsert = cacheOnInsert });
        var layout = ((RemoteChunkBackend)store.Backend).Layout;
        var data = TestData.Random(3000, seed: 8);
        var digest = ChunkDigest.Compute(data);
        storage.BeforePut = async _ =>
        {
            await Task.Delay(50);
            throw new ChunkStorageException("refused by the test", StorageErrorKind.Network, isTransient: false, innerException: null);
        };

        await Assert.ThrowsAsync<ChunkStorageException>(async () => await store.InsertAsync(data));

        Assert.False(File.Exists(layout.ChunkPath(digest)));
        Assert.Empty(TemporaryFilesOf(layout, digest));
        Assert.False(((RemoteChunkBackend)store.Backend).Cache.Contains(digest));

        // And the next insert uploads it for real.
        storage.BeforePut = null;
        Assert.True((await store.InsertAsync(data)).IsNew);
        Assert.True(File.Exists(layout.ChunkPath(digest)));
    }

    [Fact]
    public async Task Insert_PreparedFileRemovedDuringTheUpload_StillWritesTheMarker()
    {
        // A collection removes temporary files older than its cutoff without a lock: an upload that outlasts the grace
        // period can lose its prepared file. The object exists all the same, so the marker must be there (O-2).
        var storage = new InMemoryRemoteStorage();
        await using var store = await MemoryRemoteStore.OpenAsync(_root.Sub("store"), storage, s => s with { CacheOnInsert = true });
        var layout = ((RemoteChunkBackend)store.Backend).Layout;
        var data = TestData.Random(3000, seed: 9);
        var digest = ChunkDigest.Compute(data);
        int removed = 0;
        storage.BeforePut = async _ =>
        {
            await WaitForTemporaryFileAsync(layout, digest);

            foreach (var temp in TemporaryFilesOf(layout, digest))
            {
                File.Delete(temp);
                removed++;
            }
        };

        Assert.True((await store.InsertAsync(data)).IsNew);

        Assert.Equal(1, removed);
        Assert.True(File.Exists(layout.ChunkPath(digest)));
        Assert.Equal(0, new FileInfo(layout.ChunkPath(digest)).Length);
        Assert.False(((RemoteChunkBackend)store.Backend).Cache.Contains(digest));
        Assert.Equal(data, await store.ReadAsync(digest));
    }
}
