using System.Runtime.InteropServices;

namespace ChunkStore.Native;

/// <summary>
/// The few Linux system calls the store needs and .NET does not expose with the right semantics:
/// <c>flock</c> (open-file-description locks; <see cref="FileStream.Lock"/> is a per-process POSIX lock),
/// <c>statx</c> (inode identity and nanosecond atime), <c>utimensat</c> (explicit atime with the mtime kept),
/// <c>renameat2</c> (rename without replacing) and <c>syncfs</c>.
/// </summary>
internal static partial class Libc
{
    private const string Lib = "libc";

    private static bool IsArm64 => RuntimeInformation.ProcessArchitecture == Architecture.Arm64;

    public const int LOCK_SH = 1;
    public const int LOCK_EX = 2;
    public const int LOCK_NB = 4;
    public const int LOCK_UN = 8;

    public const int O_RDONLY = 0x0;
    public const int O_RDWR = 0x2;
    public const int O_CREAT = 0x40;
    public const int O_EXCL = 0x80;
    // These two differ: include/uapi/asm-generic/fcntl.h (x86-64) has O_DIRECTORY 00200000 and O_NOFOLLOW 00400000;
    // arch/arm64/include/uapi/asm/fcntl.h has 040000 and 0100000 (its 00200000 is O_DIRECT, its 00400000 O_LARGEFILE).
    public const int O_DIRECTORY_X64 = 0x10000;
    public const int O_NOFOLLOW_X64 = 0x20000;
    public const int O_DIRECTORY_ARM64 = 0x4000;
    public const int O_NOFOLLOW_ARM64 = 0x8000;
    public static readonly int O_DIRECTORY = IsArm64 ? O_DIRECTORY_ARM64 : O_DIRECTORY_X64;
    public static readonly int O_NOFOLLOW = IsArm64 ? O_NOFOLLOW_ARM64 : O_NOFOLLOW_X64;
    public const int O_CLOEXEC = 0x80000;
    public const int O_NOATIME = 0x40000;
    public const int O_PATH = 0x200000;

    public const int AT_FDCWD = -100;
    public const int AT_SYMLINK_NOFOLLOW = 0x100;
    public const int AT_EMPTY_PATH = 0x1000;

    public const uint STATX_BASIC_STATS = 0x7ff;
    public const uint RENAME_NOREPLACE = 1;

    public const long UTIME_NOW = (1L << 30) - 1;
    public const long UTIME_OMIT = (1L << 30) - 2;

    public const int EINTR = 4;
    public const int ENOENT = 2;
    public const int EIO = 5;
    public const int EACCES = 13;
    public const int EEXIST = 17;
    public const int ENOTDIR = 20;
    public const int EISDIR = 21;
    public const int EINVAL = 22;
    public const int ENOSPC = 28;
    public const int EROFS = 30;
    public const int EPERM = 1;
    public const int EWOULDBLOCK = 11;
    public const int ENOSYS = 38;
    public const int EDQUOT = 122;

    public const ushort S_IFMT = 0xF000;
    public const ushort S_IFREG = 0x8000;
    public const ushort S_IFDIR = 0x4000;
    public const ushort S_IFLNK = 0xA000;

    [StructLayout(LayoutKind.Sequential)]
    public struct StatxTimestamp
    {
        public long Seconds;
        public uint Nanoseconds;
        private int _reserved;

        public readonly long TotalNanoseconds => (Seconds * 1_000_000_000L) + Nanoseconds;
    }

