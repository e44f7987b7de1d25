using System.Globalization;
using System.Text;
using ChunkStore.Native;
using Microsoft.Win32.SafeHandles;

namespace ChunkStore.S3;

/// <summary>
/// Delete requests that may still take effect on the server after their sender stopped waiting for them: a garbage
/// collection or rename killed while its DeleteObjects/DeleteObject was on the wire, or a request that failed with a
/// network error after it was sent. The chunk lock protects a delete only while its holder lives (race R2): once the
/// process is dead, another one can take the lock, find no marker, get 412 from the still-existing object and report a
/// duplicate — and then the late delete removes the object under a fresh marker.
/// </summary>
/// <remarks>
/// <para>Before sending, the sender writes <c>.s3-deletes/&lt;id&gt;.pending</c> in the local root (first line: the send
/// time in Unix milliseconds, then one key per line) and holds an exclusive <c>flock</c> on it until the answer. When
/// the server answered, the file is removed. When the sender dies, the kernel releases its lock; when the request
/// failed on the wire, the sender releases it and leaves the file: either way the file now says "a delete of these keys
/// may still land until send time + <see cref="S3BackendOptions.DeleteSettleTime"/>".</para>
/// <para>Only the insert/touch path that finds no local state but an existing object asks (<see cref="Unsettled"/>);
/// a file it can lock belongs to nobody alive. A locked file belongs to a live sender that holds the chunk locks of
/// every key in it, so it cannot name the caller's chunk, whose lock the caller holds. Settled files are removed by
/// whoever sees them.</para>
/// </remarks>
internal sealed class PendingDeletes(string localRoot, TimeSpan settleTime, string store)
{
    public const string DirectoryName = ".s3-deletes";
    private const string Suffix = ".pending";

    private readonly string _directory = Path.Combine(localRoot, DirectoryName);

    public string Directory => _directory;

    /// <summary>Records a delete of <paramref name="keys"/> about to be sent; dispose the result when the request ended.</summary>
    /// <exception cref="ChunkStorageException">The record cannot be written (e.g. the local disk is full): nothing is sent.</exception>
    public Intent Begin(IReadOnlyList<string> keys)
    {
        string id = Guid.NewGuid().ToString("N");
        string temp = Path.Combine(_directory, id + ".tmp");
        string final = Path.Combine(_directory, id + Suffix);
        int fd = Libc.Open(temp, Libc.O_RDWR | Libc.O_CREAT | Libc.O_EXCL | Libc.O_CLOEXEC, 0x1a4 /* 0644 */);
        if (fd < 0 && Libc.LastError == Libc.ENOENT)
        {
            System.IO.Directory.CreateDirectory(_directory);
            fd = Libc.Open(temp, Libc.O_RDWR | Libc.O_CREAT | Libc.O_EXCL | Libc.O_CLOEXEC, 0x1a4);
        }

        if (fd < 0)
        {
            throw FileSystem.FileErrors.Create(store, null, temp, "create the pending-delete record", Libc.LastError);
        }

        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            // Locked before it has its final name: a reader never sees an unlocked intent of a live sender.
            if (Libc.FlockRetry(fd, Libc.LOCK_EX) != 0)
            {
                throw FileSystem.FileErrors.Create(store, null, temp, "lock the pending-delete record", Libc.LastError);
            }

            var text = new StringBuilder();
            text.Append(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)).Append('\n');
            foreach (var key in keys)
            {
                text.Append(key).Append('\n');
            }

            RandomAccess.Write(handle, Encoding.UTF8.GetBytes(text.ToString()), 0);
            File.Move(temp, final);
            return new Intent(handle, final);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            handle.Dispose();
            _ = Libc.Unlink(temp);
            throw FileSystem.FileErrors.Wrap(store, null, temp, "write the pending-delete record", ex);
        }
        catch
        {
            handle.Dispose();
            _ = Libc.Unlink(temp);
            throw;
        }
    }

    /// <summary>
    /// How long a delete of <paramref name="key"/> whose sender is gone may still land; null when none may. Removes the
    /// intents that have settled.
    /// </summary>
    public TimeSpan? Unsettled(string key)
    {
        string[] files;
        try
        {
            files = System.IO.Directory.GetFiles(_directory, "*" + Suffix);
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }

        TimeSpan? longest = null;
        long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        foreach (var path in files)
        {
            int fd = Libc.Open(path, Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
            if (fd < 0)
            {
                continue; // removed meanwhile
            }

            using var handle = new SafeFileHandle(fd, ownsHandle: true);
            if (Libc.Flock(fd, Libc.LOCK_SH | Libc.LOCK_NB) != 0)
            {
                continue; // its sender is alive and waiting for the answer (and holds the locks of its keys)
            }

            if (!TryRead(handle, out long sentAt, out var keys))
            {
                continue;
            }

            long remaining = sentAt + (long)settleTime.TotalMilliseconds - now;
            if (remaining <= 0)
            {
                _ = Libc.Unlink(path);
            }
            else if (keys.Contains(key) && (longest is null || remaining > longest.Value.TotalMilliseconds))
            {
                longest = TimeSpan.FromMilliseconds(remaining);
            }
        }

        return longest;
    }

    /// <summary>Removes the records that have settled (garbage collection calls this when it starts).</summary>
    public void RemoveSettled()
    {
        _ = Unsettled("\n");

        // A record whose writer died before naming it: nothing was sent for it.
        string[] temps;
        try
        {
            temps = System.IO.Directory.GetFiles(_directory, "*.tmp");
        }
        catch (DirectoryNotFoundException)
        {
            return;
        }

        foreach (var temp in temps)
        {
            int fd = Libc.Open(temp, Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
            if (fd < 0)
            {
                continue;
            }

            using var handle = new SafeFileHandle(fd, ownsHandle: true);
            if (Libc.Flock(fd, Libc.LOCK_SH | Libc.LOCK_NB) == 0 && File.GetLastWriteTimeUtc(temp) < DateTime.UtcNow.AddMinutes(-1))
            {
                _ = Libc.Unlink(temp);
            }
        }
    }

    /// <summary>Gets the number of recorded deletes whose outcome is unknown and that have not settled (tests, diagnostics).</summary>
    public int CountUnsettled()
    {
        try
        {
            return System.IO.Directory.GetFiles(_directory, "*" + Suffix).Length;
        }
        catch (DirectoryNotFoundException)
        {
            return 0;
        }
    }

    private static bool TryRead(SafeFileHandle handle, out long sentAt, out HashSet<string> keys)
    {
        sentAt = 0;
        keys = new HashSet<string>(StringComparer.Ordinal);
        long length = RandomAccess.GetLength(handle);
        if (length is <= 0 or > 64 << 20)
        {
            return false;
        }

        var bytes = new byte[length];
        int read = RandomAccess.Read(handle, bytes, 0);
        var lines = Encoding.UTF8.GetString(bytes, 0, read).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (lines.Length == 0 || !long.TryParse(lines[0], NumberStyles.None, CultureInfo.InvariantCulture, out sentAt))
        {
            return false;
        }

        keys.UnionWith(lines.Skip(1));
        return true;
    }

    /// <summary>One delete in flight. <see cref="Answered"/> when the server replied (the outcome is known); disposing
    /// without it leaves the record to settle.</summary>
    public sealed class Intent(SafeFileHandle handle, string path) : IDisposable
    {
        private bool _answered;

        public void Answered() => _answered = true;

        public void Dispose()
        {
            if (_answered)
            {
                _ = Libc.Unlink(path);
            }

            handle.Dispose(); // releases the flock: from now on the record (if left) is read as "sender gone"
        }
    }
}
