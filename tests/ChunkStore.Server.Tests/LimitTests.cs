using System.Net;
using ChunkStore.Server.Tests.Infrastructure;

namespace ChunkStore.Server.Tests;

/// <summary>Request size limits: a chunk body beyond the store's maximum chunk size is refused with 413, and nothing is stored.</summary>
public sealed class LimitTests : IAsyncLifetime
{
    private const int MaxChunk = 256 * 1024;
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(
        ("ChunkStore:MaxChunkSize", MaxChunk.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        ("ChunkServer:Limits:MaxDigestListBytes", "650"));

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Put_ExactlyTheMaximumChunkSize_IsStored()
    {
        var put = await _server.Writer.PutAsync(Api.RandomChunk(MaxChunk, seed: 1));
        Assert.True(put.IsNew);
        Assert.Equal(MaxChunk, put.Size);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public async Task Put_OneByteOverTheMaximum_Is413AndStoresNothing(bool expectContinue, bool chunked)
    {
        await _server.Writer.PutAsync(Api.RandomChunk(10, seed: 2));
        var before = _server.Snapshot();
        var body = Api.RandomChunk(MaxChunk + 1, seed: 3);

        // Declared length: refused before the body is read. Chunked (no length): refused as it passes the limit.
        HttpContent content = chunked ? new StreamContent(new UnknownLengthStream(body)) : new ByteArrayContent(body);
        using var request = new HttpRequestMessage(HttpMethod.Put, "/chunks") { Content = content };
        request.Headers.ExpectContinue = expectContinue;
        using var client = _server.NewClient(TestServer.WriteKey);
        var problem = await Api.ProblemAsync(await client.SendAsync(request), HttpStatusCode.RequestEntityTooLarge);
        Assert.Contains(MaxChunk.ToString(System.Globalization.CultureInfo.InvariantCulture), problem.Detail, StringComparison.Ordinal);

        Assert.Equal(before, _server.Snapshot());
        Assert.DoesNotContain(Api.Hex(body), (await _server.ListAsync()).Select(d => d.ToString()));
    }

    [Fact]
    public async Task Touch_DigestListOverItsLimit_Is413()
    {
        var lease = await _server.Writer.OpenLeaseAsync();
        var digests = Enumerable.Range(0, 20).Select(i => Api.Hex(Api.RandomChunk(8, i)));
        await Api.ProblemAsync(await _server.Writer.PostDigestsAsync($"/sessions/{lease.Id}/touch", digests), HttpStatusCode.RequestEntityTooLarge);
    }

    /// <summary>A stream whose length the client cannot know, so HttpClient sends it chunked.</summary>
    private sealed class UnknownLengthStream(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;
    }
}
