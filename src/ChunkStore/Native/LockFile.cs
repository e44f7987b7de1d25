using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace ChunkStore.Native;

/// <summary>
/// An open file on which this process takes <c>flock</c> locks: the lock stripes, <c>.gc.lock</c>, the root's
/// creation lock, writer-registry entries and S3 pending-delete records. The one place that knows how such a lock is
/// taken, released and checked.
/// </summary>
/// <remarks>
/// <para>A <c>flock</c> belongs to the open file description, not to the process: two opens of one path in one
/// process exclude each other, and a lock lives as long as any descriptor of its description does.</para>
/// <para>Releasing the handle unlocks before it closes. A child process forked by this process (any
/// <c>Process.Start</c>) briefly shares every descriptor until its <c>exec</c>; closing alone would leave the lock held
/// by that copy until then, and a reader of the file would take a dead holder for a live one.</para>
/// <para>Every call returns 0 or an errno (<see cref="Libc.EWOULDBLOCK"/> when a non-blocking lock is held
/// elsewhere); callers turn errnos into the store's exceptions.</para>
/// </remarks>
internal sealed partial class LockFile : SafeHandle
{
    /// <summary>Creates a closed handle (the interop marshaller's constructor; use <see cref="TryOpen"/>).</summary>
    public LockFile()
        : base(invalidHandleValue: -1, ownsHandle: true)
    {
    }

    /// <inheritdoc/>
    public override bool IsInvalid => handle < 0;

    /// <summary>Gets the descriptor (valid while this handle is open; for calls this type does not wrap).</summary>
    public int Descriptor => (int)handle;

    /// <summary>Opens <paramref name="path"/> (<c>O_CLOEXEC</c> always; retried on EINTR).</summary>
    /// <param name="path">The file (or directory, with <see cref="Libc.O_DIRECTORY"/>) to open.</param>
    /// <param name="flags">The <c>open</c> flags, e.g. <c>O_RDWR | O_CREAT</c>.</param>
    /// <param name="mode">The permissions of a file created (before the umask).</param>
    /// <param name="file">The open file, or null on failure.</param>
    /// <returns>0 or the errno of the failed <c>open</c>.</returns>
    public static int TryOpen(string path, int flags, uint mode, out LockFile? file)
    {
        int fd = Libc.OpenRetry(path, flags, mode);
        if (fd < 0)
        {
            file = null;
            return -fd;
        }

        file = new LockFile();
        file.SetHandle(fd);
        return 0;
    }

    /// <summary>Tries to lock without waiting: 0 when this handle holds the lock, <see cref="Libc.EWOULDBLOCK"/> when another open file does, or another errno.</summary>
    /// <param name="exclusive">An exclusive lock (else shared). Converts a lock this handle already holds.</param>
    public int TryLock(bool exclusive) => Flock((exclusive ? Libc.LOCK_EX : Libc.LOCK_SH) | Libc.LOCK_NB);

    /// <summary>Locks, waiting as long as another open file holds a conflicting lock: 0 or an errno.</summary>
    /// <param name="exclusive">An exclusive lock (else shared).</param>
    public int Lock(bool exclusive) => Flock(exclusive ? Libc.LOCK_EX : Libc.LOCK_SH);

    /// <summary>Releases this handle's lock (none held is not an error): 0 or an errno.</summary>
    public int Unlock() => Flock(Libc.LOCK_UN);

    /// <summary>Stats the open file: 0 or an errno.</summary>
    /// <param name="st">Its status (inode identity, link count, times).</param>
    public int Stat(out Libc.Statx st)
    {
        bool added = false;
        try
        {
            DangerousAddRef(ref added);
            return Libc.FStat(Descriptor, out st);
        }
        finally
        {
            if (added)
            {
                DangerousRelease();
            }
        }
    }

    /// <summary>
    /// Whether the open file is still the one at <paramref name="path"/>: false once it was unlinked or another file
    /// was renamed over it (whoever opens the path now gets another inode, so a lock on this one excludes nobody),
    /// and false when either stat fails.
    /// </summary>
    /// <param name="path">The path this file was opened at.</param>
    public bool IsStillAt(string path) =>
        Stat(out var mine) == 0 && mine.LinkCount > 0 && Libc.LStat(path, out var atPath) == 0 && mine.SameFileAs(atPath);

    /// <summary>Flushes the file's data and metadata to the device: 0 or an errno.</summary>
    public int Sync()
    {
        while (true)
        {
            if (Fsync(this) == 0)
            {
                return 0;
            }

            int errno = Libc.LastError;
            if (errno != Libc.EINTR)
            {
                return errno;
            }
        }
    }

    /// <summary>A <see cref="SafeFileHandle"/> on the same descriptor that does not own it (for <see cref="RandomAccess"/>); valid while this handle is open.</summary>
    public SafeFileHandle AsFileHandle() => new(handle, ownsHandle: false);

    /// <inheritdoc/>
    protected override bool ReleaseHandle()
    {
        int fd = (int)handle;
        _ = Libc.FlockRetry(fd, Libc.LOCK_UN);
        return Libc.Close(fd) == 0;
    }

    private int Flock(int operation)
    {
        while (true)
        {
            if (FlockHandle(this, operation) == 0)
            {
                return 0;
            }

            int errno = Libc.LastError;
            if (errno != Libc.EINTR)
            {
                return errno;
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static partial int FlockHandle(LockFile fd, int operation);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(LockFile fd);
}
