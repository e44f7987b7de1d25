using System.Diagnostics;

namespace ChunkStore.Tests.Infrastructure;

public static class Shell
{
    public static (int ExitCode, string Output) Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output);
    }

    public static void Check(string file, params string[] args)
    {
        var (code, output) = Run(file, args);
        if (code != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed with {code}: {output}");
        }
    }
}

/// <summary>A size-limited tmpfs mounted for one test (needs root), unmounted on dispose.</summary>
public sealed class SmallFileSystem : IDisposable
{
    private readonly TempDirectory _dir = new("chunkstore-tmpfs");

    public SmallFileSystem(string size)
    {
        if (!TestData.IsRoot)
        {
            throw new InvalidOperationException("This test mounts a size-limited tmpfs and must run as root (CI does).");
        }

        Shell.Check("mount", "-t", "tmpfs", "-o", $"size={size}", "tmpfs", _dir.Path);
    }

    public string Path => _dir.Path;

    public void RemountReadOnly() => Shell.Check("mount", "-o", "remount,ro", _dir.Path);

    public void Dispose()
    {
        Shell.Run("umount", "-l", _dir.Path);
        _dir.Dispose();
    }
}
