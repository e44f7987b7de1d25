using System.Diagnostics;

namespace ChunkStore.Backup.Tests;

/// <summary>
/// Runs the sample's CLI in a child process that file permissions apply to: as the user <c>nobody</c> (through
/// <c>setpriv</c>) when the tests run as root, as CI does, and as the current user otherwise.
/// </summary>
internal static class UnprivilegedCli
{
    private const int NobodyId = 65534;

    /// <summary>Runs <c>chunkstore-backup</c> with <paramref name="args"/>; <paramref name="scratch"/> is a directory the child may use as its home.</summary>
    public static async Task<(int Code, string Output, string Error)> RunAsync(string[] args, string scratch)
    {
        string home = Path.Combine(scratch, "child-home");
        Directory.CreateDirectory(home);
        File.SetUnixFileMode(home, (UnixFileMode)0x1FF);
        string cli = Path.Combine(AppContext.BaseDirectory, "chunkstore-backup.dll");
        string dotnet = Environment.ProcessPath is { } host && Path.GetFileNameWithoutExtension(host) == "dotnet" ? host : "dotnet";

        var start = new ProcessStartInfo { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (Environment.IsPrivilegedProcess)
        {
            start.FileName = "setpriv";
            foreach (string a in (string[])[$"--reuid={NobodyId}", $"--regid={NobodyId}", "--clear-groups", "--", dotnet])
            {
                start.ArgumentList.Add(a);
            }
        }
        else
        {
            start.FileName = dotnet;
        }

        start.ArgumentList.Add(cli);
        foreach (string a in args)
        {
            start.ArgumentList.Add(a);
        }

        start.Environment["HOME"] = home;
        start.Environment["DOTNET_CLI_HOME"] = home;
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["NO_COLOR"] = "1";
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start the CLI");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await error);
    }
}
