using ChunkStore.Tests.Contract;
using ChunkStore.Tests.Infrastructure;
using ChunkStore.Remote;

namespace ChunkStore.Tests.Remote;

/// <summary>
/// The backend contract suite against the core's remote protocol and local cache (<see cref="RemoteChunkBackend"/>) over
/// an in-memory storage: the same tests the S3 store runs on the real server (<c>S3BackendContractTests</c>), without a
/// server or the S3 package.
/// </summary>
public sealed class MemoryRemoteBackendContractTests : ChunkBackendContractTests
{
    private readonly List<TempDirectory> _roots = [];
    private readonly Dictionary<ChunkRepository, InMemoryRemoteStorage> _storages = [];

    protected override async ValueTask<ChunkRepository> CreateStoreCoreAsync()
    {
        var root = new TempDirectory("chunkstore-memremote");
        _roots.Add(root);
        var storage = new InMemoryRemoteStorage();
        var store = await MemoryRemoteStore.OpenAsync(root.Sub("store"), storage);
        _storages.Add(store, storage);
        return store;
    }

    protected override ValueTask CorruptAsync(ChunkRepository store, ChunkDigest digest, byte[] storedBytes)
    {
        // Bit rot in the storage; a full local copy rots too (an empty marker stays a marker).
        _storages[store].SetRaw(MemoryRemoteStore.Key(digest), storedBytes);
        string local = ((RemoteChunkBackend)store.Backend).Layout.ChunkPath(digest);
        if (File.Exists(local) && new FileInfo(local).Length > 0)
        {
            File.WriteAllBytes(local, storedBytes);
        }

        return ValueTask.CompletedTask;
    }

    protected override Task LetStoredChunksAgeAsync(ChunkRepository store)
    {
        _storages[store].AgeAll(TimeSpan.FromDays(30));
        return Task.CompletedTask;
    }

    protected override DateTimeOffset LastTouched(ChunkRepository store, ChunkDigest digest) =>
        new(File.GetLastAccessTimeUtc(((RemoteChunkBackend)store.Backend).Layout.ChunkPath(digest)), TimeSpan.Zero);

    protected override void Age(ChunkRepository store, ChunkDigest digest, DateTime utc) =>
        File.SetLastAccessTimeUtc(((RemoteChunkBackend)store.Backend).Layout.ChunkPath(digest), utc);

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        foreach (var root in _roots)
        {
            root.Dispose();
        }
    }
}
