using System.Collections.Concurrent;
using System.Net;
using System.Text;
using ChunkStore.Server.Tests.Infrastructure;

namespace ChunkStore.Server.Tests;

/// <summary>Garbage collection over the API: a streamed referenced set, dry runs, refusals, and collections while clients write through leases.</summary>
public sealed class GcTests
{
    [Fact]
    public async Task Gc_WhileClientsWriteThroughLeases_KeepsEveryChunkOfAnOpenSession()
    {
        await using var server = await TestServer.StartAsync(TestServer.ShortGc);

        // Garbage older than the grace period: 24 chunks stored outside any session, and 6 of a session already closed.
        var old = Enumerable.Range(0, 24).Select(i => Api.RandomChunk(512 + i, seed: 10_000 + i)).ToArray();
        foreach (var chunk in old)
        {
            await server.Writer.PutAsync(chunk);
        }

        var closed = await server.Writer.OpenLeaseAsync();
        var closedChunks = Enumerable.Range(0, 6).Select(i => Api.RandomChunk(700, seed: 20_000 + i)).ToArray();
        foreach (var chunk in closedChunks)
        {
            await server.Writer.PutAsync(chunk, $"/sessions/{closed.Id}/chunks");
        }

        Assert.Equal(HttpStatusCode.NoContent, (await server.Writer.DeleteAsync($"/sessions/{closed.Id}")).StatusCode);
        await Task.Delay(1500);

        // Four writers, each in its own open lease: new chunks, re-inserts of old ones (deduplicated, so only touched)
        // and touches of old ones. Every digest a writer got an answer for is recorded.
        var acknowledged = new ConcurrentDictionary<string, byte[]>();
        using var stop = new CancellationTokenSource();
        var writers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            var client = server.NewClient(TestServer.WriteKey);
            var lease = await client.OpenLeaseAsync();
            int n = 0;
            while (!stop.IsCancellationRequested)
            {
                var chunk = n % 3 == 1 ? old[(w * 5 + n) % 12] : Api.RandomChunk(1000 + n, seed: (w * 100_000) + n);
                if (n % 3 == 2)
                {
                    var touch = await Api.ReadAsync<TouchResult>(await client.PostDigestsAsync($"/sessions/{lease.Id}/touch", [Api.Hex(old[12 + w])]));
                    if (touch.Touched == 1)
                    {
                        acknowledged[Api.Hex(old[12 + w])] = old[12 + w];
                    }
                }
                else
                {
                    var put = await client.PutAsync(chunk, $"/sessions/{lease.Id}/chunks");
                    acknowledged[put.Digest] = chunk;
                }

                n++;
            }

            return lease;
        })).ToArray();

        var results = new List<GarbageCollectionResult>();
        for (int round = 0; round < 3; round++)
        {
            await Task.Delay(400);
            results.Add(await server.Writer.GcAsync([], "?count=0"));
        }

        await stop.CancelAsync();
        var leases = await Task.WhenAll(writers);

        // Every chunk a writer was answered for in its open lease is there, with its bytes.
        var stored = await server.ListAsync();
        Assert.True(acknowledged.Count > 20, $"the writers wrote only {acknowledged.Count} chunks");
        foreach (var (digest, bytes) in acknowledged)
        {
            Assert.True(stored.Contains(ChunkDigest.Parse(digest)), $"chunk {digest} of an open lease was collected");
            Assert.Equal(bytes, await server.Reader.GetByteArrayAsync($"/chunks/{digest}"));
        }

        Assert.Equal(acknowledged.Keys.Order(), stored.Select(d => d.ToString()).Order());

        // The collections did run and remove: the closed session's chunks, and the old ones no open lease touched.
        Assert.All(results, r => Assert.True(r.Completed));
        var untouched = old.Concat(closedChunks).Select(Api.Hex).Where(d => !acknowledged.ContainsKey(d)).ToList();
        Assert.NotEmpty(untouched);
        Assert.True(results.Sum(r => r.ChunksRemoved) >= untouched.Count);
        Assert.True(results[0].OldestWriter <= leases.Min(l => l.StartedAt), "the open leases held the cutoff");

        // Once the leases are closed and the grace period passed, the same chunks are garbage: the leases were what kept them.
        foreach (var lease in leases)
        {
            Assert.Equal(HttpStatusCode.NoContent, (await server.Writer.DeleteAsync($"/sessions/{lease.Id}")).StatusCode);
        }

        await Task.Delay(1200);
        var final = await server.Writer.GcAsync([], "?count=0");
        Assert.Equal(acknowledged.Count, final.ChunksRemoved);
        Assert.Empty(await server.ListAsync());
    }

    [Fact]
    public async Task Gc_ReferencedDigestsInTheBody_KeepsThemAndRemovesTheRest()
    {
        await using var server = await TestServer.StartAsync(TestServer.ShortGc);
        var puts = new List<PutResult>();
        for (int i = 0; i < 5; i++)
        {
            puts.Add(await server.Writer.PutAsync(Api.RandomChunk(300, seed: i)));
        }

        await Task.Delay(1200);
        string missing = Api.Hex(Api.RandomChunk(300, seed: 99));
        var referenced = new[] { puts[0].Digest, puts[1].Digest, puts[1].Digest.ToUpperInvariant(), missing };
        var gc = await server.Writer.GcAsync(referenced, "?count=4");

        Assert.Equal(4, gc.ReferencesRead);
        Assert.Equal(2, gc.ChunksMarked);
        Assert.Equal(1, gc.MissingChunks);
        Assert.Equal(3, gc.ChunksRemoved);
        Assert.Equal(new[] { puts[0].Digest, puts[1].Digest }.Order(), (await server.ListAsync()).Select(d => d.ToString()).Order());
    }

    [Fact]
    public async Task Gc_DryRun_ReportsWhatWouldGoAndRemovesNothing()
    {
        await using var server = await TestServer.StartAsync(TestServer.ShortGc);
        for (int i = 0; i < 3; i++)
        {
            await server.Writer.PutAsync(Api.RandomChunk(100, seed: i));
        }

        await Task.Delay(1200);
        using var response = await server.Writer.PostAsync("/admin/gc?dryRun=true", null);
        var gc = await Api.ReadAsync<GarbageCollectionResult>(response);
        Assert.True(gc.DryRun);
        Assert.Equal(3, gc.ChunksRemoved);
        Assert.Equal(3, (await server.ListAsync()).Count);
    }

    [Theory]
    [InlineData("?count=1", "not-a-digest")]
    [InlineData("?count=3", null)]
    public async Task Gc_MalformedOrShortDigestList_Is400AndRemovesNothing(string query, string? badLine)
    {
        await using var server = await TestServer.StartAsync(TestServer.ShortGc);
        var put = await server.Writer.PutAsync(Api.RandomChunk(100, seed: 1));
        await server.Writer.PutAsync(Api.RandomChunk(100, seed: 2));
        await Task.Delay(1200);
        var before = (await server.ListAsync()).Order().ToList();

        var lines = badLine is null ? new[] { put.Digest } : new[] { put.Digest, badLine };
        var problem = await Api.ProblemAsync(await server.Writer.PostDigestsAsync("/admin/gc" + query, lines), HttpStatusCode.BadRequest);
        Assert.Equal("The digest list is malformed", problem.Title);
        Assert.Equal(before, (await server.ListAsync()).Order().ToList());

        // The aborted collection is the last one: the health check says so.
        var health = await Api.ReadAsync<System.Text.Json.JsonElement>(await server.Anonymous.GetAsync("/healthz"));
        Assert.Equal("Degraded", health.GetProperty("checks").GetProperty("gc").GetProperty("status").GetString());
    }

    [Fact]
    public async Task Gc_WithNoBodyAndNoCount_Is400AndRemovesNothing()
    {
        await using var server = await TestServer.StartAsync(TestServer.ShortGc);
        await server.Writer.PutAsync(Api.RandomChunk(100, seed: 1));
        await Task.Delay(1200);
        var before = server.Snapshot();
        await Api.ProblemAsync(await server.Writer.PostAsync("/admin/gc", null), HttpStatusCode.BadRequest);
        Assert.Equal(before, server.Snapshot());
    }

    [Fact]
    public async Task Gc_WhileAnotherReadsItsStreamedBody_Is409_AndACancelledOneRemovesNothing()
    {
        await using var server = await TestServer.StartAsync(TestServer.ShortGc);
        var put = await server.Writer.PutAsync(Api.RandomChunk(100, seed: 1));
        await server.Writer.PutAsync(Api.RandomChunk(100, seed: 2));
        await Task.Delay(1200);

        // A collection whose referenced list is still arriving holds the store's single-GC lock.
        var body = new SlowDigestList(put.Digest);
        using var cancel = new CancellationTokenSource();
        var first = server.Writer.PostAsync("/admin/gc", body, cancel.Token);
        await body.FirstLineSent.WaitAsync(TimeSpan.FromSeconds(30));
        await Task.Delay(300);
        var problem = await Api.ProblemAsync(await server.Writer.PostAsync("/admin/gc?count=0", null), HttpStatusCode.Conflict);
        Assert.Contains("already running", problem.Title, StringComparison.Ordinal);

        // The client gives up mid-list: the collection stops in its mark phase, before its sweep.
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);
        await WaitForAsync(() => File.Exists(Path.Combine(server.Root, ".gc-status")) && !File.ReadAllText(Path.Combine(server.Root, ".gc-status")).Contains("\"Completed\": true", StringComparison.Ordinal));
        Assert.Equal(2, (await server.ListAsync()).Count);

        // The lock is free again.
        Assert.Equal(1, (await server.Writer.GcAsync([put.Digest], "?count=1")).ChunksRemoved);
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        for (int i = 0; i < 300 && !condition(); i++)
        {
            await Task.Delay(100);
        }

        Assert.True(condition());
    }

    /// <summary>A request body that sends one digest line and then waits until the request is cancelled.</summary>
    private sealed class SlowDigestList(string digest) : HttpContent
    {
        private readonly TaskCompletionSource _sent = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task FirstLineSent => _sent.Task;

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes(digest + "\n"), cancellationToken);
            await stream.FlushAsync(cancellationToken);
            _sent.TrySetResult();
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
