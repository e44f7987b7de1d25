using System.Buffers;
using System.Runtime.CompilerServices;
using ChunkStore.Backends;
using ChunkStore.Diagnostics;
using ChunkStore.Locking;
using ChunkStore.Native;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace ChunkStore.FileSystem;

/// <summary>
/// The filesystem backend: one file per chunk under <c>.chunks/&lt;4hex&gt;/&lt;64hex&gt;</c>, written atomically
/// (temporary file + rename), with the file's atime as the garbage-collection clock.
/// </summary>
/// <remarks>
/// Locks (<c>docs/locking.md</c>): insert, touch and rename-corrupt hold the chunk's level-1 lock for the whole
/// operation, and its level-2 section for each stat → decide → change step. Reads take no lock: chunk files are
/// immutable once renamed into place, and a reader that opened a file keeps its content even when it is renamed
/// to <c>.bad</c> or removed.
/// </remarks>
internal sealed partial class FileSystemBackend : IChunkBackend, IGarbageCollectableBackend, IReportsInvalidEntries
{
    private static readonly ChunkBackendCapabilities s_capabilities = new(IsRemote: false, HasLocalCache: false, SupportsGarbageCollection: true);

    private readonly ChunkLayout _layout;
    private readonly ChunkLockManager _locks;
    private readonly StoreCriticalSections _sections;
    private readonly SyncMode _syncMode;
    private readonly TimeSpan _lockTimeout;
    private readonly ILogger _logger;

    public FileSystemBackend(ChunkLayout layout, ChunkLockManager locks, StoreCriticalSections sections, SyncMode syncMode, TimeSpan lockTimeout, ILogger logger)
    {
        _layout = layout;
        _locks = locks;
        _sections = sections;
        _syncMode = syncMode;
        _lockTimeout = lockTimeout;
        _logger = logger;
        Description = layout.Root;
    }

    public string Description { get; }

    public ChunkBackendCapabilities Capabilities => s_capabilities;

    internal ChunkLayout Layout => _layout;

