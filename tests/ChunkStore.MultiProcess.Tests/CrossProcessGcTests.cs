using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using ChunkStore.MultiProcess.Tests.Infrastructure;
using ChunkStore.TestHost;
using Xunit;
using Xunit.Abstractions;

namespace ChunkStore.MultiProcess.Tests;

/// <summary>
/// Garbage collection against writers in other processes, and crashes (SIGKILL) of collectors and inserters
/// (DESIGN §4: protection rules; "crash anywhere leaves no partial chunk under a final name, loses no chunk that
/// an Insert reported, and the next GC cleans leftovers").
/// </summary>
public sealed class CrossProcessGcTests(ITestOutputHelper output) : MultiProcessTestBase
{
    [Fact]
    public async Task GcLoopInOtherProcess_KeepsEveryChunkOfLiveWriterInThirdProcess_AndRemovesOldGarbage()
    {
        int seed = Random.Shared.Next(1, int.MaxValue);
        output.WriteLine($"seed {seed}");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        const int Size = 200;
        var digestIndex = Enumerable.Range(0, Size).ToDictionary(i => ChunkDigest.Compute(WorkingSet.Chunk(seed, i)));

        // The writer stores each chunk of its working set once, spread over 6 s, while collections with a 2 s grace
        // run back to back: a chunk stored early is older than the grace long before the last collection, so only
        // the registry entry of the live session (cutoff = its start − 1 s) keeps it. Half the working set is
        // already stored and a day old: the collector wants to remove exactly the chunks the writer is about to
        // deduplicate (touch under the chunk lock vs sweep, race R5, across processes).
        var oldWorkingSet = await PlantAsync(WorkingSetChunks(seed, 0, Size / 2), TimeSpan.FromDays(1));
        var garbage = await PlantAsync(RandomChunks(200), TimeSpan.FromDays(1));
        string report = Path.Combine(Root, "insert-report.txt");
        output.WriteLine($"{clock.ElapsedMilliseconds} ms: planted");

        var inserter = Start("insert-loop", Root, seed.ToString(CultureInfo.InvariantCulture), "6", report, "--size", Size.ToString(CultureInfo.InvariantCulture), "--paced");
        await inserter.ExpectAsync("STARTED");
        var collector = Start("gc", Root, "2", "--loop", "100000", "--seconds", "4.5", "--margin-ms", "1000");
        await collector.ExpectAsync("READY");
        Assert.Equal(0, await collector.WaitForExitAsync());
        var runs = collector.AllLines.Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        output.WriteLine($"{clock.ElapsedMilliseconds} ms: collector exited");

        // The collector is done; only now may the writer end its session.
        await inserter.ExpectAsync("DONE");
        await inserter.SendAsync("end");
        await inserter.ExpectAsync("ENDED");
        Assert.Equal(0, await inserter.WaitForExitAsync());
        output.WriteLine($"{clock.ElapsedMilliseconds} ms: inserter exited");

        long removed = runs.Sum(r => r.GetProperty("removed").GetInt64());
        long skippedBusy = runs.Sum(r => r.GetProperty("skippedBusy").GetInt64());
        var reported = ReadReport(report);
        var stored = reported.Select(r => r.Digest).ToHashSet();
        int oldReported = oldWorkingSet.Count(stored.Contains);
        output.WriteLine($"{runs.Count} collections removed {removed} chunks, skipped {skippedBusy} busy; writer reported {reported.Count} stores of {stored.Count} chunks, {oldReported} of them from the day-old half");
        Assert.True(runs.Count >= 2, $"only {runs.Count} collections ran.\n{collector.Transcript}");
        Assert.True(runs.All(r => r.GetProperty("completed").GetBoolean()));
        Assert.Equal(Size, reported.Count);
        Assert.Equal(Size, stored.Count);

        // Every chunk the writer was told is stored is there and intact.
        foreach (var digest in stored)
        {
            byte[] bytes = await Repo.ReadAsync(digest);
            Assert.Equal(WorkingSet.Chunk(seed, digestIndex[digest]), bytes);
        }

        // The day-old garbage nobody references or touches is gone.
        Assert.All(garbage, d => Assert.False(File.Exists(ChunkPath(d)), $"garbage chunk {d} survived"));
        Assert.True(removed >= garbage.Count, $"removed {removed} < {garbage.Count} garbage chunks");
    }

