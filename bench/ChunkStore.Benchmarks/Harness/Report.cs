using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ChunkStore.Benchmarks.Harness;

/// <summary>How a row's ratio (figure / baseline) is judged against the issue targets.</summary>
internal enum TargetKind
{
    None,
    AtLeast,
    AtMost,
}

/// <summary>One scenario result: the figure, the baseline measured in the same run, their ratio and memory.</summary>
internal sealed class ResultRow
{
    public required string Group { get; init; }

    public required string Scenario { get; init; }

    /// <summary>Unit of <see cref="Figure"/> and <see cref="BaselineFigure"/> (ops/s, entries/s, µs/op).</summary>
    public required string Unit { get; init; }

    public required double Figure { get; init; }

    public string? FigureDetail { get; init; }

    public required string Baseline { get; init; }

    public required double BaselineFigure { get; init; }

    public string? BaselineDetail { get; init; }

    public double Ratio => Figure / BaselineFigure;

    public TargetKind TargetKind { get; init; }

    public double? Target { get; init; }

    public bool? TargetMet => TargetKind switch
    {
        TargetKind.AtLeast => Ratio >= Target,
        TargetKind.AtMost => Ratio <= Target,
        _ => null,
    };

    /// <summary>Median bytes allocated (all threads) per operation of the figure.</summary>
    public double AllocatedPerOp { get; init; }

    /// <summary>Median bytes allocated per operation of the baseline.</summary>
    public double BaselineAllocatedPerOp { get; init; }

    /// <summary>Figure spread over the repetitions (min–max), same unit.</summary>
    public double FigureMin { get; init; }

    public double FigureMax { get; init; }

    public int Repetitions { get; init; }

    /// <summary>Process peak working set (MiB) after the scenario, and how much it grew during it.</summary>
    public double PeakWorkingSetMiB { get; set; }

    public double PeakWorkingSetGrowthMiB { get; set; }

    public string? Notes { get; init; }
}

/// <summary>A baseline measured on its own (reference table).</summary>
internal sealed record BaselineRow(string Name, double OpsPerSecond, double MegabytesPerSecond, double MicrosecondsPerOp, double AllocatedPerOp, string? Notes = null);

/// <summary>Memory of one garbage collection at a given store size.</summary>
internal sealed record GcMemoryRow(long Chunks, double Seconds, long AllocatedBytes, double AllocatedPerChunk, double PeakManagedHeapMiB, double PeakWorkingSetMiB, double WorkingSetBeforeMiB);

/// <summary>
/// One S3 garbage collection watched by a second process: the share of fresh random digests it found busy during the
/// sweep, the sweep's length, and the bound for a full batch's locks held throughout (1 − (1 − 1/stripes)^batch).
/// </summary>
internal sealed record GcBusyRow(string Scenario, long Objects, long Garbage, int DeleteBatchSize, double LatencyMs, int Stripes,
    double SweepSeconds, long DelayedRequests, long DeleteRequests, long Removed, long SkippedBusy, long Samples, double BusyFraction, double PeakWindowBusy,
    double FullBatchBound, double IdleBusyFraction, long IdleSamples);

internal sealed class Report
{
    private static readonly JsonSerializerOptions s_json = new()
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    public required string Mode { get; init; }

    public required MachineInfo Machine { get; init; }

    public DateTimeOffset Started { get; init; } = DateTimeOffset.Now;

    public TimeSpan Duration { get; set; }

    public List<ResultRow> Rows { get; } = [];

    public List<BaselineRow> Baselines { get; } = [];

    public List<GcMemoryRow> GcMemory { get; } = [];

    public List<GcBusyRow> GcBusy { get; } = [];

    public List<string> Notes { get; } = [];

