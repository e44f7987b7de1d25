namespace ChunkStore.Tests.Infrastructure;

public static class Shell
{
    public static (int ExitCode, string Output) Run(string file, params string[] args)
    {
        var (code, output, error) = ChildProcess.Run(ChildProcess.For(file, args));
        return (code, output + error);
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

/// <summary>A size-limited tmpfs (bytes, and optionally inodes) mounted for one test (needs root), unmounted on dispose.</summary>
public sealed class SmallFileSystem : IDisposable
{
    private readonly TempDirectory _dir;

    public SmallFileSystem(string size, int? inodes = null, string? at = null)
    {
        if (!TestData.IsRoot)
        {
            throw new InvalidOperationException("This test mounts a size-limited tmpfs and must run as root (CI does).");
        }

        _dir = at is null ? new TempDirectory("chunkstore-tmpfs") : TempDirectory.Existing(at);
        Shell.Check("mount", "-t", "tmpfs", "-o", inodes is { } n ? $"size={size},nr_inodes={n}" : $"size={size}", "tmpfs", _dir.Path);
    }

    public string Path => _dir.Path;

    /// <summary>Fills the free space: one file at <paramref name="path"/> written until the disk is full.</summary>
    public static void FillBytes(string path)
    {
        using var filler = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.None);
        var block = new byte[64 * 1024];
        try
        {
            while (true)
            {
                filler.Write(block);
                filler.Flush();
            }
        }
        catch (IOException)
        {
            // ENOSPC: full. Fill the last partial block byte by byte.
        }

        try
        {
            while (true)
            {
                filler.WriteByte(1);
                filler.Flush();
            }
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Uses up the free inodes: empty files in <paramref name="directory"/> until none can be created.</summary>
    public static int FillInodes(string directory)
    {
        Directory.CreateDirectory(directory);
        for (int i = 0; ; i++)
        {
            try
            {
                File.WriteAllBytes(System.IO.Path.Combine(directory, i.ToString(System.Globalization.CultureInfo.InvariantCulture)), []);
            }
            catch (IOException)
            {
                return i;
            }
        }
    }

    public void RemountReadOnly() => Shell.Check("mount", "-o", "remount,ro", _dir.Path);

    public void Dispose()
    {
        Shell.Run("umount", "-l", _dir.Path);
        _dir.Dispose();
    }
}
