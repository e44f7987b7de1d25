using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace ChunkStore.Benchmarks.Harness;

/// <summary>
/// The benchmark's own libc calls, so the raw baselines do not go through the library's code.
/// </summary>
internal static partial class Posix
{
    public const int AT_FDCWD = -100;
    public const int AT_SYMLINK_NOFOLLOW = 0x100;
    public const long UTIME_NOW = (1L << 30) - 1;
    public const long UTIME_OMIT = (1L << 30) - 2;
    public const int LOCK_EX = 2;
    public const int LOCK_NB = 4;
    public const int LOCK_UN = 8;
    public const int O_RDONLY = 0;
    public const int O_RDWR = 2;
    public const int O_CREAT = 0x40;
    public static readonly int O_DIRECTORY = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 0x4000 : 0x10000; // arm64 overrides it
    public const int O_CLOEXEC = 0x80000;
    public const uint STATX_BASIC_STATS = 0x7ff;

    [StructLayout(LayoutKind.Sequential)]
    public struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    /// <summary>struct statx is 256 bytes; the benchmark reads only size (offset 40) and atime (offset 64).</summary>
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    public struct StatxBuffer
    {
        [FieldOffset(28)] public ushort Mode;
        [FieldOffset(40)] public ulong Size;
        [FieldOffset(64)] public long AtimeSeconds;
        [FieldOffset(72)] public uint AtimeNanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "utimensat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Utimensat(int dirfd, string path, ReadOnlySpan<Timespec> times, int flags);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Statx(int dirfd, string path, int flags, uint mask, out StatxBuffer buffer);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags, uint mode);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    public static partial int Flock(int fd, int operation);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    public static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    public static partial int Fsync(SafeFileHandle fd);

    [LibraryImport("libc", EntryPoint = "syncfs", SetLastError = true)]
    public static partial int Syncfs(int fd);

    /// <summary>utimensat(AT_FDCWD, path, {UTIME_NOW, UTIME_OMIT}, AT_SYMLINK_NOFOLLOW): atime = now, mtime kept.</summary>
    public static int TouchAtime(string path) => SetAtime(path, new Timespec { Nanoseconds = UTIME_NOW });

    /// <summary>utimensat(AT_FDCWD, path, {time, UTIME_OMIT}, AT_SYMLINK_NOFOLLOW): atime = <paramref name="time"/>, mtime kept.</summary>
    public static int SetAtime(string path, DateTimeOffset time) => SetAtime(path, new Timespec { Seconds = time.ToUnixTimeSeconds() });

    private static int SetAtime(string path, Timespec atime)
    {
        ReadOnlySpan<Timespec> times = [atime, new Timespec { Nanoseconds = UTIME_OMIT }];
        return Utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    public static void FsyncDirectory(string dir)
    {
        int fd = Open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        if (fd < 0)
        {
            throw new IOException($"open {dir}: errno {Marshal.GetLastPInvokeError()}");
        }

        Fsync(fd);
        Close(fd);
    }

    public static void SyncFs(string dir)
    {
        int fd = Open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        if (fd < 0)
        {
            throw new IOException($"open {dir}: errno {Marshal.GetLastPInvokeError()}");
        }

        Syncfs(fd);
        Close(fd);
    }
}
