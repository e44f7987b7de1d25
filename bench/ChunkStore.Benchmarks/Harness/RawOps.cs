using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;

namespace ChunkStore.Benchmarks.Harness;

/// <summary>The raw operations the baselines time: plain .NET file I/O and libc calls, no library code.</summary>
internal static class RawOps
{
    /// <summary>A random 64-hex name (what a chunk name looks like), without hashing any content.</summary>
    public static string RandomName(Random random)
    {
        Span<byte> b = stackalloc byte[32];
        random.NextBytes(b);
        return Convert.ToHexStringLower(b);
    }

    /// <summary>
    /// Writes <paramref name="data"/> to <c>root/&lt;4hex&gt;/&lt;name&gt;.tmp-&lt;hex&gt;</c> with <see cref="RandomAccess.Write(SafeFileHandle, ReadOnlySpan{byte}, long)"/>,
    /// optionally fsyncs it, renames it to <c>root/&lt;4hex&gt;/&lt;name&gt;</c> and (with fsync) fsyncs the directory;
    /// the prefix directory is created on first use (like the store does). Returns the final path.
    /// </summary>
    public static string WriteRename(string root, string name, ReadOnlySpan<byte> data, bool fsync, Random random)
    {
        string dir = Path.Combine(root, name[..4]);
        string final = Path.Combine(dir, name);
        string temp = string.Concat(final, ".tmp-", random.Next().ToString("x8", System.Globalization.CultureInfo.InvariantCulture));
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None);
        }
        catch (DirectoryNotFoundException)
        {
            Directory.CreateDirectory(dir);
            handle = File.OpenHandle(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None);
        }

        using (handle)
        {
            RandomAccess.Write(handle, data, 0);
            if (fsync)
            {
                Posix.Fsync(handle);
            }
        }

        File.Move(temp, final, overwrite: true);
        if (fsync)
        {
            Posix.FsyncDirectory(dir);
        }

        return final;
    }

    /// <summary>Opens, reads the whole file into a new array and hashes it (what a verified read must do).</summary>
    public static int ReadAndHash(string path)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        byte[] buffer = GC.AllocateUninitializedArray<byte>((int)RandomAccess.GetLength(handle));
        int total = 0;
        while (total < buffer.Length)
        {
            int n = RandomAccess.Read(handle, buffer.AsSpan(total), total);
            if (n == 0)
            {
                break;
            }

            total += n;
        }

        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(buffer, hash);
        return hash[0] + total;
    }

    /// <summary>Hashes a buffer with <see cref="SHA256.HashData(ReadOnlySpan{byte}, Span{byte})"/>.</summary>
    public static int Hash(ReadOnlySpan<byte> data)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(data, hash);
        return hash[0];
    }

    /// <summary>
    /// Raw stat walk: enumerate the prefix directories and their files (<see cref="Directory.EnumerateFiles(string)"/>),
    /// statx every file (AT_SYMLINK_NOFOLLOW) and compare its atime with a cutoff. Returns the number of files.
    /// </summary>
    public static long StatWalk(string chunksDir, long cutoffSeconds, out long older)
    {
        long count = 0;
        older = 0;
        foreach (var dir in Directory.EnumerateDirectories(chunksDir))
        {
            foreach (var file in Directory.EnumerateFiles(dir))
            {
                if (Posix.Statx(Posix.AT_FDCWD, file, Posix.AT_SYMLINK_NOFOLLOW, Posix.STATX_BASIC_STATS, out var st) == 0)
                {
                    count++;
                    if (st.AtimeSeconds < cutoffSeconds)
                    {
                        older++;
                    }
                }
            }
        }

        return count;
    }

    /// <summary>The path of a chunk in the store layout, built from the digest the way any tool would.</summary>
    public static string ChunkPath(string chunksDir, ChunkDigest digest)
    {
        string hex = digest.ToString();
        return $"{chunksDir}/{hex.AsSpan(0, 4)}/{hex}";
    }
}
