using System.Globalization;
using System.Text;
using ChunkStore.Native;

namespace ChunkStore.Remote;

/// <summary>
/// Delete requests that may still take effect on the server after their sender stopped waiting for them: a garbage
/// collection or rename killed while its delete was on the wire, or a request that failed on the network after it was
/// sent (or was retried: an earlier copy may arrive after a later one was answered). The chunk lock protects a delete
/// only while its holder lives and waits (race R2): once the process is dead, another one can take the lock, find no
/// marker, upload or get 412, write a marker — and then the late delete removes the object under that fresh marker.
/// </summary>
/// <remarks>
/// <para>Before sending, the sender writes <c>.s3-deletes/&lt;id&gt;.pending</c> in the local root (first line: the time
/// of the latest send in Unix milliseconds, rewritten before every attempt and when the sender gives up; then one key
/// per line), fsyncs it and holds an exclusive <c>flock</c> on it until the request ends. When the server answered the
/// first attempt, or when it was never sent, the file is removed. Otherwise (the sender died: the kernel released its lock; or it retried or gave
/// up) the file stays and says "a delete of these keys may still land until that time +
/// the settle time (<c>S3BackendOptions.DeleteSettleTime</c> for S3)".</para>
/// <para>Every path that creates local state for a chunk on the strength of the object's existence asks
/// <see cref="Unsettled"/> first. A file it can lock belongs to nobody waiting for it. A locked file belongs to a live
/// sender that holds the chunk locks of every key in it, so it cannot name the caller's chunk, whose lock the caller
/// holds. When in doubt (unreadable record, unexpected error) the answer is "unsettled". Settled files are removed by
/// whoever sees them.</para>
/// </remarks>
internal sealed class PendingDeletes(string localRoot, TimeSpan settleTime, string store, TimeProvider time)
{
    public const string DirectoryName = ".s3-deletes";
    private const string Suffix = ".pending";
    private const int StampLength = 19; // fixed width: rewritten in place

    private readonly string _directory = Path.Combine(localRoot, DirectoryName);
    private long _emptyAtMtime = -1;
    private long _emptyAtCtime = -1;
    private long _listings;

    public string Directory => _directory;

    /// <summary>Records a delete of <paramref name="keys"/> about to be sent; call <see cref="Intent.Sending"/> before each
    /// attempt, <see cref="Intent.Answered"/> when the first attempt was answered, and dispose when the request ended.</summary>
    /// <exception cref="ChunkStorageException">The record cannot be written (e.g. the local disk is full): send nothing.</exception>
    public Intent Begin(IReadOnlyList<string> keys)
    {
        string id = Guid.NewGuid().ToString("N");
        string temp = Path.Combine(_directory, id + ".tmp");
        string final = Path.Combine(_directory, id + Suffix);
        LockFile? file = null;
        try
        {
            int err = LockFile.TryOpen(temp, Libc.O_RDWR | Libc.O_CREAT | Libc.O_EXCL, 0x1a4 /* 0644 */, out file);
            if (err == Libc.ENOENT)
            {
                System.IO.Directory.CreateDirectory(_directory);
                err = LockFile.TryOpen(temp, Libc.O_RDWR | Libc.O_CREAT | Libc.O_EXCL, 0x1a4, out file);
            }

            if (file is null)
            {
                throw FileSystem.FileErrors.Create(store, null, temp, "create the pending-delete record", err);
            }

            // Locked before it has its final name: a reader never sees an unlocked record of a live sender.
            err = file.Lock(exclusive: true);
            if (err != 0)
            {
                throw FileSystem.FileErrors.Create(store, null, temp, "lock the pending-delete record", err);
            }

            var text = new StringBuilder(Stamp()).Append('\n');
            foreach (var key in keys)
            {
                text.Append(key).Append('\n');
            }

            using (var handle = file.AsFileHandle())
            {
                RandomAccess.Write(handle, Encoding.UTF8.GetBytes(text.ToString()), 0);
            }

            // Durable before the request leaves: a request held by a proxy can outlive this host's power.
            err = file.Sync();
            if (err != 0)
            {
                throw FileSystem.FileErrors.Create(store, null, temp, "sync the pending-delete record", err);
            }

            File.Move(temp, final);
            return new Intent(this, file, final);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            file?.Dispose();
            _ = Libc.Unlink(temp);
            throw FileSystem.FileErrors.Wrap(store, null, temp, "write the pending-delete record", ex);
        }
        catch
        {
            file?.Dispose();
            _ = Libc.Unlink(temp);
            throw;
        }
    }

