using System.Runtime.InteropServices;

namespace ChunkStore.Backup.Engine;

/// <summary>Tells regular files from FIFOs, sockets and devices, which .NET's file APIs report alike.</summary>
internal static class FileKind
{
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxType = 0x1;
    private const int ModeTypeMask = 0xF000;
    private const int ModeRegular = 0x8000;

    /// <summary>
    /// Returns false for anything but a regular file (opening a FIFO would block, a device may never end). Uses
    /// <c>statx</c> on Linux, whose layout is the same on every architecture (<c>stx_mode</c> at byte 28);
    /// elsewhere it assumes a regular file.
    /// </summary>
    public static bool IsRegularFile(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            return true;
        }

        var buffer = new byte[256];
        try
        {
            if (Statx(AtFdCwd, path, AtSymlinkNoFollow, StatxType, buffer) != 0)
            {
                return true; // let the open report the real error
            }
        }
        catch (EntryPointNotFoundException)
        {
            return true; // a libc without statx (older than glibc 2.28)
        }

        int mode = BitConverter.ToUInt16(buffer, 28);
        return (mode & ModeTypeMask) == ModeRegular;
    }

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
#pragma warning disable SYSLIB1054 // DllImport keeps the sample free of unsafe code; the call is not hot.
    private static extern int Statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, byte[] buffer);
#pragma warning restore SYSLIB1054
}