    public async ValueTask<ChunkInsertResult> InsertAsync(ChunkDigest digest, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        using var chunkLock = await _locks.AcquireAsync(digest, _lockTimeout, cancellationToken).ConfigureAwait(false);
        return await InsertLockedAsync(digest, data, chunkLock, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Inserts under a lock the caller already holds.</summary>
    /// <param name="digest">The chunk.</param>
    /// <param name="data">Its content.</param>
    /// <param name="chunkLock">Proof that the caller holds the chunk's level-1 lock.</param>
    /// <param name="cancellationToken">Cancels before the chunk is published.</param>
    internal async ValueTask<ChunkInsertResult> InsertLockedAsync(ChunkDigest digest, ReadOnlyMemory<byte> data, ChunkLock chunkLock, CancellationToken cancellationToken)
    {
        chunkLock.EnsureCovers(digest, _locks);
        string path = _layout.ChunkPath(digest);
        long wrongSize = -1;
        using (_sections.Enter(digest))
        {
            int err = Libc.LStat(path, out var st);
            if (err == 0)
            {
                if (!st.IsRegularFile)
                {
                    throw new InvalidChunkEntryException(Description, digest, path, st.KindDescription);
                }

                if ((long)st.Size == data.Length)
                {
                    // The dedup hit touches, under the chunk's lock: a sweep that saw an old atime re-checks it
                    // under the same lock before unlinking (race R5).
                    err = FaultSwitches.SkipDedupTouch ? 0 : Libc.TouchAccessTime(path);
                    if (err == 0)
                    {
                        return new ChunkInsertResult(digest, IsNew: false, data.Length);
                    }

                    if (err != Libc.ENOENT)
                    {
                        throw FileErrors.Create(Description, digest, path, "touch", err);
                    }
                }
                else
                {
                    wrongSize = (long)st.Size;
                }
            }
            else if (err != Libc.ENOENT)
            {
                throw FileErrors.Create(Description, digest, path, "stat", err);
            }
        }

        if (wrongSize >= 0)
        {
            // Same name, different size: the stored copy is corrupt (truncated or padded). Keep it as evidence.
            int index = RenameToBadLocked(digest, path, chunkLock);
            Log.ReplacedWrongSize(_logger, Description, path, wrongSize, data.Length, _layout.BadPath(digest, index));
        }

        await WriteNewLockedAsync(digest, path, data, chunkLock, cancellationToken).ConfigureAwait(false);
        return new ChunkInsertResult(digest, IsNew: true, data.Length);
    }

    private async ValueTask WriteNewLockedAsync(ChunkDigest digest, string path, ReadOnlyMemory<byte> data, ChunkLock chunkLock, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        string temp = _layout.NewTemporaryPath(digest);
        bool published = false;
        try
        {
            ChunkFiles.WriteTemporary(_layout, digest, temp, data.Span, fsync: _syncMode == SyncMode.File, Description);

            cancellationToken.ThrowIfCancellationRequested();
            chunkLock.EnsureCovers(digest, _locks);
            using (_sections.Enter(digest))
            {
                File.Move(temp, path, overwrite: true);
                published = true;
            }

            if (_syncMode == SyncMode.File)
            {
                SyncDirectory(_layout.PrefixDirectory(digest), digest);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw FileErrors.Wrap(Description, digest, published ? path : temp, published ? "sync the directory of" : "write", ex);
        }
        finally
        {
            if (!published)
            {
                TryDelete(temp);
            }
        }
    }

    public ValueTask<int> ReadAsync(ChunkDigest digest, IBufferWriter<byte> destination, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(ReadFile(digest, _layout.ChunkPath(digest), destination, verify: true));
    }

    /// <summary>Verification reads the file itself, unverified (the caller hashes and classifies it).</summary>
    public ValueTask<byte[]> ReadForVerifyAsync(ChunkDigest digest, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(ReadFile(digest, _layout.ChunkPath(digest)));
    }

    /// <summary>Reads a whole chunk file, unverified, checking it is a regular file first.</summary>
    internal byte[] ReadFile(ChunkDigest digest, string path)
    {
        var writer = new ExactArrayWriter();
        ReadFile(digest, path, writer, verify: false);
        return writer.Written;
    }

    /// <summary>
    /// Reads a whole chunk file into <paramref name="destination"/> (one <c>GetMemory</c> of the file's length, then
    /// one <c>Advance</c>), checking it is a regular file first; with <paramref name="verify"/>, only bytes whose
    /// SHA-256 is the digest are committed (else <see cref="ChunkCorruptException"/>, nothing advanced).
    /// </summary>
    internal int ReadFile(ChunkDigest digest, string path, IBufferWriter<byte> destination, bool verify)
    {
        if (ChunkFiles.StatRegular(Description, digest, path) is null)
        {
            throw new ChunkNotFoundException(Description, digest);
        }

        try
        {
            using var handle = OpenForReading(digest, path);
            long length = RandomAccess.GetLength(handle);
            if (length > ChunkStoreOptions.MaxChunkSizeLimit)
            {
                // Not one of ours: no chunk is this large, so it is not loaded (the error says how large it is).
                throw new ChunkCorruptException(Description, digest, default, length);
            }

            var buffer = destination.GetSpan((int)length)[..(int)length];
            int total = 0;
            while (total < buffer.Length)
            {
                int n = RandomAccess.Read(handle, buffer[total..], total);
                if (n == 0)
                {
                    break; // Truncated while we read (cannot happen to our immutable files, but be exact).
                }

                total += n;
            }

            if (verify && ChunkDigest.Compute(buffer[..total]) is var actual && actual != digest)
            {
                throw new ChunkCorruptException(Description, digest, actual, total);
            }

            destination.Advance(total);
            return total;
        }
        catch (FileNotFoundException)
        {
            throw new ChunkNotFoundException(Description, digest);
        }
        catch (DirectoryNotFoundException)
        {
            throw new ChunkNotFoundException(Description, digest);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw FileErrors.Wrap(Description, digest, path, "read", ex);
        }
    }

    /// <summary>
    /// Opens a chunk file for reading with <c>O_NOATIME</c> where allowed, so that reads (verification above all)
    /// do not move the atime that garbage collection uses as its clock on <c>relatime</c>/<c>strictatime</c> mounts.
    /// </summary>
    private SafeFileHandle OpenForReading(ChunkDigest digest, string path)
    {
        int fd = Libc.OpenRetry(path, Libc.O_RDONLY | Libc.O_NOATIME | Libc.O_NOFOLLOW, 0);
        if (fd == -Libc.EPERM)
        {
            // O_NOATIME needs file ownership or CAP_FOWNER.
            fd = Libc.OpenRetry(path, Libc.O_RDONLY | Libc.O_NOFOLLOW, 0);
        }

        if (fd == -Libc.ENOENT || fd == -Libc.ENOTDIR)
        {
            throw new ChunkNotFoundException(Description, digest);
        }

        if (fd < 0)
        {
            throw FileErrors.Create(Description, digest, path, "open", -fd);
        }

        return new SafeFileHandle(fd, ownsHandle: true);
    }

    public ValueTask<bool> ContainsAsync(ChunkDigest digest, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(ChunkFiles.StatRegular(Description, digest, _layout.ChunkPath(digest)) is not null);
    }

    public async ValueTask<bool> TouchAsync(ChunkDigest digest, CancellationToken cancellationToken)
    {
        using var chunkLock = await _locks.AcquireAsync(digest, _lockTimeout, cancellationToken).ConfigureAwait(false);
        return TouchLocked(digest, chunkLock);
    }

    /// <summary>Touches a chunk under the caller's lock; false when absent.</summary>
    internal bool TouchLocked(ChunkDigest digest, ChunkLock chunkLock)
    {
        chunkLock.EnsureCovers(digest, _locks);
        string path = _layout.ChunkPath(digest);
        using (_sections.Enter(digest))
        {
            if (ChunkFiles.StatRegular(Description, digest, path) is null)
            {
                return false;
            }

            int err = Libc.TouchAccessTime(path);
            return err == 0 ? true : throw FileErrors.Create(Description, digest, path, "touch", err);
        }
    }

    public async ValueTask<int?> RenameCorruptAsync(ChunkDigest digest, bool onlyIfCorrupt, CancellationToken cancellationToken)
    {
        using var chunkLock = await _locks.AcquireAsync(digest, _lockTimeout, cancellationToken).ConfigureAwait(false);
        string path = _layout.ChunkPath(digest);
        if (ChunkFiles.StatRegular(Description, digest, path) is null)
        {
            return null;
        }

        // A concurrent insert may have repaired the chunk since the caller read it: re-check under the lock.
        if (onlyIfCorrupt && HoldsIntactChunk(digest, path))
        {
            return null;
        }

        int index = RenameToBadLocked(digest, path, chunkLock);
        Log.RenamedCorrupt(_logger, Description, digest, _layout.BadPath(digest, index));
        return index;
    }

    /// <summary>True when the chunk file holds exactly the chunk's content; a file larger than any chunk never does.</summary>
    private bool HoldsIntactChunk(ChunkDigest digest, string path)
    {
        try
        {
            return ChunkDigest.Compute(ReadFile(digest, path)) == digest;
        }
        catch (ChunkCorruptException)
        {
            return false; // Too large to be a chunk (ReadFile refuses to load it): garbage under the chunk's name.
        }
    }

    /// <summary>Moves the chunk file to the first free <c>.N.bad</c> name (N = 9 is replaced when all are taken).</summary>
    private int RenameToBadLocked(ChunkDigest digest, string path, ChunkLock chunkLock)
    {
        chunkLock.EnsureCovers(digest, _locks);
        int index = ChunkFiles.FirstFreeBadIndex(_layout, digest);
        string badPath = _layout.BadPath(digest, index);
        using (_sections.Enter(digest))
        {
            try
            {
                File.Move(path, badPath, overwrite: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw FileErrors.Wrap(Description, digest, path, "rename to " + badPath, ex);
            }
        }

        if (_syncMode == SyncMode.File)
        {
            SyncDirectory(_layout.PrefixDirectory(digest), digest);
        }

        return index;
    }

    public IAsyncEnumerable<ChunkDigest> ListAsync(CancellationToken cancellationToken) => ListAsync(null, cancellationToken);

    /// <summary>
    /// Lists the chunks: the entries with a chunk's name that are regular files, as <see cref="ContainsAsync"/> sees
    /// them (one <c>lstat</c> each). Anything else under a chunk's name is skipped and reported to <paramref name="onInvalid"/>.
    /// </summary>
    public async IAsyncEnumerable<ChunkDigest> ListAsync(Action<InvalidChunkEntryException>? onInvalid, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var info in ListInfoAsync(onInvalid, cancellationToken).ConfigureAwait(false))
        {
            yield return info.Digest;
        }
    }

    public IAsyncEnumerable<ChunkInfo> ListInfoAsync(CancellationToken cancellationToken) => ListInfoAsync(null, cancellationToken);

    /// <summary>The listing with what its <c>lstat</c> already says: size and atime (the GC clock).</summary>
    private async IAsyncEnumerable<ChunkInfo> ListInfoAsync(Action<InvalidChunkEntryException>? onInvalid, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var (name, path) in EnumerateEntriesAsync(cancellationToken).ConfigureAwait(false))
        {
            if (name.Kind != ChunkEntryKind.Chunk)
            {
                continue;
            }

            int err = Libc.LStat(path, out var st);
            if (err == 0 && st.IsRegularFile)
            {
                yield return new ChunkInfo(name.Digest, (long)st.Size, ToTime(st.AccessTime));
            }
            else if (err == 0)
            {
                onInvalid?.Invoke(new InvalidChunkEntryException(Description, name.Digest, path, st.KindDescription));
            }
            else if (err != Libc.ENOENT)
            {
                throw FileErrors.Create(Description, name.Digest, path, "stat", err);
            }

            // ENOENT: removed or renamed since the directory was read.
        }
    }

    /// <summary>Enumerates every entry of the chunk directories whose name parses; other names go to <paramref name="unknown"/> and are never touched.</summary>
    internal async IAsyncEnumerable<(ChunkEntryName Name, string Path)> EnumerateEntriesAsync(
        [EnumeratorCancellation] CancellationToken cancellationToken, Action<string>? unknown = null)
    {
        if (!Directory.Exists(_layout.ChunksDirectory))
        {
            yield break;
        }

        var prefixes = new List<string>();
        foreach (var dir in ListDirectory(_layout.ChunksDirectory) ?? [])
        {
            var dirName = Path.GetFileName(dir.AsSpan());
            if (ChunkLayout.IsPrefixName(dirName) && Directory.Exists(dir))
            {
                prefixes.Add(dir);
            }
            else if (!dirName.SequenceEqual(LegacyAtimeProbeName))
            {
                unknown?.Invoke(dir);
            }
        }

        prefixes.Sort(StringComparer.Ordinal);
        foreach (var dir in prefixes)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (ListDirectory(dir) is not { } names)
            {
                continue; // Removed since the listing of .chunks.
            }

            string prefix = Path.GetFileName(dir);
            foreach (var path in names)
            {
                if (ParseInPrefix(path, prefix, out var name))
                {
                    yield return (name, path);
                }
                else
                {
                    unknown?.Invoke(path);
                }
            }

            await Task.Yield();
        }
    }

    /// <summary>The entries of a chunk directory; null when it is gone. A directory the process may not read is a typed error naming it, not a raw <see cref="UnauthorizedAccessException"/>.</summary>
    private List<string>? ListDirectory(string directory)
    {
        try
        {
            return [.. Directory.EnumerateFileSystemEntries(directory)];
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw FileErrors.Wrap(Description, null, directory, "list the chunk directory", ex);
        }
    }

    private static bool ParseInPrefix(string path, string prefix, out ChunkEntryName name)
    {
        var fileName = Path.GetFileName(path.AsSpan());
        return ChunkEntryName.TryParse(fileName, out name) && fileName.StartsWith(prefix);
    }

    public ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        int fd = Libc.OpenRetry(_layout.Root, Libc.O_RDONLY | Libc.O_DIRECTORY, 0);
        if (fd < 0)
        {
            throw FileErrors.Create(Description, null, _layout.Root, "open for syncfs", -fd);
        }

        try
        {
            if (Libc.Syncfs(fd) != 0)
            {
                throw FileErrors.Create(Description, null, _layout.Root, "syncfs", Libc.LastError);
            }
        }
        finally
        {
            Libc.Close(fd);
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private void SyncDirectory(string directory, ChunkDigest digest)
    {
        int fd = Libc.OpenRetry(directory, Libc.O_RDONLY | Libc.O_DIRECTORY, 0);
        if (fd < 0)
        {
            throw FileErrors.Create(Description, digest, directory, "open directory for fsync", -fd);
        }

        try
        {
            if (Libc.Fsync(fd) != 0)
            {
                throw FileErrors.Create(Description, digest, directory, "fsync directory", Libc.LastError);
            }
        }
        finally
        {
            Libc.Close(fd);
        }
    }

    private void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Log.TempCleanupFailed(_logger, Description, path, ex);
        }
    }
}