    /// <summary>The kernel's <c>struct statx</c> (256 bytes, the same layout on every architecture).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct Statx
    {
        public uint Mask;
        public uint BlockSize;
        public ulong Attributes;
        public uint LinkCount;
        public uint Uid;
        public uint Gid;
        public ushort Mode;
        private ushort _spare0;
        public ulong Inode;
        public ulong Size;
        public ulong Blocks;
        public ulong AttributesMask;
        public StatxTimestamp AccessTime;
        public StatxTimestamp BirthTime;
        public StatxTimestamp ChangeTime;
        public StatxTimestamp ModifyTime;
        public uint RdevMajor;
        public uint RdevMinor;
        public uint DevMajor;
        public uint DevMinor;
        private fixed ulong _spare2[14];

        public readonly bool IsRegularFile => (Mode & S_IFMT) == S_IFREG;
        public readonly bool IsDirectory => (Mode & S_IFMT) == S_IFDIR;
        public readonly bool IsSymbolicLink => (Mode & S_IFMT) == S_IFLNK;

        public readonly bool SameFileAs(in Statx other) =>
            Inode == other.Inode && SameDeviceAs(other);

        public readonly bool SameDeviceAs(in Statx other) => DevMajor == other.DevMajor && DevMinor == other.DevMinor;

        public readonly string KindDescription => (Mode & S_IFMT) switch
        {
            S_IFREG => "a regular file",
            S_IFDIR => "a directory",
            S_IFLNK => "a symbolic link",
            0x6000 => "a block device",
            0x2000 => "a character device",
            0x1000 => "a FIFO",
            0xC000 => "a socket",
            _ => "an unknown kind of entry",
        };
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport(Lib, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags, uint mode);

    [LibraryImport(Lib, EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport(Lib, EntryPoint = "flock", SetLastError = true)]
    public static partial int Flock(int fd, int operation);

    [LibraryImport(Lib, EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int StatxPath(int dirfd, string path, int flags, uint mask, out Statx buffer);

    [LibraryImport(Lib, EntryPoint = "statx", SetLastError = true)]
    private static partial int StatxFd(int dirfd, ReadOnlySpan<byte> emptyPath, int flags, uint mask, out Statx buffer);

    [LibraryImport(Lib, EntryPoint = "utimensat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Utimensat(int dirfd, string path, ReadOnlySpan<Timespec> times, int flags);

    [LibraryImport(Lib, EntryPoint = "renameat2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Renameat2(int olddirfd, string oldpath, int newdirfd, string newpath, uint flags);

    [LibraryImport(Lib, EntryPoint = "syncfs", SetLastError = true)]
    public static partial int Syncfs(int fd);

    [LibraryImport(Lib, EntryPoint = "fsync", SetLastError = true)]
    public static partial int Fsync(int fd);

    [LibraryImport(Lib, EntryPoint = "unlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Unlink(string path);

    /// <summary>Duplicates a descriptor (tests: the copy a forked child holds until its exec).</summary>
    [LibraryImport(Lib, EntryPoint = "dup", SetLastError = true)]
    public static partial int Dup(int fd);

    [LibraryImport(Lib, EntryPoint = "getpid")]
    public static partial int GetPid();

    public static int LastError => Marshal.GetLastPInvokeError();

    /// <summary>Stats a path without following a final symbolic link; returns 0 or an errno.</summary>
    public static int LStat(string path, out Statx st) =>
        StatxPath(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, out st) == 0 ? 0 : LastError;

    /// <summary>Stats a path, following symbolic links; returns 0 or an errno.</summary>
    public static int Stat(string path, out Statx st) =>
        StatxPath(AT_FDCWD, path, 0, STATX_BASIC_STATS, out st) == 0 ? 0 : LastError;

    /// <summary>Stats an open file descriptor; returns 0 or an errno.</summary>
    public static int FStat(int fd, out Statx st) =>
        StatxFd(fd, "\0"u8, AT_EMPTY_PATH, STATX_BASIC_STATS, out st) == 0 ? 0 : LastError;

    /// <summary>Sets a path's atime to now and keeps its mtime; returns 0 or an errno.</summary>
    public static int TouchAccessTime(string path)
    {
        ReadOnlySpan<Timespec> times = [new Timespec { Nanoseconds = UTIME_NOW }, new Timespec { Nanoseconds = UTIME_OMIT }];
        return Utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : LastError;
    }

    /// <summary>Sets a path's atime to an explicit time and keeps its mtime (not following a final link); returns 0 or an errno.</summary>
    public static int SetAccessTime(string path, DateTimeOffset time)
    {
        long ticks = (time - DateTimeOffset.UnixEpoch).Ticks;
        ReadOnlySpan<Timespec> times =
        [
            new Timespec { Seconds = ticks / TimeSpan.TicksPerSecond, Nanoseconds = ticks % TimeSpan.TicksPerSecond * 100 },
            new Timespec { Nanoseconds = UTIME_OMIT },
        ];
        return Utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : LastError;
    }

    /// <summary>Opens a path; retries on EINTR; returns the descriptor or -errno.</summary>
    public static int OpenRetry(string path, int flags, uint mode)
    {
        while (true)
        {
            int fd = Open(path, flags | O_CLOEXEC, mode);
            if (fd >= 0)
            {
                return fd;
            }

            int errno = LastError;
            if (errno != EINTR)
            {
                return -errno;
            }
        }
    }

    /// <summary>Applies a <c>flock</c> operation; retries on EINTR; returns 0 or an errno.</summary>
    public static int FlockRetry(int fd, int operation)
    {
        while (true)
        {
            if (Flock(fd, operation) == 0)
            {
                return 0;
            }

            int errno = LastError;
            if (errno != EINTR)
            {
                return errno;
            }
        }
    }

    /// <summary>Returns the text of an errno, e.g. "No such file or directory".</summary>
    public static string Describe(int errno) => Marshal.GetPInvokeErrorMessage(errno);
}

internal static partial class LibcHandles
{
    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    public static partial int Fsync(Microsoft.Win32.SafeHandles.SafeFileHandle fd);
}
