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
                case "--backend": options.Backend = Next(); break;
                case "--retention": options.RetentionSeconds = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--proxy-delay": options.ProxyDelay = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--proxy-reset": options.ProxyReset = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--proxy-503": options.Proxy503 = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--proxy-late": options.ProxyLate = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--proxy-409": options.Proxy409 = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--proxy-delete-errors": options.ProxyDeleteErrors = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--proxy-strip": options.ProxyStrip = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--rgw-kill-every": options.RgwKillEvery = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                default:
                    Console.Error.WriteLine("usage: ChunkStore.Torture --seconds N --seed S [--backend fs|s3] [--dir D] [--workers N (inserters, 2-3)] [--retention SECONDS (60)]\n"
                        + "         [--disable " + Worker.DisableNames.Replace(", ", "|", StringComparison.Ordinal) + "] [--keep] [--no-tmpfs]\n"
                        + "         S3 only: [--proxy-delay RATE (0.03)] [--proxy-reset RATE (0.01)] [--proxy-503 RATE (0.02)] [--proxy-late RATE (0.01)]\n"
                        + "                  [--proxy-409 RATE of PUTs (0.01)] [--proxy-strip RATE of PUTs (0.2)] [--proxy-delete-errors RATE of DeleteObjects (0.05)] [--rgw-kill-every SECONDS (30; 0 = never)]");
                    return 2;
            }
        }

        Worker.ApplyDisable(options.Disable); // validates the name; the driver's own final GC is not affected below
        Worker.ResetSwitches();
        if (options.Backend is not ("fs" or "s3") || options.RetentionSeconds < 10 || options.ProxyDelay + options.ProxyReset + options.Proxy503 + options.ProxyLate + Math.Max(options.Proxy409 + options.ProxyStrip, options.ProxyDeleteErrors) > 1 || options.RgwKillEvery is < 0 or (> 0 and < 4))
        {
            Console.Error.WriteLine("torture: --backend is fs or s3, --retention must be >= 10, the proxy rates must add up to at most 1, --rgw-kill-every 0 or >= 4");
            return 2;
        }

        return await new Driver(options).RunAsync().ConfigureAwait(false);
    }
}
