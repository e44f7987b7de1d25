using System.Net;
using ChunkStore.Server.Tests.Infrastructure;

namespace ChunkStore.Server.Tests;

/// <summary>Verification over the API: a corrupt chunk is found, moved aside and reported; good chunks are left alone.</summary>
public sealed class VerifyTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task VerifyAll_CorruptChunk_IsMovedAsideAndReported()
    {
        var good = Api.RandomChunk(3000, seed: 1);
        var bad = Api.RandomChunk(3000, seed: 2);
        await _server.Writer.PutAsync(good);
        await _server.Writer.PutAsync(bad);
        string hex = Api.Hex(bad);
        string file = _server.CorruptChunkFile(hex, offset: 0);

        var result = await Api.ReadAsync<VerifyAllResult>(await _server.Writer.PostAsync("/admin/verify", null));
        Assert.Equal((2, 1, 1, 0), (result.Checked, result.Ok, result.Corrupt, result.Missing));
        Assert.Equal([ChunkDigest.Parse(hex)], result.BadSample);
        Assert.True(File.Exists(file + ".0.bad"));
        await Api.ProblemAsync(await _server.Reader.GetAsync($"/chunks/{hex}"), HttpStatusCode.NotFound);

        // The next upload of the same content stores a good copy again.
        Assert.True((await _server.Writer.PutAsync(bad)).IsNew);
        Assert.Equal(bad, await _server.Reader.GetByteArrayAsync($"/chunks/{hex}"));
    }

    [Fact]
    public async Task Verify_ListedDigestsAndOneDigest_CheckOnlyThose()
    {
        var a = await _server.Writer.PutAsync(Api.RandomChunk(100, seed: 3));
        await _server.Writer.PutAsync(Api.RandomChunk(100, seed: 4));
        string missing = Api.Hex(Api.RandomChunk(100, seed: 5));

        var listed = await Api.ReadAsync<VerifyAllResult>(await _server.Writer.PostDigestsAsync("/admin/verify", [a.Digest, missing]));
        Assert.Equal((2, 1, 1), (listed.Checked, listed.Ok, listed.Missing));

        var one = await Api.ReadAsync<ChunkVerifyResult>(await _server.Writer.PostAsync($"/admin/verify/{a.Digest}", null));
        Assert.Equal(ChunkVerifyStatus.Ok, one.Status);
        Assert.Equal(a.Digest, one.Digest.ToString());
    }
}
