using System.Collections.Concurrent;
using ChunkStore.Server.Tests.Infrastructure;

namespace ChunkStore.Server.Tests;

/// <summary>Many clients, one store: concurrent PUTs of the same chunks store each chunk exactly once.</summary>
public sealed class ConcurrencyTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task SixteenClients_InsertingOverlappingChunks_StoreEachOnce()
    {
        // 48 distinct chunks (1 KiB to 256 KiB); every client puts 32 of them in its own order, half of them through a
        // lease, so each chunk is raced by about ten clients, over sixteen connections of their own.
        const int Clients = 16, Distinct = 48, PerClient = 32;
        var chunks = Enumerable.Range(0, Distinct).Select(i => Api.RandomChunk(1024 << (i % 9), seed: 1000 + i)).ToArray();
        var results = new ConcurrentBag<PutResult>();
        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int ready = 0;
        var tasks = Enumerable.Range(0, Clients).Select(c => Task.Run(async () =>
        {
            var client = _server.NewClient(TestServer.WriteKey);
            var rng = new Random(c);
            var mine = Enumerable.Range(0, Distinct).OrderBy(_ => rng.Next()).Take(PerClient).ToArray();
            string path = "/chunks";
            if (c % 2 == 1)
            {
                path = $"/sessions/{(await client.OpenLeaseAsync()).Id}/chunks";
            }

            // All start together, without blocking a thread-pool thread each.
            if (Interlocked.Increment(ref ready) == Clients)
            {
                go.SetResult();
            }

            await go.Task;
            foreach (int i in mine)
            {
                results.Add(await client.PutAsync(chunks[i], path));
            }
        })).ToArray();
        await Task.WhenAll(tasks);

        Assert.Equal(Clients * PerClient, results.Count);
        var byDigest = results.GroupBy(r => r.Digest).ToDictionary(g => g.Key, g => g.ToList());
        foreach (var (digest, puts) in byDigest)
        {
            // Exactly one of the racing inserts stored it; every other one found it and touched it.
            Assert.True(puts.Count(p => p.IsNew) == 1, $"{digest}: {puts.Count(p => p.IsNew)} of {puts.Count} PUTs reported new");
        }

        var listed = await _server.ListAsync();
        Assert.Equal(byDigest.Keys.Order(), listed.Select(d => d.ToString()).Order());

        // One file per chunk, with its exact bytes, and nothing else left behind (no temporary files).
        var files = Directory.EnumerateFiles(Path.Combine(_server.Root, ".chunks"), "*", SearchOption.AllDirectories).ToList();
        Assert.Equal(byDigest.Count, files.Count);
        foreach (var chunk in chunks.Where(c => byDigest.ContainsKey(Api.Hex(c))))
        {
            Assert.Equal(chunk, await _server.Reader.GetByteArrayAsync($"/chunks/{Api.Hex(chunk)}"));
        }
    }
}