    /// <summary>
    /// How long a delete of <paramref name="key"/> that nobody waits for any more may still land; null when none may.
    /// Removes the records that have settled.
    /// </summary>
    public TimeSpan? Unsettled(string key)
    {
        // The common case, on every new-chunk upload and read fill: no record at all. One stat of the directory says
        // so when its mtime is the one a listing found empty (see NothingRecordedSince).
        if (NothingRecorded())
        {
            return null;
        }

        TimeSpan? longest = null;
        long now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var records = Files("*" + Suffix);
        if (records.Length == 0)
        {
            RememberEmpty();
        }

        foreach (var path in records)
        {
            var (live, sentAt, names) = Inspect(path);
            if (live)
            {
                continue; // its sender waits for the answer and holds the locks of its keys
            }

            long remaining = sentAt + (long)settleTime.TotalMilliseconds - now;
            if (remaining <= 0)
            {
                _ = Libc.Unlink(path);
            }
            else if ((names is null || names.Contains(key)) && (longest is null || remaining > longest.Value.TotalMilliseconds))
            {
                // (An unreadable record may name any key: count it.)
                longest = TimeSpan.FromMilliseconds(remaining);
            }
        }

        return longest;
    }

    /// <summary>Removes the records that have settled, and temporary files of writers that died before naming them.</summary>
    public void RemoveSettled()
    {
        _ = Unsettled("\n");
        foreach (var temp in Files("*.tmp"))
        {
            // Nothing was sent for a record that never got its name.
            if (!Inspect(temp).Live && File.GetLastWriteTimeUtc(temp) < time.GetUtcNow().UtcDateTime.AddMinutes(-1))
            {
                _ = Libc.Unlink(temp);
            }
        }
    }

    /// <summary>Gets how many times the record directory was listed (tests: the empty case must not list).</summary>
    internal long Listings => Interlocked.Read(ref _listings);

    /// <summary>
    /// True when the directory provably holds no record: it does not exist, or its mtime is the one seen when a
    /// listing found it empty. Creating or removing a record changes the mtime — but only to the kernel's coarse
    /// clock, so two changes a few ms apart can share one value: an empty listing is remembered only when the mtime it
    /// saw was over a second old, so any later change gives a different one.
    /// </summary>
    private bool NothingRecorded()
    {
        int err = Libc.Stat(_directory, out var st);
        if (err == Libc.ENOENT)
        {
            return true;
        }

        return err == 0 && st.ModifyTime.TotalNanoseconds == Volatile.Read(ref _emptyAtMtime) && st.ChangeTime.TotalNanoseconds == Volatile.Read(ref _emptyAtCtime);
    }

    private void RememberEmpty()
    {
        // The kernel's clock, not the store's TimeProvider: this is about how coarse the kernel's timestamps are.
        if (Libc.Stat(_directory, out var st) == 0
            && DateTimeOffset.UtcNow - DateTimeOffset.FromUnixTimeMilliseconds(st.ModifyTime.TotalNanoseconds / 1_000_000) > TimeSpan.FromSeconds(1))
        {
            Volatile.Write(ref _emptyAtMtime, st.ModifyTime.TotalNanoseconds);
            Volatile.Write(ref _emptyAtCtime, st.ChangeTime.TotalNanoseconds);
        }
    }

    /// <summary>Gets the number of records of deletes nobody has seen answered (tests, diagnostics).</summary>
    public int CountRecords() => Files("*" + Suffix).Length;

