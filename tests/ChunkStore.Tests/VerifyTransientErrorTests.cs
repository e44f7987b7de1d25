using ChunkStore.FileSystem;
using ChunkStore.Tests.Infrastructure;

namespace ChunkStore.Tests;

public sealed class VerifyTransientErrorTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task TransientReadErrors_AreReportedAndNeverRenameAGoodChunk()
    {
        FaultInjectingBackend? faulty = null;
        var options = new ChunkStoreOptions { Root = _dir.Sub("s") };
        await using var store = ChunkRepository.OpenWithBackend(options, create: true, open: false, services =>
            faulty = new FaultInjectingBackend(new FileSystemBackend(services.Layout, services.Locks, services.Sections, SyncMode.None, TimeSpan.FromSeconds(10), services.Logger)));
        var digests = new List<ChunkDigest>();
        for (int i = 0; i < 10; i++)
        {
            digests.Add((await store.InsertAsync(TestData.Random(1000, i))).Digest);
        }

        var flaky = digests[4];
        faulty!.ReadFault = d => d == flaky
            ? new ChunkStorageException("injected: I/O error", StorageErrorKind.IOError, isTransient: true, null) { Digest = d }
            : null;

        var single = await Assert.ThrowsAsync<ChunkStorageException>(async () => await store.VerifyAsync(flaky));
        var all = await store.Maintenance.VerifyAllAsync(parallelism: 2);

        Assert.True(single.IsTransient);
        Assert.Equal(10, all.Checked);
        Assert.Equal(9, all.Ok);
        Assert.Equal(1, all.Errors);
        Assert.Equal(0, all.Corrupt);
        Assert.Contains("injected", all.ErrorSample.Single(), StringComparison.Ordinal);
        Assert.Equal(0, faulty.RenameCalls);
        faulty.ReadFault = _ => null;
        Assert.Equal(TestData.Random(1000, 4), await store.ReadAsync(flaky));
    }
}
