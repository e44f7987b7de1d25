using System.Globalization;
using ChunkStore.MultiProcess.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace ChunkStore.MultiProcess.Tests;

/// <summary>
/// Processes racing to create or open one fresh root (issue 19.9; threads: ChunkStore.Tests' StoreCreationRaceTests):
/// every create-or-open gets the same store, and of racing creates exactly one succeeds, the rest get
/// <see cref="StoreAlreadyExistsException"/>.
/// </summary>
public sealed class CrossProcessCreateTests(ITestOutputHelper output) : MultiProcessTestBase
{
    private const int Processes = 4;
    private const int Rounds = 40;

    /// <summary>Starts the racers, releases them together for every round, and returns each round's lines (one per process).</summary>
    private async Task<Dictionary<int, List<string>>> RaceAsync(string mode)
    {
        string baseRoot = Path.Combine(Root, mode);
        var racers = Enumerable.Range(0, Processes).Select(_ => Start("create-race", baseRoot, Rounds.ToString(CultureInfo.InvariantCulture), mode)).ToList();
        foreach (var racer in racers)
        {
            await racer.ExpectAsync("READY", TimeSpan.FromSeconds(60));
        }

        long start = DateTime.UtcNow.AddMilliseconds(500).Ticks;
        foreach (var racer in racers)
        {
            await racer.SendAsync(FormattableString.Invariant($"go {start} 100"));
        }

        foreach (var racer in racers)
        {
            Assert.Equal(0, await racer.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        }

        var rounds = racers.SelectMany(r => r.AllLines).Where(l => l.StartsWith("ROUND ", StringComparison.Ordinal))
            .GroupBy(l => int.Parse(l.Split(' ')[1], CultureInfo.InvariantCulture))
            .ToDictionary(g => g.Key, g => g.ToList());
        Assert.Equal(Rounds, rounds.Count);
        Assert.All(rounds.Values, lines => Assert.Equal(Processes, lines.Count));
        return rounds;
    }

    private static string RoundRoot(string baseRoot, int round) => FormattableString.Invariant($"{baseRoot}-{round}");

    [Fact]
    public async Task OpenOrCreate_ProcessesRacingOnAFreshRoot_EveryCallerGetsTheSameStore()
    {
        var rounds = await RaceAsync("open-or-create");

        int failed = rounds.Count(r => r.Value.Any(l => l.Split(' ')[2] != "OK"));
        output.WriteLine($"{failed} of {Rounds} rounds had a caller that did not get the store");
        foreach (var (round, lines) in rounds.OrderBy(r => r.Key))
        {
            Assert.All(lines, l => Assert.StartsWith(FormattableString.Invariant($"ROUND {round} OK "), l, StringComparison.Ordinal));
            await using var store = ChunkRepository.Open(new ChunkStoreOptions { Root = RoundRoot(Path.Combine(Root, "open-or-create"), round) });
            foreach (string line in lines)
            {
                Assert.True(await store.ContainsAsync(ChunkDigest.Parse(line.Split(' ')[3])), $"round {round}: {line}: that chunk is not in the store the others see");
            }
        }
    }

    [Fact]
    public async Task Create_ProcessesRacingOnAFreshRoot_ExactlyOneSucceedsTheRestGetAlreadyExists()
    {
        var rounds = await RaceAsync("create");

        foreach (var (round, lines) in rounds.OrderBy(r => r.Key))
        {
            string created = Assert.Single(lines, l => l.Split(' ')[2] == "OK");
            Assert.All(lines.Where(l => l != created), l => Assert.Equal(FormattableString.Invariant($"ROUND {round} EXISTS"), l));
            await using var store = ChunkRepository.Open(new ChunkStoreOptions { Root = RoundRoot(Path.Combine(Root, "create"), round) });
            Assert.True(await store.ContainsAsync(ChunkDigest.Parse(created.Split(' ')[3])));
        }
    }
}
