using System.Diagnostics;

namespace ChunkStore.Tests.Infrastructure;

/// <summary>
/// How every test project, the torture harness and the benchmarks start child processes: a program with its output
/// captured (<see cref="RunAsync"/>, <see cref="Run"/>), or a .NET assembly under the same <c>dotnet</c> muxer as the
/// tests (<see cref="ForDotnet"/>), optionally as the user <c>nobody</c> so that permission bits apply.
/// </summary>
public static class ChildProcess
{
    /// <summary>The uid and gid of <c>nobody</c>, which an unprivileged child runs as when the tests run as root.</summary>
    public const int NobodyId = 65534;

    /// <summary>Gets whether the tests run as root (then an unprivileged child drops to <see cref="NobodyId"/>).</summary>
    public static bool IsRoot => TestData.IsRoot;

    /// <summary>Gets the <c>dotnet</c> muxer: the one running the tests (set by the SDK), else this process's, else the one on PATH.</summary>
    public static string DotnetPath
    {
        get
        {
            if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } hostPath && File.Exists(hostPath))
            {
                return hostPath;
            }

            string? self = Environment.ProcessPath;
            return self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self : "dotnet";
        }
    }

    /// <summary>A program with its arguments, output and error redirected.</summary>
    /// <param name="file">The program.</param>
    /// <param name="args">Its arguments.</param>
    /// <returns>The start info (add environment or stdin redirection before starting).</returns>
    public static ProcessStartInfo For(string file, params IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        return info;
    }

    /// <summary>A .NET assembly run by <see cref="DotnetPath"/>; with <paramref name="unprivileged"/> and root, as
    /// <c>nobody</c> without supplementary groups (through <c>setpriv</c>).</summary>
    /// <param name="assemblyPath">The assembly (a <c>.dll</c>).</param>
    /// <param name="args">Its arguments.</param>
    /// <param name="unprivileged">Run it as a user that permission bits apply to.</param>
    /// <returns>The start info.</returns>
    public static ProcessStartInfo ForDotnet(string assemblyPath, IEnumerable<string> args, bool unprivileged = false)
    {
        var prefix = unprivileged && IsRoot
            ? (IEnumerable<string>)[$"--reuid={NobodyId}", $"--regid={NobodyId}", "--clear-groups", "--", DotnetPath, assemblyPath]
            : [assemblyPath];
        return For(unprivileged && IsRoot ? "setpriv" : DotnetPath, prefix.Concat(args));
    }

    /// <summary>Starts <paramref name="info"/> and waits for it, capturing its output and error.</summary>
    /// <param name="info">What to run (from <see cref="For"/> or <see cref="ForDotnet"/>).</param>
    /// <param name="timeout">How long it may take (default 2 minutes); then it is killed and this throws.</param>
    /// <returns>Its exit code, output and error.</returns>
    public static async Task<(int ExitCode, string Output, string Error)> RunAsync(ProcessStartInfo info, TimeSpan? timeout = null)
    {
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {info.FileName}");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{info.FileName} {string.Join(' ', info.ArgumentList)} did not finish within {(timeout ?? TimeSpan.FromMinutes(2)).TotalSeconds} s");
        }

        return (process.ExitCode, await output, await error);
    }

    /// <summary>The synchronous <see cref="RunAsync"/>, for tests that are not asynchronous.</summary>
    /// <param name="info">What to run.</param>
    /// <returns>Its exit code, output and error.</returns>
    public static (int ExitCode, string Output, string Error) Run(ProcessStartInfo info) => RunAsync(info).GetAwaiter().GetResult();
}
