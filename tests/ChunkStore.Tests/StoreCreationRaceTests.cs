using System.Collections.Concurrent;
using System.Text;
using ChunkStore.Tests.Infrastructure;

namespace ChunkStore.Tests;

/// <summary>
/// Threads racing to create or open one fresh root (issue 19.9; processes: ChunkStore.MultiProcess.Tests'
/// CrossProcessCreateTests): every create-or-open gets the same store, and of racing creates exactly one succeeds.
/// </summary>
public sealed class StoreCreationRaceTests : IDisposable
{
    private const int Rounds = 30;
    private const int Threads = 8;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Runs <paramref name="open"/> on <see cref="Threads"/> threads released together; each that gets a store inserts its own chunk.</summary>
    private static async Task<List<(Exception? Error, ChunkDigest? Chunk)>> RaceAsync(string root, Func<ChunkStoreOptions, ChunkRepository> open)
    {
        using var start = new Barrier(Threads);
        var outcomes = new ConcurrentBag<(Exception?, ChunkDigest?)>();
        var threads = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            start.SignalAndWait();
            try
            {
                using var store = open(new ChunkStoreOptions { Root = root });
                var inserted = store.InsertAsync(Encoding.UTF8.GetBytes($"{root} thread {t}")).AsTask().GetAwaiter().GetResult();
                outcomes.Add((null, inserted.Digest));
            }
            catch (Exception ex)
            {
                outcomes.Add((ex, null));
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        await Task.CompletedTask;
        return [.. outcomes];
    }

    [Fact]
    public async Task OpenOrCreate_ThreadsRacingOnAFreshRoot_EveryCallerGetsTheSameStore()
    {
        for (int round = 0; round < Rounds; round++)
        {
            string root = _dir.Sub("open-or-create-" + round);
            var outcomes = await RaceAsync(root, ChunkRepository.OpenOrCreate);

            Assert.All(outcomes, o => Assert.Null(o.Error));
            await using var store = ChunkRepository.Open(new ChunkStoreOptions { Root = root });
            foreach (var (_, chunk) in outcomes)
            {
                Assert.True(await store.ContainsAsync(chunk!.Value), $"round {round}: a chunk one caller inserted is not in the store the others see");
            }
        }
    }

    [Fact]
    public async Task Create_ThreadsRacingOnAFreshRoot_ExactlyOneSucceedsTheRestGetAlreadyExists()
    {
        for (int round = 0; round < Rounds; round++)
        {
            string root = _dir.Sub("create-" + round);
            var outcomes = await RaceAsync(root, ChunkRepository.Create);

            var created = Assert.Single(outcomes, o => o.Error is null);
            Assert.All(outcomes.Where(o => o.Error is not null), o => Assert.IsType<StoreAlreadyExistsException>(o.Error));
            await using var store = ChunkRepository.Open(new ChunkStoreOptions { Root = root });
            Assert.True(await store.ContainsAsync(created.Chunk!.Value));
        }
    }

    [Fact]
    public async Task Create_OverWhatAKilledCreationLeftBeforeItsIdentityFile_CreatesTheStore_ButNotOverForeignFiles()
    {
        string root = _dir.Sub("interrupted");
        Directory.CreateDirectory(Path.Combine(root, ".chunks"));
        Directory.CreateDirectory(Path.Combine(root, ".writers"));
        File.WriteAllBytes(Path.Combine(root, ".gc.lock"), []);
        File.WriteAllText(Path.Combine(root, ".chunkstore.json.tmp-4242"), "{\"for");

        await using (var store = ChunkRepository.Create(new ChunkStoreOptions { Root = root }))
        {
            await store.InsertAsync(new byte[] { 1 });
        }

        Assert.Empty(Directory.EnumerateFiles(root, ".chunkstore.json.tmp-*"));
        string foreign = _dir.Sub("foreign");
        Directory.CreateDirectory(Path.Combine(foreign, ".chunks"));
        File.WriteAllText(Path.Combine(foreign, ".chunks", "notes.txt"), "not ours");
        Assert.Throws<StoreAlreadyExistsException>(() => ChunkRepository.Create(new ChunkStoreOptions { Root = foreign }));
        Assert.Throws<InvalidStoreException>(() => ChunkRepository.OpenOrCreate(new ChunkStoreOptions { Root = foreign }));
        Assert.Equal("not ours", File.ReadAllText(Path.Combine(foreign, ".chunks", "notes.txt")));
    }
}
