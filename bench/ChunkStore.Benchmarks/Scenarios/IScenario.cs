using ChunkStore.Benchmarks.Harness;

namespace ChunkStore.Benchmarks.Scenarios;

/// <summary>
/// One benchmark scenario. <see cref="RunAsync"/> measures the figure and its baseline in the same run, at the same
/// parallelism (usually with <see cref="Timing.PairAsync"/>), and adds rows to the report. To add a scenario, write a
/// small class and add it to the list in <c>Program.cs</c>.
/// </summary>
internal interface IScenario
{
    /// <summary>Gets the short name printed while running.</summary>
    string Name { get; }

    /// <summary>Gets what the figure is compared with.</summary>
    string Baseline { get; }

    Task RunAsync(BenchContext context);
}

/// <summary>A scenario from a name, a baseline description and a function (for one-off scenarios).</summary>
internal sealed class DelegateScenario(string name, string baseline, Func<BenchContext, Task> run) : IScenario
{
    public string Name => name;

    public string Baseline => baseline;

    public Task RunAsync(BenchContext context) => run(context);
}
