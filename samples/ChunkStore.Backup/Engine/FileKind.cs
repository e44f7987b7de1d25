using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace ChunkStore.Backup.Engine;

/// <summary>What a directory entry is.</summary>
internal enum EntryKind
{
    RegularFile,
    Directory,
    SymbolicLink,

    /// <summary>A FIFO, socket or device: reading it could block or never end.</summary>
    Special,
}

/// <summary>One <c>lstat</c> of a directory entry: what the scan and the files cache need.</summary>
/// <param name="Kind">Regular file, directory, symbolic link or special file.</param>
/// <param name="Size">Size in bytes.</param>
/// <param name="Mode">Permission bits (e.g. 420 = 0644).</param>
/// <param name="ModifiedNs">mtime, nanoseconds since the Unix epoch.</param>
/// <param name="ChangedNs">ctime (inode change time, which no user call can set back), nanoseconds since the epoch; null when unknown.</param>
/// <param name="Inode">Inode number; 0 when unknown.</param>
internal readonly record struct FileStat(EntryKind Kind, long Size, int Mode, long ModifiedNs, long? ChangedNs, ulong Inode)
{
    /// <summary>Gets the mtime as a <see cref="DateTimeOffset"/> (100 ns resolution).</summary>
    public DateTimeOffset ModifiedAt => DateTimeOffset.UnixEpoch.AddTicks(ModifiedNs / 100);
}

/// <summary>Reads <see cref="FileStat"/>s: <c>statx</c> on Linux (one system call per entry), .NET's file info elsewhere.</summary>
internal static class FileKind
{
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;

    /// <summary>STATX_TYPE | MODE | MTIME | CTIME | INO | SIZE.</summary>
    private const uint StatxMask = 0x1 | 0x2 | 0x40 | 0x80 | 0x100 | 0x200;
    private const int ModeTypeMask = 0xF000;
    private const int ModeRegular = 0x8000;
    private const int ModeDirectory = 0x4000;
    private const int ModeLink = 0xA000;
    private const int ENoEnt = 2;
    private const int ENotDir = 20;

    [ThreadStatic]
    private static byte[]? t_buffer;

    /// <summary>Stats <paramref name="path"/> without following a symbolic link.</summary>
    /// <returns>The entry, or null when it vanished (no such file, or a parent is no longer a directory).</returns>
    /// <exception cref="IOException">Any other failure (permission denied, I/O error): the entry exists and is left out.</exception>
    /// <remarks>
    /// <c>struct statx</c> has the same layout on every architecture: <c>stx_mode</c> at byte 28, <c>stx_ino</c> at 32,
    /// <c>stx_size</c> at 40, <c>stx_ctime</c> at 96 and <c>stx_mtime</c> at 112 (each an i64 second and a u32
    /// nanosecond).
    /// </remarks>
    public static FileStat? Stat(string path)
    {
        if (OperatingSystem.IsLinux())
        {
            var buffer = t_buffer ??= new byte[256];
            try
            {
                if (Statx(AtFdCwd, path, AtSymlinkNoFollow, StatxMask, buffer) != 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    return errno is ENoEnt or ENotDir ? null : throw new IOException(Marshal.GetPInvokeErrorMessage(errno), errno);
                }

                int mode = BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(28));
                var kind = (mode & ModeTypeMask) switch
                {
                    ModeRegular => EntryKind.RegularFile,
                    ModeDirectory => EntryKind.Directory,
                    ModeLink => EntryKind.SymbolicLink,
                    _ => EntryKind.Special,
                };
                return new FileStat(
                    kind,
                    (long)BinaryPrimitives.ReadUInt64LittleEndian(buffer.AsSpan(40)),
                    mode & 0xFFF,
                    Nanoseconds(buffer, 112),
                    Nanoseconds(buffer, 96),
                    BinaryPrimitives.ReadUInt64LittleEndian(buffer.AsSpan(32)));
            }
            catch (EntryPointNotFoundException)
            {
                // A libc without statx (older than glibc 2.28): fall through.
            }
        }

        var info = new FileInfo(path);
        if (!info.Exists && !Directory.Exists(path))
        {
            return null;
        }

        var k = info.LinkTarget is not null ? EntryKind.SymbolicLink : info.Attributes.HasFlag(FileAttributes.Directory) ? EntryKind.Directory : EntryKind.RegularFile;
        long mtime = (info.LastWriteTimeUtc - DateTime.UnixEpoch).Ticks * 100;
        return new FileStat(k, k == EntryKind.RegularFile ? info.Length : 0, OperatingSystem.IsWindows() ? 0x1A4 : (int)info.UnixFileMode, mtime, null, 0);
    }

    private static long Nanoseconds(byte[] buffer, int offset) =>
        (BinaryPrimitives.ReadInt64LittleEndian(buffer.AsSpan(offset)) * 1_000_000_000L) + BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(offset + 8));

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
#pragma warning disable SYSLIB1054 // DllImport keeps the sample free of unsafe code.
    private static extern int Statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, byte[] buffer);
#pragma warning restore SYSLIB1054
}
