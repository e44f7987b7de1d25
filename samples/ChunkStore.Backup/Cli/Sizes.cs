using System.Globalization;

namespace ChunkStore.Backup;

/// <summary>Parses and formats byte counts, durations and rates for the command line.</summary>
internal static class Sizes
{
    private static readonly string[] s_units = ["B", "KiB", "MiB", "GiB", "TiB"];

    /// <summary>Formats a byte count: <c>1.5 MiB</c>, <c>64 KiB</c>, <c>12 B</c>.</summary>
    public static string Format(long bytes)
    {
        double value = bytes;
        int unit = 0;
        while (Math.Abs(value) >= 1024 && unit < s_units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return unit == 0 || value == Math.Floor(value)
            ? string.Create(CultureInfo.InvariantCulture, $"{value:0} {s_units[unit]}")
            : string.Create(CultureInfo.InvariantCulture, $"{value:0.0#} {s_units[unit]}");
    }

    /// <summary>Formats a throughput in MB/s (10^6 bytes, as disks and the peer figures are quoted).</summary>
    public static string Rate(long bytes, TimeSpan elapsed) => elapsed <= TimeSpan.Zero
        ? "-"
        : string.Create(CultureInfo.InvariantCulture, $"{bytes / elapsed.TotalSeconds / 1e6:0.0} MB/s");

    /// <summary>Formats a dedup ratio logical : stored.</summary>
    public static string Ratio(long logical, long stored) => stored <= 0
        ? (logical > 0 ? "∞ (nothing new stored)" : "-")
        : string.Create(CultureInfo.InvariantCulture, $"{(double)logical / stored:0.00} : 1");

    public static string Duration(TimeSpan t) => t.TotalSeconds < 60
        ? string.Create(CultureInfo.InvariantCulture, $"{t.TotalSeconds:0.00} s")
        : t.ToString(@"h\:mm\:ss", CultureInfo.InvariantCulture);

    public static string Count(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>Parses <c>65536</c>, <c>64K</c>, <c>64KiB</c>, <c>1M</c>, <c>1MiB</c>, <c>1G</c> (binary units).</summary>
    public static bool TryParseSize(string text, out long bytes)
    {
        bytes = 0;
        string t = text.Trim();
        long factor = 1;
        string[] suffixes = ["KiB", "MiB", "GiB", "KB", "MB", "GB", "K", "M", "G", "B"];
        foreach (string s in suffixes)
        {
            if (t.EndsWith(s, StringComparison.OrdinalIgnoreCase))
            {
                factor = char.ToUpperInvariant(s[0]) switch { 'K' => 1L << 10, 'M' => 1L << 20, 'G' => 1L << 30, _ => 1 };
                t = t[..^s.Length].TrimEnd();
                break;
            }
        }

        if (!long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out long n) || n > long.MaxValue / factor)
        {
            return false;
        }

        bytes = n * factor;
        return true;
    }

    /// <summary>Parses <c>30s</c>, <c>5m</c>, <c>1h</c>, <c>2d</c>, <c>250ms</c>, <c>1h30m</c>, or a .NET time span <c>01:30:00</c>.</summary>
    public static bool TryParseDuration(string text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        string t = text.Trim();
        if (t.Contains(':', StringComparison.Ordinal))
        {
            return TimeSpan.TryParse(t, CultureInfo.InvariantCulture, out value) && value >= TimeSpan.Zero;
        }

        int i = 0;
        bool any = false;
        while (i < t.Length)
        {
            int start = i;
            while (i < t.Length && (char.IsAsciiDigit(t[i]) || t[i] == '.'))
            {
                i++;
            }

            if (start == i || !double.TryParse(t.AsSpan(start, i - start), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double n))
            {
                return false;
            }

            int unitStart = i;
            while (i < t.Length && char.IsAsciiLetter(t[i]))
            {
                i++;
            }

            TimeSpan unit = t[unitStart..i].ToLowerInvariant() switch
            {
                "ms" => TimeSpan.FromMilliseconds(1),
                "s" or "sec" => TimeSpan.FromSeconds(1),
                "m" or "min" => TimeSpan.FromMinutes(1),
                "h" => TimeSpan.FromHours(1),
                "d" => TimeSpan.FromDays(1),
                _ => TimeSpan.MinValue,
            };
            if (unit == TimeSpan.MinValue)
            {
                return false;
            }

            value += unit * n;
            any = true;
        }

        return any;
    }
}
