using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using ChunkStore.Server.Http;

namespace ChunkStore.Server.Tests.Infrastructure;

/// <summary>The answer of a chunk PUT.</summary>
public sealed record PutResult(string Digest, bool IsNew, long Size);

/// <summary>A lease as the API shows it.</summary>
public sealed record LeaseState(string Id, DateTimeOffset StartedAt, DateTimeOffset ExpiresAt, DateTimeOffset Deadline, double TtlSeconds, bool Completed, long Chunks, long NewChunks, long Bytes);

/// <summary>The answer of a touch through a lease.</summary>
public sealed record TouchResult(long Touched, List<string> Missing);

/// <summary>A Problem Details body (with the extensions the server adds).</summary>
public sealed record Problem(int Status, string Title, string Detail, string? Reason, string? Digest);

/// <summary>Typed calls of the server's API over a real <see cref="HttpClient"/>.</summary>
public static class Api
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter(), new ChunkDigestJsonConverter() },
    };

    public static byte[] RandomChunk(int size, int seed)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static string Hex(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    public static async Task<PutResult> PutAsync(this HttpClient client, byte[] data, string path = "/chunks")
    {
        using var response = await client.PutAsync(path, new ByteArrayContent(data));
        Assert.True(response.IsSuccessStatusCode, $"PUT {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        var result = await ReadAsync<PutResult>(response);
        Assert.Equal(result.IsNew ? HttpStatusCode.Created : HttpStatusCode.OK, response.StatusCode);
        return result;
    }

    public static async Task<LeaseState> OpenLeaseAsync(this HttpClient client)
    {
        using var response = await client.PostAsync("/sessions", null);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return await ReadAsync<LeaseState>(response);
    }

    /// <summary>POSTs a digest list (one per line) and returns the answer.</summary>
    public static Task<HttpResponseMessage> PostDigestsAsync(this HttpClient client, string path, IEnumerable<string> digests) =>
        client.PostAsync(path, new StringContent(string.Concat(digests.Select(d => d + "\n")), Encoding.ASCII, "text/plain"));

    public static async Task<GarbageCollectionResult> GcAsync(this HttpClient client, IEnumerable<string> referenced, string query = "")
    {
        using var response = await client.PostDigestsAsync("/admin/gc" + query, referenced);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"gc: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return await ReadAsync<GarbageCollectionResult>(response);
    }

    public static async Task<Problem> ProblemAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"expected {(int)expected}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonSerializer.Deserialize<Problem>(body, Json);
        Assert.NotNull(problem);
        Assert.Equal((int)expected, problem.Status);
        return problem;
    }

    public static async Task<T> ReadAsync<T>(HttpResponseMessage response)
    {
        var value = await response.Content.ReadFromJsonAsync<T>(Json);
        Assert.NotNull(value);
        return value;
    }
}
