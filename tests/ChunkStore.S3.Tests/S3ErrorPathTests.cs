using ChunkStore.S3.Tests.Infrastructure;
using ChunkStore.Torture;

namespace ChunkStore.S3.Tests;

/// <summary>
/// Answers a real server rarely gives but others (and proxies) do: DeleteObjects with per-key errors, a PUT answered
/// 409, a 412 or 409 without a body. The store talks to the real RGW through the torture harness's fault proxy, whose
/// plan here forces one fault on chosen requests.
/// </summary>
public class S3ErrorPathTests(S3BucketFixture fixture) : IClassFixture<S3BucketFixture>
{
    /// <summary>A store whose requests go through a fault proxy in front of the real server.</summary>
    private async Task<(S3TestStore Store, FaultProxy Proxy)> ProxiedStoreAsync(Func<ProxiedRequest, ProxyFault> plan, Action<S3BackendOptions>? configure = null)
    {
        var proxy = new FaultProxy(new Uri(S3TestEnvironment.RequireEndpoint()), plan);
        proxy.Start();
        var store = fixture.CreateStore(o =>
        {
            o.Endpoint = proxy.Endpoint;
            o.RetryBaseDelay = TimeSpan.FromMilliseconds(10);
            configure?.Invoke(o);
        });
        await Task.CompletedTask;
        return (store, proxy);
    }

    [S3Fact]
    public async Task Gc_DeleteObjectsAnsweredWithPerKeyErrors_CountsThemCompletesAndTheNextRunRemovesThem()
    {
        bool faulty = true;
        var (store, proxy) = await ProxiedStoreAsync(r => r.IsDeleteObjects && Volatile.Read(ref faulty) ? ProxyFault.AnswerDeleteErrors : ProxyFault.None);
        await using var _ = proxy;
        await using var __ = store;
        var garbage = new List<ChunkDigest>();
        for (int i = 0; i < 6; i++)
        {
            garbage.Add((await store.Repo.InsertAsync(S3TestStore.RandomChunk())).Digest);
            store.AgeChunk(garbage[^1]);
        }

        await store.WaitForServerAgeAsync();

        var first = await store.CollectAsync();

        // The proxy deleted nothing; it answered an error for some keys and "deleted" for the others.
        Assert.True(first.Completed);
        Assert.Equal(1, proxy.Count(ProxyFault.AnswerDeleteErrors));
        Assert.True(first.RemoveFailed >= 1, $"RemoveFailed = {first.RemoveFailed}");
        Assert.Equal(6, first.RemoveFailed + first.ChunksRemoved);
        Assert.Equal(1, store.Count(S3RequestKind.DeleteObjects)); // an answer, not resent whole
        Assert.All(garbage, d => Assert.Null(store.LocalSize(d)));
        Assert.Equal(6, (await fixture.ChunkKeysAsync(store.Options.KeyPrefix)).Count); // still there, no local state

        Volatile.Write(ref faulty, false);
        var second = await store.CollectAsync();

        Assert.Equal(6, second.ChunksRemoved);
        Assert.Equal(0, second.RemoveFailed);
        Assert.Empty(await fixture.ChunkKeysAsync(store.Options.KeyPrefix));
    }

    [S3Fact]
    public async Task Insert_PutAnswered409Once_RetriesAndStoresIt()
    {
        int puts = 0;
        var (store, proxy) = await ProxiedStoreAsync(r => r.IsObjectPut && !r.Target.Contains(ChunkStore.Remote.RemoteStoreIdentity.ObjectName, StringComparison.Ordinal) && Interlocked.Increment(ref puts) == 1 ? ProxyFault.Answer409 : ProxyFault.None);
        await using var _ = proxy;
        await using var __ = store;
        byte[] data = S3TestStore.RandomChunk();

        var result = await store.Repo.InsertAsync(data);

        Assert.True(result.IsNew);
        Assert.Equal(2, store.Count(S3RequestKind.Put));
        Assert.Equal(data, await fixture.GetAsync(store.Key(result.Digest)));
        Assert.NotNull(store.LocalSize(result.Digest));
    }

    [S3Fact]
    public async Task Insert_PutAnswered409Always_FailsTransientAndLeavesNoLocalState()
    {
        var (store, proxy) = await ProxiedStoreAsync(r => r.IsObjectPut && !r.Target.Contains(ChunkStore.Remote.RemoteStoreIdentity.ObjectName, StringComparison.Ordinal) ? ProxyFault.Answer409 : ProxyFault.None, o => o.RetryCount = 2);
        await using var _ = proxy;
        await using var __ = store;
        byte[] data = S3TestStore.RandomChunk();
        var digest = ChunkDigest.Compute(data);

        var ex = await Assert.ThrowsAsync<ChunkStorageException>(async () => await store.Repo.InsertAsync(data));

        Assert.True(ex.IsTransient);
        Assert.Contains("409", ex.Message);
        Assert.Equal(3, store.Count(S3RequestKind.Put));
        Assert.Null(store.LocalSize(digest));
        Assert.False(await store.ObjectExistsAsync(digest));
    }

    [S3Fact]
    public async Task Insert_412WithoutBody_IsADuplicateWithAMarker()
    {
        var (store, proxy) = await ProxiedStoreAsync(r => r.IsObjectPut ? ProxyFault.StripErrorBody : ProxyFault.None);
        await using var _ = proxy;
        await using var __ = store;
        byte[] data = S3TestStore.RandomChunk();
        var digest = ChunkDigest.Compute(data);
        await fixture.PutRawAsync(store.Key(digest), data); // exists, no local state (a lost cache)

        var result = await store.Repo.InsertAsync(data);

        Assert.False(result.IsNew);
        Assert.NotNull(store.LocalSize(digest));
        Assert.Equal(1, store.Count(S3RequestKind.Put));
        Assert.True(proxy.Count(ProxyFault.StripErrorBody) >= 1);
    }

    [S3Fact]
    public async Task Insert_409WithoutBody_IsRetriedLikeOneWithABody()
    {
        int puts = 0;
        var (store, proxy) = await ProxiedStoreAsync(r => r.IsObjectPut && !r.Target.Contains(ChunkStore.Remote.RemoteStoreIdentity.ObjectName, StringComparison.Ordinal) && Interlocked.Increment(ref puts) == 1 ? ProxyFault.Answer409WithoutBody : ProxyFault.None);
        await using var _ = proxy;
        await using var __ = store;
        byte[] data = S3TestStore.RandomChunk();

        var result = await store.Repo.InsertAsync(data);

        Assert.True(result.IsNew);
        Assert.Equal(1, proxy.Count(ProxyFault.Answer409WithoutBody));
        Assert.Equal(2, store.Count(S3RequestKind.Put));
        Assert.Equal(data, await fixture.GetAsync(store.Key(result.Digest)));
    }
}
