using System.Diagnostics;

namespace ChunkStore.Benchmarks.Harness;

/// <summary>Settings and shared helpers of one benchmark run.</summary>
internal sealed class BenchContext
{
    private int _dirCounter;

    public required string Mode { get; init; }

    public bool Full => Mode == "full";

    /// <summary>The root under which every store and raw directory of this run lives (removed at the end).</summary>
    public required string Directory { get; init; }

    /// <summary>Timed repetitions per series (after one warm-up run).</summary>
    public required int Repetitions { get; init; }

    /// <summary>Length of one timed repetition of a loop scenario.</summary>
    public required TimeSpan RepetitionDuration { get; init; }

    public required Report Report { get; init; }

    public bool S3 { get; init; }

    public string NewDirectory(string name)
    {
        string path = Path.Combine(Directory, $"{Interlocked.Increment(ref _dirCounter):D3}-{name}");
        System.IO.Directory.CreateDirectory(path);
        return path;
    }

    public ChunkRepository CreateStore(string name, SyncMode syncMode = SyncMode.None) =>
        ChunkRepository.Create(new ChunkStoreOptions { Root = Path.Combine(NewDirectory(name), "store"), SyncMode = syncMode });

    public static void DeleteQuietly(string dir)
    {
        try
        {
            System.IO.Directory.Delete(dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    public static double PeakWorkingSetMiB()
    {
        using var p = Process.GetCurrentProcess();
        return p.PeakWorkingSet64 / 1048576.0;
    }

    public static double WorkingSetMiB()
    {
        using var p = Process.GetCurrentProcess();
        return p.WorkingSet64 / 1048576.0;
    }

    /// <summary>Adds rows a scenario produced, stamping them with the process peak working set and its growth.</summary>
    public void Add(ResultRow row, double peakBefore)
    {
        double peak = PeakWorkingSetMiB();
        row.PeakWorkingSetMiB = peak;
        row.PeakWorkingSetGrowthMiB = peak - peakBefore;
        Report.Rows.Add(row);
        Console.Error.WriteLine($"  {row.Scenario}: {Report.Fmt(row.Figure)} {row.Unit} vs {Report.Fmt(row.BaselineFigure)} ({row.Baseline}) → {row.Ratio:F2}");
    }

    /// <summary>Builds a throughput row (ops/s, with MB/s detail when bytes moved) from a measured pair.</summary>
    public static ResultRow Throughput(string group, string scenario, string baseline, Series figure, Series baselineSeries,
        TargetKind kind = TargetKind.None, double? target = null, string? notes = null, string unit = "ops/s") => new()
        {
            Group = group,
            Scenario = scenario,
            Unit = unit,
            Figure = figure.OpsPerSecond,
            FigureDetail = figure.BytesPerSecond > 0 ? $"{Report.Fmt(figure.BytesPerSecond / 1e6)} MB/s" : null,
            FigureMin = figure.MinOpsPerSecond,
            FigureMax = figure.MaxOpsPerSecond,
            Baseline = baseline,
            BaselineFigure = baselineSeries.OpsPerSecond,
            BaselineDetail = baselineSeries.BytesPerSecond > 0 ? $"{Report.Fmt(baselineSeries.BytesPerSecond / 1e6)} MB/s" : null,
            TargetKind = kind,
            Target = target,
            AllocatedPerOp = figure.AllocatedPerOp,
            BaselineAllocatedPerOp = baselineSeries.AllocatedPerOp,
            Repetitions = figure.Samples.Count,
            Notes = notes,
        };
}
