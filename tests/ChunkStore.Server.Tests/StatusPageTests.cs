using System.Buffers.Binary;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using ChunkStore.Server.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ChunkStore.Server.Tests;

/// <summary>The status page, as a person sees it: rendered by headless Chromium, showing the numbers the API reports.</summary>
public sealed class StatusPageTests(ITestOutputHelper output)
{
    [ChromiumFact]
    public async Task StatusPage_InHeadlessChromium_RendersTheNumbersTheApiReports()
    {
        await using var server = await TestServer.StartAsync(TestServer.ShortGc);
        var w = server.Writer;

        // Two chunks that will be garbage, 12 that an index references, 3 duplicates, 4 in a lease left open.
        var garbage = new[] { Api.RandomChunk(5000, seed: 1), Api.RandomChunk(7000, seed: 2) };
        foreach (var chunk in garbage)
        {
            await w.PutAsync(chunk);
        }

        var referenced = Enumerable.Range(0, 12).Select(i => Api.RandomChunk(1000 * (i + 1), seed: 100 + i)).ToArray();
        foreach (var chunk in referenced)
        {
            await w.PutAsync(chunk);
        }

        for (int i = 0; i < 3; i++)
        {
            Assert.False((await w.PutAsync(referenced[i])).IsNew);
        }

        await Task.Delay(1200);
        var lease = await w.OpenLeaseAsync();
        var leased = Enumerable.Range(0, 4).Select(i => Api.RandomChunk(2048 + i, seed: 200 + i)).ToArray();
        foreach (var chunk in leased)
        {
            await w.PutAsync(chunk, $"/sessions/{lease.Id}/chunks");
        }

        // A failed collection (a malformed list) is a recent error; the good one after it is the last result.
        Assert.Equal(HttpStatusCode.BadRequest, (await w.PostDigestsAsync("/admin/gc", ["nonsense"])).StatusCode);
        var gc = await w.GcAsync(referenced.Select(Api.Hex));
        Assert.Equal(2, gc.ChunksRemoved);
        Assert.Equal(HttpStatusCode.OK, (await w.PostAsync("/admin/verify", null)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await w.PostAsync("/admin/statistics", null)).StatusCode);

        var api = JsonDocument.Parse(await server.Anonymous.GetStringAsync("/status.json")).RootElement;
        var page = new Uri(server.Address, "/status");
        string dom = await Chromium.DumpDomAsync(page);
        var shown = Regex.Matches(dom, "id=\"([a-z-]+)\" data-value=\"(-?[0-9]+)\"").ToDictionary(m => m.Groups[1].Value, m => long.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));

        // Every figure the page shows is the API's ...
        var pairs = new (string Id, long Api)[]
        {
            ("size-chunks", api.GetProperty("size").GetProperty("chunks").GetInt64()),
            ("size-bytes", api.GetProperty("size").GetProperty("bytes").GetInt64()),
            ("traffic-new", api.GetProperty("traffic").GetProperty("newChunks").GetInt64()),
            ("traffic-duplicate", api.GetProperty("traffic").GetProperty("duplicateChunks").GetInt64()),
            ("traffic-new-bytes", api.GetProperty("traffic").GetProperty("newBytes").GetInt64()),
            ("leases-active", api.GetProperty("leases").GetProperty("active").GetInt64()),
            ("gc-removed", api.GetProperty("lastGc").GetProperty("chunksRemoved").GetInt64()),
            ("gc-removed-bytes", api.GetProperty("lastGc").GetProperty("bytesRemoved").GetInt64()),
            ("gc-marked", api.GetProperty("lastGc").GetProperty("chunksMarked").GetInt64()),
            ("gc-in-use", api.GetProperty("lastGc").GetProperty("chunksInUse").GetInt64()),
            ("verify-checked", api.GetProperty("lastVerify").GetProperty("result").GetProperty("checked").GetInt64()),
            ("verify-ok", api.GetProperty("lastVerify").GetProperty("result").GetProperty("ok").GetInt64()),
            ("verify-bytes", api.GetProperty("lastVerify").GetProperty("result").GetProperty("bytesVerified").GetInt64()),
            ("errors-total", api.GetProperty("errorsLogged").GetInt64()),
        };
        foreach (var (id, value) in pairs)
        {
            Assert.True(shown.TryGetValue(id, out long onPage), $"the page shows no #{id}");
            Assert.True(value == onPage, $"#{id}: page {onPage}, API {value}");
        }

        // ... and the API's are the truth: 12 referenced + 4 leased chunks stored, with their bytes.
        long storedBytes = referenced.Concat(leased).Sum(c => (long)c.Length);
        Assert.Equal(16, shown["size-chunks"]);
        Assert.Equal(storedBytes, shown["size-bytes"]);
        Assert.Equal(18, shown["traffic-new"]);
        Assert.Equal(3, shown["traffic-duplicate"]);
        Assert.Equal(1, shown["leases-active"]);
        Assert.Equal(2, shown["gc-removed"]);
        Assert.Equal(12000, shown["gc-removed-bytes"]);
        Assert.Equal(12, shown["gc-marked"]);
        Assert.Equal((16, 16, storedBytes), (shown["verify-checked"], shown["verify-ok"], shown["verify-bytes"]));
        Assert.True(shown["errors-total"] >= 1);

        // The visible text matches (what a person reads), and the failed collection is among the recent errors.
        Assert.Matches("id=\"size-chunks\" data-value=\"16\">16<", dom);
        Assert.Contains(FormattableString.Invariant($"({storedBytes:N0} B)"), dom, StringComparison.Ordinal);
        Assert.Matches("<td>3201</td>", dom);
        Assert.Contains("is not a digest", dom, StringComparison.Ordinal);

        // A screenshot for the test output: its path is printed; look at it.
        string png = Path.Combine(AppContext.BaseDirectory, "screenshots", "status-page.png");
        await Chromium.ScreenshotAsync(page, png);
        var header = File.ReadAllBytes(png).AsSpan(0, 24).ToArray();
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0d, 0x0a, 0x1a, 0x0a }, header[..8]);
        Assert.Equal((1200, 900), (BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(20))));
        Assert.True(new FileInfo(png).Length > 20_000, "a blank page compresses to far less");
        output.WriteLine($"status page screenshot: {png}");
        Console.WriteLine($"status page screenshot: {png}");
    }
}