    [Fact]
    public async Task GcAndInserterKilledAtRandomPoints_NextGcLeavesConsistentStore()
    {
        int seed = Random.Shared.Next(1, int.MaxValue);
        output.WriteLine($"seed {seed}");
        var random = new Random(seed);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var grace = TimeSpan.FromSeconds(60);

        var referenced = await PlantAsync(RandomChunks(200), TimeSpan.FromDays(1));
        string referencedFile = Path.Combine(Root, "referenced.txt");
        await File.WriteAllLinesAsync(referencedFile, referenced.Select(d => d.ToString()));
        var staleTemps = PlantTemporaryFiles(20, TimeSpan.FromDays(1));
        var freshTemps = PlantTemporaryFiles(5, TimeSpan.Zero);
        var garbage = new List<ChunkDigest>();
        string report = Path.Combine(Root, "insert-report.txt");

        for (int round = 0; round < 3; round++)
        {
            int reportedBefore = ReadReport(report).Count;
            garbage.AddRange(await PlantAsync(RandomChunks(600, 1024), TimeSpan.FromDays(1)));
            output.WriteLine($"{clock.ElapsedMilliseconds} ms: round {round} planted");
            var inserter = Start("insert-loop", Root, (seed + round).ToString(CultureInfo.InvariantCulture), "60", report, "--size", "300");
            var collector = Start("gc", Root, "60", "--referenced-file", referencedFile, "--loop", "50", "--margin-ms", "1000");
            await inserter.ExpectAsync("STARTED");
            await collector.ExpectAsync("READY");
            await WaitForReportLinesAsync(report, reportedBefore + 50);
            int delay = random.Next(0, 500);
            await Task.Delay(delay);
            collector.Kill();
            inserter.Kill();
            int finished = collector.AllLines.Count(l => l.StartsWith('{'));
            output.WriteLine($"round {round}: killed the collector {delay} ms after READY, after {finished} finished collections");
        }

        output.WriteLine($"{clock.ElapsedMilliseconds} ms: rounds done");
        var final = await Repo.Maintenance.GarbageCollectAsync(referenced, new GarbageCollectionOptions { GracePeriod = grace, WriterSafetyMargin = TimeSpan.FromSeconds(1) });
        output.WriteLine($"final: removed {final.ChunksRemoved}, temp removed {final.TemporaryFilesRemoved}, dead writers removed {final.DeadWritersRemoved}, in use {final.ChunksInUse}");
        output.WriteLine($"{clock.ElapsedMilliseconds} ms: final GC done");
        Assert.True(final.Completed);
        Assert.Equal(0, final.MissingChunks);
        Assert.Empty(Directory.GetFiles(WritersDirectory));

        // No partial chunk under a final name; no temporary file older than the cutoff; nothing else.
        int chunkFiles = 0;
        foreach (string file in Directory.EnumerateFiles(Repo.Layout.ChunksDirectory, "*", SearchOption.AllDirectories))
        {
            string name = Path.GetFileName(file);
            if (ChunkDigest.TryParse(name, out var digest))
            {
                chunkFiles++;
                Assert.Equal(digest, ChunkDigest.Compute(await File.ReadAllBytesAsync(file)));
            }
            else if (name.Contains(".tmp-", StringComparison.Ordinal))
            {
                var mtime = File.GetLastWriteTimeUtc(file);
                Assert.True(mtime >= final.Cutoff.UtcDateTime, $"temporary file {name} of {mtime:o} is older than the cutoff {final.Cutoff:o}");
            }
            else
            {
                Assert.Fail($"unexpected entry {file}");
            }
        }

        Assert.All(staleTemps, t => Assert.False(File.Exists(t), $"stale temporary file {t} survived"));
        Assert.All(freshTemps, t => Assert.True(File.Exists(t), $"fresh temporary file {t} (maybe a live write) was removed"));
        Assert.All(garbage, d => Assert.False(File.Exists(ChunkPath(d)), $"garbage chunk {d} survived"));
        foreach (var digest in referenced)
        {
            Assert.Equal(digest, ChunkDigest.Compute(await Repo.ReadAsync(digest)));
        }

        // Every chunk a (later killed) inserter was told is stored is still there: it is younger than the grace.
        var stored = ReadReport(report).Select(r => r.Digest).ToHashSet();
        output.WriteLine($"{chunkFiles} chunk files; inserters reported {stored.Count} chunks");
        Assert.NotEmpty(stored);
        Assert.All(stored, d => Assert.True(File.Exists(ChunkPath(d)), $"reported chunk {d} is missing"));
    }

    /// <summary>Creates temporary files as a dead write leaves them (partial content, a name next to the chunk's), aged by mtime.</summary>
    private List<string> PlantTemporaryFiles(int count, TimeSpan age)
    {
        var paths = new List<string>();
        for (int i = 0; i < count; i++)
        {
            string path = ChunkPath(RandomDigest()) + ".tmp-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllBytes(path, RandomNumberGenerator.GetBytes(100));
            File.SetLastWriteTimeUtc(path, DateTime.UtcNow - age);
            File.SetLastAccessTimeUtc(path, DateTime.UtcNow - age);
            paths.Add(path);
        }

        return paths;
    }

    /// <summary>Waits until the inserter has reported <paramref name="count"/> stored chunks in total (so it is busy writing when killed).</summary>
    private static async Task WaitForReportLinesAsync(string report, int count)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (ReadReport(report).Count < count)
        {
            Assert.True(watch.Elapsed < HostProcess.EventTimeout, $"the inserter reported fewer than {count} chunks in {watch.Elapsed.TotalSeconds:F0} s");
            await Task.Delay(10);
        }
    }

    /// <summary>Reads an insert-loop report; a last line cut by SIGKILL is skipped unless its digest is whole.</summary>
    private static List<(ChunkDigest Digest, string Kind)> ReadReport(string path)
    {
        var entries = new List<(ChunkDigest, string)>();
        if (!File.Exists(path))
        {
            return entries;
        }

        foreach (string line in File.ReadAllLines(path))
        {
            string[] parts = line.Split(' ');
            if (parts.Length >= 1 && ChunkDigest.TryParse(parts[0], out var digest))
            {
                entries.Add((digest, parts.Length >= 3 ? parts[2] : "?"));
            }
        }

        return entries;
    }
}
