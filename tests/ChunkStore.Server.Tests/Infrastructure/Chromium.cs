using System.Diagnostics;
using ChunkStore.S3.Tests.Infrastructure;

namespace ChunkStore.Server.Tests.Infrastructure;

/// <summary>
/// Headless Chromium from Debian's package (<c>apt-get install chromium</c>; <c>test.sh</c> installs it): screenshots
/// and the DOM after load, each run with a fresh profile directory and no network besides the page's.
/// </summary>
public static class Chromium
{
    public const string MissingMessage =
        "Chromium is not installed: run ./test.sh (it installs Debian's chromium package) or apt-get install -y chromium. (In CI this test fails instead of skipping.)";

    /// <summary>Gets the browser's path: <c>$CHROMIUM</c>, else <c>chromium</c> or <c>chromium-browser</c> on the PATH; null when absent.</summary>
    public static string? Path { get; } = Find();

    /// <summary>Loads <paramref name="url"/> and returns the serialized DOM.</summary>
    public static async Task<string> DumpDomAsync(Uri url) => (await RunAsync(["--dump-dom", url.ToString()])).Stdout;

    /// <summary>Loads <paramref name="url"/> in a 1200×900 window and saves a PNG screenshot to <paramref name="file"/>.</summary>
    public static async Task ScreenshotAsync(Uri url, string file)
    {
        System.IO.Directory.CreateDirectory(System.IO.Path.GetDirectoryName(file)!);
        File.Delete(file);
        var run = await RunAsync(["--screenshot=" + file, url.ToString()]);
        Assert.True(File.Exists(file), $"chromium wrote no screenshot (exit {run.ExitCode}): {run.Stderr}");
    }

    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string[] args)
    {
        string browser = Path ?? throw new InvalidOperationException(MissingMessage);
        string profile = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "chunkstore-chromium-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(profile);
        var start = new ProcessStartInfo(browser)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in (string[])[
            "--headless", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--user-data-dir=" + profile, "--window-size=1200,900", .. args])
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("chromium did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("chromium did not finish within 2 minutes: " + string.Join(' ', args));
        }
        finally
        {
            try
            {
                System.IO.Directory.Delete(profile, recursive: true);
            }
            catch (IOException)
            {
            }
        }

        return (process.ExitCode, await stdout, await stderr);
    }

    private static string? Find()
    {
        if (Environment.GetEnvironmentVariable("CHROMIUM") is { Length: > 0 } configured)
        {
            return configured;
        }

        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            foreach (var name in new[] { "chromium", "chromium-browser" })
            {
                string candidate = System.IO.Path.Combine(dir, name);
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
        }

        return null;
    }
}

/// <summary>A test that needs headless Chromium: skipped with a message outside CI when it is missing; in CI (<c>CI=true</c>) it runs and fails.</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (Chromium.Path is null && !S3TestEnvironment.IsCi)
        {
            Skip = Chromium.MissingMessage;
        }
    }
}
