using ChunkStore.Tests.Contract;
using ChunkStore.Tests.Infrastructure;
using ChunkStore.Tests.Remote;

namespace ChunkStore.S3.Tests;

/// <summary>
/// The backend contract suite against the S3 backend's protocol and local cache over an in-memory storage (no server):
/// the same tests as <see cref="S3BackendContractTests"/>, with the objects behind <c>IRemoteStorage</c> in memory.
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
        string local = ((S3ChunkBackend)store.Backend).Layout.ChunkPath(digest);
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
        new(File.GetLastAccessTimeUtc(((S3ChunkBackend)store.Backend).Layout.ChunkPath(digest)), TimeSpan.Zero);

    protected override void Age(ChunkRepository store, ChunkDigest digest, DateTime utc) =>
        File.SetLastAccessTimeUtc(((S3ChunkBackend)store.Backend).Layout.ChunkPath(digest), utc);

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        foreach (var root in _roots)
        {
            root.Dispose();
        }
    }
}
