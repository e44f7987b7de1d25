using ChunkStore.Tests.Infrastructure;

namespace ChunkStore.Tests.Contract;

public sealed class FileSystemBackendContractTests : ChunkBackendContractTests
{
    private readonly TempDirectory _dir = new();
    private int _count;

    protected override ValueTask<ChunkRepository> CreateStoreCoreAsync() =>
        ValueTask.FromResult(TestData.NewStore(_dir.Sub($"store{_count++}")));

    protected override ValueTask CorruptAsync(ChunkRepository store, ChunkDigest digest, byte[] storedBytes)
    {
        File.WriteAllBytes(TestData.ChunkPath(store, digest), storedBytes);
        return ValueTask.CompletedTask;
    }

    protected override DateTimeOffset LastTouched(ChunkRepository store, ChunkDigest digest) =>
        new(File.GetLastAccessTimeUtc(TestData.ChunkPath(store, digest)), TimeSpan.Zero);

    protected override void Age(ChunkRepository store, ChunkDigest digest, DateTime utc) =>
        File.SetLastAccessTimeUtc(TestData.ChunkPath(store, digest), utc);

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        _dir.Dispose();
    }
}
