using ChunkStore.Benchmarks.Harness;

namespace ChunkStore.Benchmarks.Scenarios;

/// <summary>Placeholder for the S3 backend's scenarios (added when ChunkStore.S3 is merged).</summary>
internal sealed class S3PlaceholderScenario : IScenario
{
    public const string Message = "S3 scenarios: not available yet (the S3 backend is not merged)";

    public string Name => "S3";

    public string Baseline => "n/a";

    public Task RunAsync(BenchContext context)
    {
        Console.WriteLine(Message);
        context.Report.Notes.Add(Message);
        return Task.CompletedTask;
    }
}
