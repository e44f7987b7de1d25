using System.Net;
using System.Net.Http.Headers;
using ChunkStore.Server.Tests.Infrastructure;

namespace ChunkStore.Server.Tests;

/// <summary>PUT, GET and HEAD of chunks over a real connection: bytes, digests, ETags, ranges and the errors.</summary>
public sealed class ChunkEndpointTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync(("ChunkStore:MaxChunkSize", "2097152"));

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task PutThenGet_RandomChunks_RoundTripUnderTheirSha256()
    {
        int[] sizes = [1, 2, 1000, 65536, 1_000_003, 2 * 1024 * 1024];
        var chunks = sizes.Select((size, i) => Api.RandomChunk(size, seed: 100 + i)).ToList();
        foreach (var chunk in chunks)
        {
            var put = await _server.Writer.PutAsync(chunk);
            Assert.Equal(Api.Hex(chunk), put.Digest);
            Assert.True(put.IsNew);
            Assert.Equal(chunk.Length, put.Size);
        }

        foreach (var chunk in chunks)
        {
            using var response = await _server.Reader.GetAsync($"/chunks/{Api.Hex(chunk)}");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal($"\"{Api.Hex(chunk)}\"", response.Headers.ETag?.Tag);
            Assert.Equal("application/octet-stream", response.Content.Headers.ContentType?.MediaType);
            Assert.Equal(chunk, await response.Content.ReadAsByteArrayAsync());
        }

        // The same bytes again: duplicates (200, isNew false), and the store holds each chunk once.
        var again = await _server.Writer.PutAsync(chunks[2]);
        Assert.False(again.IsNew);
        Assert.Equal(chunks.Select(Api.Hex).Order(), (await _server.ListAsync()).Select(d => d.ToString()).Order());
    }

    [Fact]
    public async Task Get_MissingChunk_Is404ProblemAndStoresNothing()
    {
        await _server.Writer.PutAsync(Api.RandomChunk(100, seed: 1));
        var before = _server.Snapshot();
        string missing = Api.Hex(Api.RandomChunk(100, seed: 2));

        var problem = await Api.ProblemAsync(await _server.Reader.GetAsync($"/chunks/{missing}"), HttpStatusCode.NotFound);
        Assert.Equal(missing, problem.Digest);
        using var head = new HttpRequestMessage(HttpMethod.Head, $"/chunks/{missing}");
        Assert.Equal(HttpStatusCode.NotFound, (await _server.Reader.SendAsync(head)).StatusCode);

        Assert.Equal(before, _server.Snapshot());
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("zz24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")]
    [InlineData("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b98240")]
    [InlineData("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b982")]
    public async Task GetHeadVerify_MalformedDigest_Is400ProblemAndChangesNothing(string digest)
    {
        await _server.Writer.PutAsync(Api.RandomChunk(100, seed: 3));
        var before = _server.Snapshot();

        var problem = await Api.ProblemAsync(await _server.Reader.GetAsync($"/chunks/{digest}"), HttpStatusCode.BadRequest);
        Assert.Equal("Malformed digest", problem.Title);
        using var head = new HttpRequestMessage(HttpMethod.Head, $"/chunks/{digest}");
        Assert.Equal(HttpStatusCode.BadRequest, (await _server.Reader.SendAsync(head)).StatusCode);
        await Api.ProblemAsync(await _server.Writer.PostAsync($"/admin/verify/{digest}", null), HttpStatusCode.BadRequest);

        Assert.Equal(before, _server.Snapshot());
    }

    [Fact]
    public async Task Head_StoredChunk_Is200WithTheDigestETagAndNoBody()
    {
        var chunk = Api.RandomChunk(5000, seed: 4);
        await _server.Writer.PutAsync(chunk);
        using var head = new HttpRequestMessage(HttpMethod.Head, $"/chunks/{Api.Hex(chunk).ToUpperInvariant()}");
        using var response = await _server.Reader.SendAsync(head);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal($"\"{Api.Hex(chunk)}\"", response.Headers.ETag?.Tag);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Get_Ranges_AnswerPartialContentOfTheVerifiedChunk()
    {
        var chunk = Api.RandomChunk(100_000, seed: 5);
        await _server.Writer.PutAsync(chunk);
        string path = $"/chunks/{Api.Hex(chunk)}";

        async Task<HttpResponseMessage> Range(long? from, long? to)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.Range = new RangeHeaderValue(from, to);
            return await _server.Reader.SendAsync(request);
        }

        using (var middle = await Range(1000, 1999))
        {
            Assert.Equal(HttpStatusCode.PartialContent, middle.StatusCode);
            Assert.Equal("bytes 1000-1999/100000", middle.Content.Headers.ContentRange?.ToString());
            Assert.Equal(chunk.AsSpan(1000, 1000).ToArray(), await middle.Content.ReadAsByteArrayAsync());
        }

        using (var suffix = await Range(null, 10))
        {
            Assert.Equal(HttpStatusCode.PartialContent, suffix.StatusCode);
            Assert.Equal(chunk.AsSpan(chunk.Length - 10).ToArray(), await suffix.Content.ReadAsByteArrayAsync());
        }

        using (var beyond = await Range(200_000, 300_000))
        {
            Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, beyond.StatusCode);
        }
    }

    [Fact]
    public async Task Get_IfNoneMatchTheDigest_Is304WhileStoredAnd404OnceGone()
    {
        var chunk = Api.RandomChunk(3000, seed: 6);
        await _server.Writer.PutAsync(chunk);
        string path = $"/chunks/{Api.Hex(chunk)}";
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.IfNoneMatch.Add(new EntityTagHeaderValue($"\"{Api.Hex(chunk)}\""));
        using var response = await _server.Reader.SendAsync(request);
        Assert.Equal(HttpStatusCode.NotModified, response.StatusCode);

        string other = Api.Hex(Api.RandomChunk(3000, seed: 7));
        using var missing = new HttpRequestMessage(HttpMethod.Get, $"/chunks/{other}");
        missing.Headers.IfNoneMatch.Add(new EntityTagHeaderValue($"\"{other}\""));
        Assert.Equal(HttpStatusCode.NotFound, (await _server.Reader.SendAsync(missing)).StatusCode);
    }

    [Fact]
    public async Task Put_EmptyBody_Is400AndStoresNothing()
    {
        var before = _server.Snapshot();
        var problem = await Api.ProblemAsync(await _server.Writer.PutAsync("/chunks", new ByteArrayContent([])), HttpStatusCode.BadRequest);
        Assert.Contains("empty", problem.Detail, StringComparison.Ordinal);
        Assert.Equal(before, _server.Snapshot());
    }

    [Fact]
    public async Task Get_CorruptStoredChunk_Is500AndNeverSendsTheBytes()
    {
        var chunk = Api.RandomChunk(4096, seed: 8);
        await _server.Writer.PutAsync(chunk);
        string hex = Api.Hex(chunk);

        _server.CorruptChunkFile(hex, offset: 100);

        using var response = await _server.Reader.GetAsync($"/chunks/{hex}");
        var problem = await Api.ProblemAsync(response, HttpStatusCode.InternalServerError);
        Assert.Equal("The stored chunk is corrupt", problem.Title);
        Assert.Equal(hex, problem.Digest);
    }
}
