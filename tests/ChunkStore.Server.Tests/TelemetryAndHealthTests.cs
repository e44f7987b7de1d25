using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using ChunkStore.Server.Tests.Infrastructure;

namespace ChunkStore.Server.Tests;

/// <summary>The Prometheus scrape carries the library's and the server's instruments; the health checks report store and GC.</summary>
public sealed class TelemetryAndHealthTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Metrics_AfterInsertsAndALease_ShowTheLibraryAndServerInstruments()
    {
        for (int i = 0; i < 3; i++)
        {
            await _server.Writer.PutAsync(Api.RandomChunk(1000, seed: i));
        }

        await _server.Writer.PutAsync(Api.RandomChunk(1000, seed: 0));
        await _server.Writer.PutAsync(Api.RandomChunk(1000, seed: 1));
        await _server.Writer.OpenLeaseAsync();

        // The exporter caches a scrape for a moment: ask until the figures are in.
        string text = "";
        for (int attempt = 0; attempt < 50; attempt++)
        {
            text = await _server.Anonymous.GetStringAsync("/metrics");
            if (Value(text, "chunkstore_inserts_total", "chunkstore_result=\"duplicate\"") == 2 && Value(text, "chunkstore_server_leases_active", "") == 1)
            {
                break;
            }

            await Task.Delay(200);
        }

        Assert.Equal(3, Value(text, "chunkstore_inserts_total", "chunkstore_result=\"new\""));
        Assert.Equal(2, Value(text, "chunkstore_inserts_total", "chunkstore_result=\"duplicate\""));
        Assert.Equal(3000, Value(text, "chunkstore_inserted_bytes_total", "chunkstore_result=\"new\""));
        Assert.Equal(1, Value(text, "chunkstore_server_leases_active", ""));
        Assert.Contains("http_server_request_duration_seconds", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Health_OpenStore_IsHealthy_RootGone_IsUnhealthy503()
    {
        using (var ok = await _server.Anonymous.GetAsync("/healthz"))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
            var report = JsonDocument.Parse(await ok.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal("Healthy", report.GetProperty("status").GetString());
            Assert.Equal("Healthy", report.GetProperty("checks").GetProperty("store").GetProperty("status").GetString());
            Assert.Equal("Healthy", report.GetProperty("checks").GetProperty("gc").GetProperty("status").GetString());
            Assert.False(report.GetProperty("checks").TryGetProperty("s3", out _), "no S3 check on a filesystem store");
        }

        Directory.Delete(_server.Root, recursive: true);
        using var gone = await _server.Anonymous.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, gone.StatusCode);
        var store = JsonDocument.Parse(await gone.Content.ReadAsStringAsync()).RootElement.GetProperty("checks").GetProperty("store");
        Assert.Equal("Unhealthy", store.GetProperty("status").GetString());
    }

    /// <summary>The value of one sample line of a Prometheus text scrape (its labels must contain <paramref name="label"/>).</summary>
    private static double? Value(string scrape, string name, string label)
    {
        foreach (Match m in Regex.Matches(scrape, "^" + Regex.Escape(name) + @"\{([^}]*)\} (\S+)", RegexOptions.Multiline))
        {
            if (m.Groups[1].Value.Contains(label, StringComparison.Ordinal))
            {
                return double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
            }
        }

        return null;
    }
}