    /// <summary>The record directory's files matching <paramref name="pattern"/>; none before the first delete created it.</summary>
    private string[] Files(string pattern)
    {
        Interlocked.Increment(ref _listings);
        try
        {
            return System.IO.Directory.GetFiles(_directory, pattern);
        }
        catch (DirectoryNotFoundException)
        {
            return [];
        }
    }

    private string Stamp() => time.GetUtcNow().ToUnixTimeMilliseconds().ToString("D" + StampLength, CultureInfo.InvariantCulture);

    /// <summary>Whether a sender holds the record, its latest send time and its keys (null keys: unreadable, assume any).</summary>
    private (bool Live, long SentAt, HashSet<string>? Keys) Inspect(string path)
    {
        long fallback = time.GetUtcNow().ToUnixTimeMilliseconds(); // when in doubt: just sent
        int err = LockFile.TryOpen(path, Libc.O_RDONLY, 0, out var file);
        if (file is null)
        {
            // Removed meanwhile (answered or settled) — anything else: assume the worst.
            return err == Libc.ENOENT ? (true, 0, null) : (false, fallback, null);
        }

        using var held = file;
        err = file.TryLock(exclusive: false);
        if (err != 0)
        {
            return err == Libc.EWOULDBLOCK ? (true, 0, null) : (false, fallback, null);
        }

        using var handle = file.AsFileHandle();
        try
        {
            long length = RandomAccess.GetLength(handle);
            if (length is > 0 and <= 64 << 20)
            {
                var bytes = new byte[length];
                int read = RandomAccess.Read(handle, bytes, 0);
                var lines = Encoding.UTF8.GetString(bytes, 0, read).Split('\n', StringSplitOptions.RemoveEmptyEntries);
                if (lines.Length > 0 && long.TryParse(lines[0], NumberStyles.None, CultureInfo.InvariantCulture, out long sentAt))
                {
                    return (false, sentAt, new HashSet<string>(lines.Skip(1), StringComparer.Ordinal));
                }
            }
        }
        catch (IOException)
        {
        }

        // Unreadable (torn by a crash, or empty): count from its last change, for every key.
        return (false, new DateTimeOffset(File.GetLastWriteTimeUtc(path)).ToUnixTimeMilliseconds(), null);
    }

    /// <summary>One delete request being sent.</summary>
    public sealed class Intent(PendingDeletes owner, LockFile file, string path) : IDisposable
    {
        private bool _answered;
        private int _attempts;

        /// <summary>Gets how many times the request was sent (<see cref="Sending"/> calls).</summary>
        public int Attempts => _attempts;

        /// <summary>Call before each attempt: restamps the record with the time this copy of the request leaves.</summary>
        public void Sending()
        {
            _attempts++;
            if (_attempts > 1)
            {
                Restamp();
            }
        }

        /// <summary>Call when the server answered. Only an answer to the only attempt clears the record: a copy of an
        /// earlier attempt may still be on its way.</summary>
        public void Answered() => _answered = _attempts <= 1;

        public void Dispose()
        {
            // Answered at the only attempt, or never sent (the caller stopped before the request left): no copy of it
            // can still land. Leaving such a record would make every insert of its keys wait out the settle time.
            if (_answered || _attempts == 0)
            {
                _ = Libc.Unlink(path);
            }
            else
            {
                Restamp(); // the settle time runs from when we stopped waiting
            }

            file.Dispose(); // unlocks and closes: from now on the record (if left) is read as "nobody waits for it"
        }

        /// <summary>Gets the record's open file (tests).</summary>
        internal LockFile File => file;

        private void Restamp()
        {
            try
            {
                using var handle = file.AsFileHandle();
                RandomAccess.Write(handle, Encoding.ASCII.GetBytes(owner.Stamp()), 0);
            }
            catch (IOException)
            {
                // The record keeps its earlier time and settles sooner; not worth failing the delete for.
            }
        }
    }
}
