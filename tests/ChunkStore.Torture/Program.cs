using System.Globalization;

namespace ChunkStore.Torture;

internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        if (args.Length > 1 && args[0] == "worker")
        {
            return await Worker.RunAsync(args).ConfigureAwait(false);
        }

        var options = new DriverOptions();
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException("missing value after " + args[i]);
            switch (args[i])
            {
                case "--seconds": options.Seconds = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--seed": options.Seed = long.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--dir": options.Dir = Next(); break;
                case "--workers": options.Inserters = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--disable": options.Disable = Next(); break;
                case "--keep": options.Keep = true; break;
                case "--no-tmpfs": options.NoTmpfs = true; break;
                default:
                    Console.Error.WriteLine("usage: ChunkStore.Torture --seconds N --seed S [--dir D] [--workers N (inserters, 2-3)] [--disable dedup-touch|writer-registry] [--keep] [--no-tmpfs]");
                    return 2;
            }
        }

        Worker.ApplyDisable(options.Disable); // validates the name; the driver's own final GC is not affected below
        Diagnostics.FaultSwitches.SkipDedupTouch = false;
        Diagnostics.FaultSwitches.IgnoreWriters = false;
        return await new Driver(options).RunAsync().ConfigureAwait(false);
    }
}