    public void WriteJson(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, s_json));

    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        var ci = CultureInfo.InvariantCulture;
        sb.AppendLine(ci, $"# ChunkStore benchmark report — {Mode} mode");
        sb.AppendLine();
        sb.AppendLine("## Machine");
        sb.AppendLine();
        foreach (var (k, v) in Machine.Describe())
        {
            sb.AppendLine(ci, $"- **{k}**: {v}");
        }

        sb.AppendLine(ci, $"- **Mode**: {Mode}; started {Started:yyyy-MM-dd HH:mm:ss zzz}; took {Duration.TotalSeconds:F0} s");
        sb.AppendLine();
        sb.AppendLine("## Targets (issues 2, 3, 4, 6)");
        sb.AppendLine();
        sb.AppendLine("| target | scenario | ratio | target | result |");
        sb.AppendLine("|---|---|---:|---:|---|");
        foreach (var r in Rows.Where(r => r.TargetKind != TargetKind.None))
        {
            string op = r.TargetKind == TargetKind.AtLeast ? "≥" : "≤";
            sb.AppendLine(ci, $"| {r.Group} | {r.Scenario} | {r.Ratio:F2} | {op} {r.Target:F2} | {(r.TargetMet == true ? "met" : "**missed**")} |");
        }

        sb.AppendLine();
        sb.AppendLine("## Scenarios (figure vs. baseline measured in this run, same parallelism)");
        sb.AppendLine();
        sb.AppendLine("Figures are medians of the repetitions after one discarded warm-up run; spread is min–max of the figure.");
        sb.AppendLine("Ratio = figure / baseline (for the lock-overhead row: lock cost / duplicate-insert cost).");
        sb.AppendLine();
        sb.AppendLine("| group | scenario | figure | spread | baseline | baseline figure | ratio | target | alloc B/op (fig / base) | peak WS MiB (+growth) | notes |");
        sb.AppendLine("|---|---|---:|---:|---|---:|---:|---|---:|---:|---|");
        foreach (var r in Rows)
        {
            string target = r.TargetKind switch
            {
                TargetKind.AtLeast => string.Create(ci, $"≥ {r.Target:F2} {(r.TargetMet == true ? "met" : "**missed**")}"),
                TargetKind.AtMost => string.Create(ci, $"≤ {r.Target:F2} {(r.TargetMet == true ? "met" : "**missed**")}"),
                _ => "",
            };
            sb.AppendLine(ci,
                $"| {r.Group} | {r.Scenario} | {Fmt(r.Figure)} {r.Unit}{Detail(r.FigureDetail)} | {Fmt(r.FigureMin)}–{Fmt(r.FigureMax)} | {r.Baseline} | {Fmt(r.BaselineFigure)} {r.Unit}{Detail(r.BaselineDetail)} | {r.Ratio:F2} | {target} | {Fmt(r.AllocatedPerOp)} / {Fmt(r.BaselineAllocatedPerOp)} | {r.PeakWorkingSetMiB:F0} (+{r.PeakWorkingSetGrowthMiB:F0}) | {r.Notes} |");
        }

        sb.AppendLine();
        sb.AppendLine("## Baselines measured on their own");
        sb.AppendLine();
        sb.AppendLine("| baseline | ops/s | MB/s | µs/op | alloc B/op | notes |");
        sb.AppendLine("|---|---:|---:|---:|---:|---|");
        foreach (var b in Baselines)
        {
            sb.AppendLine(ci, $"| {b.Name} | {Fmt(b.OpsPerSecond)} | {(b.MegabytesPerSecond > 0 ? Fmt(b.MegabytesPerSecond) : "")} | {b.MicrosecondsPerOp:F2} | {Fmt(b.AllocatedPerOp)} | {b.Notes} |");
        }

        if (GcMemory.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine("## Garbage-collection memory by store size");
            sb.AppendLine();
            sb.AppendLine("One `GarbageCollectAsync` with every chunk referenced (the referenced digests are a `List<ChunkDigest>` the benchmark holds: 32 B per chunk, in the working set but not in the GC's allocations).");
            sb.AppendLine();
            sb.AppendLine("| chunks | GC seconds | allocated by the GC | allocated per chunk | peak managed heap MiB | peak working set MiB (before) |");
            sb.AppendLine("|---:|---:|---:|---:|---:|---:|");
            foreach (var g in GcMemory)
            {
                sb.AppendLine(ci, $"| {g.Chunks:N0} | {g.Seconds:F2} | {g.AllocatedBytes / 1048576.0:F1} MiB | {g.AllocatedPerChunk:F0} B | {g.PeakManagedHeapMiB:F1} | {g.PeakWorkingSetMiB:F0} ({g.WorkingSetBeforeMiB:F0}) |");
            }
        }

        if (GcBusy.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine("## S3 garbage collection: unrelated chunks another process finds busy");
            sb.AppendLine();
            sb.AppendLine("A second process try-locks fresh random digests (none of them garbage) on the store's lock directory, about one per millisecond, only while the sweep runs. The store reaches S3 through a loopback proxy that holds the start of every request of the collection (LIST pages, DeleteObjects, …) for the stated latency: a remote endpoint. Full-batch bound: the share of stripes a whole batch's locks cover, 1 − (1 − 1/stripes)^min(batch, garbage). Idle: the same probe before the collection.");
            sb.AppendLine();
            sb.AppendLine("| scenario | objects | garbage | DeleteBatchSize | latency per request | sweep s | requests held | DeleteObjects | removed | GC skipped busy | probes | busy | peak 250 ms window | full-batch bound | idle busy (probes) |");
            sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var g in GcBusy)
            {
                sb.AppendLine(ci, $"| {g.Scenario} | {g.Objects:N0} | {g.Garbage:N0} | {g.DeleteBatchSize} | {g.LatencyMs:F0} ms | {g.SweepSeconds:F1} | {g.DelayedRequests} | {g.DeleteRequests} | {g.Removed:N0} | {g.SkippedBusy} | {g.Samples:N0} | {100 * g.BusyFraction:F1} % | {100 * g.PeakWindowBusy:F1} % | {100 * g.FullBatchBound:F1} % | {100 * g.IdleBusyFraction:F1} % ({g.IdleSamples:N0}) |");
            }
        }

        sb.AppendLine();
        sb.AppendLine("## Notes");
        sb.AppendLine();
        foreach (var n in Notes)
        {
            sb.AppendLine(ci, $"- {n}");
        }

        return sb.ToString();

        static string Detail(string? d) => d is null ? "" : $" ({d})";
    }

    public static string Fmt(double v)
    {
        if (double.IsNaN(v) || double.IsInfinity(v))
        {
            return "–";
        }

        double a = Math.Abs(v);
        string format = a >= 100 ? "N0" : a >= 10 ? "N1" : "N2";
        return v.ToString(format, CultureInfo.InvariantCulture);
    }
}
