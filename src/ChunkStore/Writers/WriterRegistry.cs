using System.Globalization;
using ChunkStore.Diagnostics;
using ChunkStore.FileSystem;
using ChunkStore.Native;
using Microsoft.Extensions.Logging;

namespace ChunkStore.Writers;

/// <summary>
/// The registry of live writer sessions that every process on the host sees: one file per session in
/// <c>.writers/</c>, named <c>&lt;start unix ms&gt;-&lt;pid&gt;-&lt;random&gt;.writer</c> and held under an exclusive
/// <c>flock</c> for the session's lifetime. An entry whose lock can be taken belongs to a process that is gone.
/// </summary>
/// <remarks>
/// <para>Registration creates the entry under a temporary name, locks it, and only then renames it to its final
/// name, so a scanner never sees an unlocked final entry of a live session. The start time is read before the
/// entry is created, so it is at or before every touch the session makes.</para>
/// <para>A scan that runs concurrently with a registration either sees the entry (POSIX <c>readdir</c> returns
/// every entry that exists for the whole listing) or the registration completed after the scan began — and then
/// every chunk the session touches has an atime after the scan's start, which is after the collection's T0.</para>
/// <para>Lock order: <c>docs/locking.md</c>; registry locks are leaves (nothing else is acquired while one is
/// being taken).</para>
/// </remarks>
internal sealed class WriterRegistry
{
    private const string EntrySuffix = ".writer";
    private const string TempPrefix = ".tmp-";

    /// <summary>How old an unlocked temporary entry must be before a scan removes it.</summary>
    internal static readonly TimeSpan TempEntryMaxAge = TimeSpan.FromMinutes(1);

    private readonly string _directory;
    private readonly string _store;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public WriterRegistry(string directory, string store, TimeProvider time, ILogger logger)
    {
        _directory = directory;
        _store = store;
        _time = time;
        _logger = logger;
    }

    public Registration Register()
    {
        Directory.CreateDirectory(_directory);
        for (int attempt = 0; ; attempt++)
        {
            var start = _time.GetUtcNow();
            string random = Random.Shared.NextInt64(long.MaxValue).ToString("x16", CultureInfo.InvariantCulture);
            int pid = Environment.ProcessId;
            string temp = Path.Combine(_directory, $"{TempPrefix}{pid}-{random}");
            string final = Path.Combine(_directory, FormattableString.Invariant($"{start.ToUnixTimeMilliseconds():D13}-{pid}-{random}{EntrySuffix}"));

            int err = LockFile.TryOpen(temp, Libc.O_RDWR | Libc.O_CREAT | Libc.O_EXCL, 0b110_110_110, out var file);
            if (file is null)
            {
                throw FileErrors.Create(_store, null, temp, "create writer registry entry", err);
            }

            // A scanner may lock the fresh, still unlocked temporary file and remove it as dead; then our lock
            // or our rename fails and we simply try again with a new name.
            // Safety (RenameNoReplace): the final name has a random part, so even a plain rename is safe.
            if (file.TryLock(exclusive: true) == 0 && ChunkFiles.RenameNoReplace(temp, final))
            {
                return new Registration(file, final, start);
            }

            file.Dispose();
            Libc.Unlink(temp);
            if (attempt >= 100)
            {
                throw new ChunkStoreException($"Store {_store}: could not register a writer session in {_directory} after 100 attempts.") { Store = _store };
            }
        }
    }

    /// <summary>Lists the live sessions, removing the entries of dead ones.</summary>
    /// <param name="removeDead">False to only count the dead entries (a dry run).</param>
    /// <param name="hooks">Interleaving hooks (tests); none when null.</param>
    /// <returns>The live sessions (start time and entry path) and the number of dead entries removed (or found).</returns>
    public async ValueTask<(List<LiveWriter> Live, int Removed)> ScanAsync(bool removeDead = true, IInterleavingHooks? hooks = null)
    {
        var live = new List<LiveWriter>();
        int removed = 0;
        if (!Directory.Exists(_directory))
        {
            return (live, removed);
        }

        var names = Directory.GetFiles(_directory);
        if (hooks is not null)
        {
            await hooks.WriterScanListedAsync().ConfigureAwait(false);
        }

        foreach (var path in names)
        {
            string name = Path.GetFileName(path);
            bool isEntry = name.EndsWith(EntrySuffix, StringComparison.Ordinal);
            bool isTemp = name.StartsWith(TempPrefix, StringComparison.Ordinal);
            if (!isEntry && !isTemp)
            {
                continue;
            }

            LockFile.TryOpen(path, Libc.O_RDONLY, 0, out var file);
            if (file is null)
            {
                continue; // Gone since the listing: its session ended.
            }

            using (file)
            {
                if (file.TryLock(exclusive: true) == Libc.EWOULDBLOCK)
                {
                    if (isEntry && TryParseStart(name, out var start))
                    {
                        live.Add(new LiveWriter(start, path));
                    }

                    continue;
                }

                // Lockable: nobody holds it. A temporary entry may be a registration between its create and its
                // lock, so only old ones are removed.
                if (isTemp && IsRecent(file))
                {
                    continue;
                }

                if (!removeDead)
                {
                    removed++;
                }
                else if (file.IsStillAt(path))
                {
                    Libc.Unlink(path);
                    removed++;
                    Log.RemovedDeadWriter(_logger, name);
                }
            }
        }

        return (live, removed);
    }

    /// <summary>
    /// Whether a temporary entry was created less than a minute ago (by the registry's clock): it may be a registration
    /// between its create and its lock. Unreadable: treated as recent (kept).
    /// </summary>
    private bool IsRecent(LockFile file)
    {
        if (file.Stat(out var st) != 0)
        {
            return true;
        }

        return FileSystemBackend.ToTime(st.ModifyTime) > _time.GetUtcNow() - TempEntryMaxAge;
    }

    private static bool TryParseStart(string name, out DateTimeOffset start)
    {
        int dash = name.IndexOf('-', StringComparison.Ordinal);
        if (dash > 0 && long.TryParse(name.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out long ms))
        {
            start = DateTimeOffset.FromUnixTimeMilliseconds(ms);
            return true;
        }

        // A locked entry we cannot read is live; treat it as started at the beginning of time (protects most).
        start = DateTimeOffset.UnixEpoch;
        return true;
    }

    /// <summary>A live session found by a scan.</summary>
    /// <param name="Start">When it began (from its entry's name; the epoch when the name cannot be read).</param>
    /// <param name="Entry">Its entry's path (the name holds the start in Unix ms and the process id).</param>
    internal readonly record struct LiveWriter(DateTimeOffset Start, string Entry);

    internal sealed class Registration(LockFile file, string path, DateTimeOffset start) : IDisposable
    {
        private LockFile? _file = file;

        public string Path { get; } = path;

        public DateTimeOffset Start { get; } = start;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _file, null) is { } file)
            {
                // Unlink while still holding the lock, then unlock and close: a scanner that opened the file meanwhile
                // sees a lockable but unlinked file and its identity check fails, so it never removes a successor.
                Libc.Unlink(Path);
                file.Dispose();
            }
        }
    }
}
