using ChunkStore.S3.Tests.Infrastructure;
using ChunkStore.Tests.Contract;

namespace ChunkStore.S3.Tests;

/// <summary>The backend contract suite against the S3 backend on the real server (one bucket, one key prefix per store).</summary>
/// <remarks>Without CHUNKSTORE_S3_ENDPOINT every test fails with the message saying how to start the server.</remarks>
public sealed class S3BackendContractTests(S3BucketFixture fixture) : ChunkBackendContractTests, IClassFixture<S3BucketFixture>
{
    protected override ValueTask<ChunkRepository> CreateStoreCoreAsync() => ValueTask.FromResult(fixture.CreateStore().Repo);

    protected override async ValueTask CorruptAsync(ChunkRepository store, ChunkDigest digest, byte[] storedBytes)
    {
        // Bit rot in the bucket; a full local copy rots too (an empty marker stays a marker).
        var backend = (S3ChunkBackend)store.Backend;
        await fixture.PutRawAsync(backend.ObjectKey(digest), storedBytes);
        string local = backend.Layout.ChunkPath(digest);
        if (File.Exists(local) && new FileInfo(local).Length > 0)
        {
            File.WriteAllBytes(local, storedBytes);
        }
    }

    protected override Task LetStoredChunksAgeAsync(ChunkRepository store) => fixture.WaitForServerAgeAsync(((S3ChunkBackend)store.Backend).KeyPrefix);

    protected override GarbageCollectionOptions? ContractGcOptions => S3TestStore.GcOptions();

    protected override DateTimeOffset LastTouched(ChunkRepository store, ChunkDigest digest) =>
        new(File.GetLastAccessTimeUtc(((S3ChunkBackend)store.Backend).Layout.ChunkPath(digest)), TimeSpan.Zero);

    protected override void Age(ChunkRepository store, ChunkDigest digest, DateTime utc) =>
        File.SetLastAccessTimeUtc(((S3ChunkBackend)store.Backend).Layout.ChunkPath(digest), utc);
}
