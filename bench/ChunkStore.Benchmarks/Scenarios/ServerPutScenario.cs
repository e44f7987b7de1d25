using System.Net;
using System.Net.Http.Headers;
using ChunkStore.Benchmarks.Harness;
using ChunkStore.Server;
using Microsoft.AspNetCore.Builder;

namespace ChunkStore.Benchmarks.Scenarios;

/// <summary>
/// <c>PUT /chunks</c> of the sample server (<c>samples/ChunkStore.Server</c>, Kestrel on 127.0.0.1, in this process)
/// through <see cref="HttpClient"/> over loopback, against the library's own <see cref="ChunkRepository.InsertAsync"/>
/// of the same chunks at the same parallelism in the same run: what HTTP, the body copy and the server cost on top of
/// the insert. New chunks by default; <paramref name="duplicates"/> puts chunks already stored (hash, lock, touch), where
/// the per-request cost shows most. Both stores use <see cref="SyncMode.None"/>; client and server share the machine.
/// </summary>
internal sealed class ServerPutScenario(int size, int inFlight, bool duplicates = false) : IScenario
{
    public string Name => $"server PUT /chunks {(duplicates ? "duplicate" : "new")} {Chunks.SizeName(size)}, {inFlight} in flight";

    public string Baseline => $"library InsertAsync, {(duplicates ? "duplicate" : "new")} chunks, {inFlight} task(s)";

    public async Task RunAsync(BenchContext context)
    {
        double peak = BenchContext.PeakWorkingSetMiB();
        using var repo = context.CreateStore("server-baseline");
        string serverRoot = Path.Combine(context.NewDirectory("server"), "store");
        var app = ChunkServerApp.Build([
            "--urls", "http://127.0.0.1:0", "--root", serverRoot, "--write-key", "bench", "--ChunkStore:SyncMode", "None",
            "--Logging:LogLevel:Default", "Warning", "--Logging:Console:LogLevel:Default", "None",
        ]);
        await app.StartAsync();
        try
        {
            using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = inFlight }) { BaseAddress = new Uri(app.Urls.First()) };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "bench");
            var serverWritten = NewLists();
            var libraryWritten = NewLists();
            var buffers = Enumerable.Range(0, inFlight)
                .Select(_ => Enumerable.Range(0, duplicates ? InsertDuplicateScenario.PerWorker(size) : 1).Select(_ => Chunks.NewBuffer(size)).ToArray())
                .ToArray();
            if (duplicates)
            {
                foreach (var buffer in buffers.SelectMany(b => b))
                {
                    await repo.InsertAsync(buffer);
                    await PutAsync(client, buffer, expectNew: true);
                }
            }

            // Each worker's next chunk: a fresh one (stamped) for new-chunk runs, the stored ones in turn for duplicates.
            byte[] Next(int worker, long iteration)
            {
                var own = buffers[worker];
                if (duplicates)
                {
                    return own[iteration % own.Length];
                }

                Chunks.Stamp(own[0]);
                return own[0];
            }

            var (f, b) = await Timing.PairAsync(
                context.Repetitions,
                () => Timing.RunTimedAsync(inFlight, context.RepetitionDuration, async (w, i) =>
                {
                    var chunk = Next(w, i);
                    var digest = await PutAsync(client, chunk, expectNew: !duplicates);
                    serverWritten[w].Add(digest);
                    return chunk.Length;
                }),
                () => Timing.RunTimedAsync(inFlight, context.RepetitionDuration, async (w, i) =>
                {
                    var chunk = Next(w, i);
                    var r = await repo.InsertAsync(chunk);
                    if (r.IsNew == duplicates)
                    {
                        throw new InvalidOperationException($"the library reported a {(duplicates ? "stored" : "new")} chunk as {(r.IsNew ? "new" : "a duplicate")}");
                    }

                    libraryWritten[w].Add(r.Digest);
                    return chunk.Length;
                }),
                () =>
                {
                    if (!duplicates)
                    {
                        // New chunks written by the repetition are removed (untimed), as the insert-new scenarios do.
                        RemoveChunks(serverRoot, serverWritten);
                        RemoveChunks(repo.Root, libraryWritten);
                    }

                    return Task.CompletedTask;
                });
            context.Add(BenchContext.Throughput("server PUT", Name, Baseline, f, b,
                notes: $"HTTP/1.1 over 127.0.0.1, one HttpClient with up to {inFlight} connection(s), server in the same process; ratio = PUT / library insert"), peak);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
            BenchContext.DeleteQuietly(Path.GetDirectoryName(serverRoot)!);
            BenchContext.DeleteQuietly(Path.GetDirectoryName(repo.Root)!);
        }
    }

    private static List<ChunkDigest>[] NewLists() => Enumerable.Range(0, 64).Select(_ => new List<ChunkDigest>()).ToArray();

    private static async Task<ChunkDigest> PutAsync(HttpClient client, byte[] chunk, bool expectNew)
    {
        using var response = await client.PutAsync("/chunks", new ByteArrayContent(chunk));
        var expected = expectNew ? HttpStatusCode.Created : HttpStatusCode.OK;
        if (response.StatusCode != expected)
        {
            throw new InvalidOperationException($"PUT /chunks answered {(int)response.StatusCode}, expected {(int)expected}: {await response.Content.ReadAsStringAsync()}");
        }

        // The ETag is the digest: no JSON parsing on the client's side of the measurement.
        return ChunkDigest.Parse(response.Headers.ETag!.Tag.AsSpan(1, ChunkDigest.HexLength));
    }

    /// <summary>Removes written chunk files by the documented layout, <c>&lt;root&gt;/.chunks/&lt;4 hex&gt;/&lt;64 hex&gt;</c>.</summary>
    private static void RemoveChunks(string root, List<ChunkDigest>[] written)
    {
        foreach (var list in written)
        {
            foreach (var digest in list)
            {
                string hex = digest.ToString();
                File.Delete(Path.Combine(root, ".chunks", hex[..4], hex));
            }

            list.Clear();
        }
    }
}
