using System.Runtime.InteropServices;

namespace ChunkStore.Benchmarks.Harness;

/// <summary>What the report says about the machine it ran on.</summary>
internal sealed record MachineInfo(string Cpu, int Cores, string Memory, string Kernel, string Filesystem, string DotNet, string Date, string BenchDirectory, string LoadAverage)
{
    public static MachineInfo Collect(string dir)
    {
        string cpu = ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown";
        if (ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal)) is { } flags && flags.Contains(" sha_ni", StringComparison.Ordinal))
        {
            cpu += " (SHA-NI)";
        }

        string mem = ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal", StringComparison.Ordinal)) is { } m
            ? $"{long.Parse(m.Split(':')[1].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) / 1048576.0:F1} GiB"
            : "unknown";
        string kernel = ReadLines("/proc/sys/kernel/osrelease").FirstOrDefault() ?? RuntimeInformation.OSDescription;
        return new MachineInfo(cpu, Environment.ProcessorCount, mem, kernel, DescribeFilesystem(dir), RuntimeInformation.FrameworkDescription,
            DateTimeOffset.Now.ToString("yyyy-MM-dd HH:mm zzz", System.Globalization.CultureInfo.InvariantCulture), "(a fresh directory; see --dir)", LoadAverageNow());
    }

    /// <summary>The 1, 5 and 15 minute load averages from /proc/loadavg: other work on the machine makes timings noisy.</summary>
    public static string LoadAverageNow() => ReadLines("/proc/loadavg").FirstOrDefault() is { } l ? string.Join(" / ", l.Split(' ').Take(3)) : "unknown";

    public IEnumerable<(string, string)> Describe()
    {
        yield return ("CPU", Cpu);
        yield return ("Cores", Cores.ToString(System.Globalization.CultureInfo.InvariantCulture));
        yield return ("RAM", Memory);
        yield return ("Kernel", Kernel);
        yield return ("Filesystem of the bench directory", Filesystem);
        yield return (".NET", DotNet);
        yield return ("Date", Date);
        yield return ("Load average at the start (1 / 5 / 15 min)", LoadAverage);
    }

    /// <summary>The longest mount point in /proc/mounts that contains <paramref name="dir"/>: type and options.</summary>
    private static string DescribeFilesystem(string dir)
    {
        string full = Path.GetFullPath(dir);
        string best = "", desc = "unknown";
        foreach (var line in ReadLines("/proc/mounts"))
        {
            var f = line.Split(' ');
            if (f.Length < 4)
            {
                continue;
            }

            string mp = f[1].Replace("\\040", " ", StringComparison.Ordinal);
            bool covers = full == mp || full.StartsWith(mp.EndsWith('/') ? mp : mp + "/", StringComparison.Ordinal);
            if (covers && mp.Length >= best.Length)
            {
                best = mp;
                desc = $"{f[2]} ({f[3]})";
            }
        }

        return desc;
    }

    private static string[] ReadLines(string path)
    {
        try
        {
            return File.ReadAllLines(path);
        }
        catch (IOException)
        {
            return [];
        }
        catch (UnauthorizedAccessException)
        {
            return [];
        }
    }
}
