using System.Net;
using System.Net.Http.Headers;
using ChunkStore.Server.Tests.Infrastructure;

namespace ChunkStore.Server.Tests;

/// <summary>API keys: writes and administration need a write key (401 without a known key, 403 with a read-only one); reads take either.</summary>
public sealed class AuthTests : IAsyncLifetime
{
    private TestServer _server = null!;
    private byte[] _stored = null!;

    public async Task InitializeAsync()
    {
        _server = await TestServer.StartAsync(TestServer.ShortGc);
        _stored = Api.RandomChunk(2000, seed: 1);
        await _server.Writer.PutAsync(_stored);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    public static TheoryData<string, string> WriteRequests => new()
    {
        { "PUT", "/chunks" },
        { "POST", "/sessions" },
        { "POST", "/admin/gc?count=0" },
        { "POST", "/admin/verify" },
        { "POST", "/admin/statistics" },
    };

    [Theory]
    [MemberData(nameof(WriteRequests))]
    public async Task WriteOrAdmin_WithoutKeyOrWithUnknownKey_Is401AndChangesNothing(string method, string path)
    {
        await AgeForGcAsync(path);
        var before = _server.Snapshot();
        foreach (var client in new[] { _server.Anonymous, _server.NewClient("not-a-key") })
        {
            var response = await Send(client, method, path);
            await Api.ProblemAsync(response, HttpStatusCode.Unauthorized);
            Assert.Contains(response.Headers.WwwAuthenticate, h => h.Scheme == "Bearer");
        }

        Assert.Equal(before, _server.Snapshot());
    }

    [Theory]
    [MemberData(nameof(WriteRequests))]
    public async Task WriteOrAdmin_WithReadOnlyKey_Is403AndChangesNothing(string method, string path)
    {
        await AgeForGcAsync(path);
        var before = _server.Snapshot();
        await Api.ProblemAsync(await Send(_server.Reader, method, path), HttpStatusCode.Forbidden);
        Assert.Equal(before, _server.Snapshot());
        Assert.Contains(new ChunkDigest(System.Security.Cryptography.SHA256.HashData(_stored)), await _server.ListAsync());
    }

    [Fact]
    public async Task Read_WithoutKey_Is401_WithReadOrWriteKey_Succeeds()
    {
        string path = $"/chunks/{Api.Hex(_stored)}";
        await Api.ProblemAsync(await _server.Anonymous.GetAsync(path), HttpStatusCode.Unauthorized);
        Assert.Equal(_stored, await _server.Reader.GetByteArrayAsync(path));
        Assert.Equal(_stored, await _server.Writer.GetByteArrayAsync(path));

        using var header = _server.NewClient(null);
        header.DefaultRequestHeaders.Add("X-Api-Key", TestServer.ReadKey);
        Assert.Equal(_stored, await header.GetByteArrayAsync(path));
    }

    [Fact]
    public async Task StatusHealthAndMetrics_ArePublicByDefault()
    {
        Assert.Equal(HttpStatusCode.OK, (await _server.Anonymous.GetAsync("/status")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _server.Anonymous.GetAsync("/status.json")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _server.Anonymous.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _server.Anonymous.GetAsync("/metrics")).StatusCode);
    }

    /// <summary>Before a refused GC: lets the stored chunk age past the 1 s grace period, so a GC that did run would remove it.</summary>
    private static Task AgeForGcAsync(string path) => path.Contains("/gc", StringComparison.Ordinal) ? Task.Delay(1100) : Task.CompletedTask;

    private Task<HttpResponseMessage> Send(HttpClient client, string method, string path)
    {
        var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (method == "PUT")
        {
            request.Content = new ByteArrayContent(Api.RandomChunk(500, seed: 99));
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        }

        return client.SendAsync(request);
    }
}
