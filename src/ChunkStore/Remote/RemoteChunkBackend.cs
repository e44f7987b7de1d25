using System.Buffers;
using System.Runtime.CompilerServices;
using ChunkStore.Backends;
using ChunkStore.Caching;
using ChunkStore.Diagnostics;
using ChunkStore.FileSystem;
using ChunkStore.Locking;
using Microsoft.Extensions.Logging;

namespace ChunkStore.Remote;

/// <summary>
/// The remote chunk protocol over any <see cref="IRemoteStorage"/> (S3 objects in the <c>ChunkStore.S3</c> package,
/// which opens it as <c>S3ChunkBackend</c>; an in-memory storage in tests): chunks are objects
/// <c>&lt;prefix&gt;/.chunks/&lt;4hex&gt;/&lt;64hex&gt;</c> (<see cref="RemoteChunkKey"/>); a local directory in the
/// filesystem layout holds, per known chunk, either its full content (tracked by an in-memory LRU bounded in bytes)
/// or an empty marker ("the object exists"). The local file's atime is the garbage-collection clock.
/// </summary>
/// <remarks>
/// <para>Invariants (DESIGN §5): a local file or marker for D ⇒ D's object exists; D in the LRU ⇒ D's full local file
/// exists. Lock order (<c>docs/locking.md</c>): the per-chunk lock (level 1) is the only lock held across network I/O;
/// level-2 sections cover each stat → decide → change of local files; the LRU (level 3) is entered last.</para>
/// <para>Every path that changes the local state of D, or that uploads, fetches-and-caches, renames or deletes D's
/// object, holds D's level-1 lock: insert (from the existence check until the marker and LRU entry are written, race
/// R1), read-miss fill (O-4), rename-corrupt (R3/R4), garbage collection (try-lock, kept until the delete returns,
/// R2), and the LRU eviction callback (try-lock, retried later when busy).</para>
/// </remarks>
internal partial class RemoteChunkBackend : IChunkBackend, IGarbageCollectableBackend
{
    private static readonly ChunkBackendCapabilities s_capabilities = new(IsRemote: true, HasLocalCache: true, SupportsGarbageCollection: true);
    private static readonly TimeSpan s_evictionRetryDelay = TimeSpan.FromMilliseconds(20);

    private readonly RemoteBackendSettings _options;
    private readonly ChunkStoreOptions _storeOptions;
    private readonly ChunkLayout _layout;
    private readonly ChunkLockManager _locks;
    private readonly StoreCriticalSections _sections;
    private readonly TimeSpan _lockTimeout;
    private readonly ILogger _logger;
    private readonly FileSystemBackend _local;
    private readonly IRemoteStorage _storage;
    private readonly LocalChunkCache _cache;
    private readonly IRemoteBackendInstrumentation _instrumentation;
    private readonly CancellationTokenSource _disposing = new();
    private readonly PendingDeletes _pendingDeletes;
    private readonly IRemoteStoreIdentity _identity;
    private readonly TimeProvider _time;
    private long _pendingEvictions;

    /// <summary>Creates the backend over <paramref name="storage"/>.</summary>
    /// <param name="services">The store's shared services.</param>
    /// <param name="settings">The package's settings (key prefix, cache, collection and delete settings).</param>
    /// <param name="storage">The objects; disposed with the backend.</param>
    /// <param name="identity">The check that the local root and the prefix belong together.</param>
    /// <param name="instrumentation">The package's metrics and spans; disposed with the backend.</param>
    internal RemoteChunkBackend(BackendServices services, RemoteBackendSettings settings, IRemoteStorage storage, IRemoteStoreIdentity identity, IRemoteBackendInstrumentation instrumentation)
    {
        _options = settings;
        _storeOptions = services.Options;
        _layout = services.Layout;
        _locks = services.Locks;
        _sections = services.Sections;
        _lockTimeout = services.Options.LockTimeout;
        _logger = services.LoggerFactory.CreateLogger(settings.LoggerCategory);
        _local = new FileSystemBackend(_layout, _locks, _sections, SyncMode.None, _lockTimeout, services.Logger);
        _instrumentation = instrumentation;
        _storage = storage;
        _cache = new LocalChunkCache(settings.CacheCapacityBytes, OnEvicted);
        _pendingDeletes = new PendingDeletes(_layout.Root, settings.DeleteSettleTime, settings.Description, services.Options.TimeProvider);
        _identity = identity;
        _time = services.Options.TimeProvider;
        Description = settings.Description;
    }

    public string Description { get; }

    public ChunkBackendCapabilities Capabilities => s_capabilities;

    /// <summary>Gets the in-memory LRU of full local files.</summary>
    internal LocalChunkCache Cache => _cache;

    internal ChunkLayout Layout => _layout;

    internal string KeyPrefix => _options.KeyPrefix;

    /// <summary>Gets the number of evictions waiting for a busy chunk lock.</summary>
    internal long PendingEvictions => Interlocked.Read(ref _pendingEvictions);

    /// <summary>Gets the store's interleaving hooks (tests), read at every point so a test may swap them after open.</summary>
    private IInterleavingHooks Hooks => _storeOptions.InterleavingHooks;

    /// <summary>Gets the record of deletes that may still land (see <see cref="Remote.PendingDeletes"/>).</summary>
    internal PendingDeletes PendingDeletes => _pendingDeletes;

    internal string ObjectKey(ChunkDigest digest) => RemoteChunkKey.ForChunk(digest).ToKey(_options.KeyPrefix);

    /// <summary>Checks that the local root and the prefix belong together (on S3 one GET of the identity object, which
    /// also proves the bucket answers) and brings the LRU in line with the full files found on disk.</summary>
    internal async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await _identity.OpenAsync(cancellationToken).ConfigureAwait(false);
        RestoreCache();
    }

    public async ValueTask<ChunkInsertResult> InsertAsync(ChunkDigest digest, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        string key = ObjectKey(digest);
        bool uploaded = false;
        while (true)
        {
            TimeSpan wait;
            using (var chunkLock = await _locks.AcquireAsync(digest, _lockTimeout, cancellationToken).ConfigureAwait(false))
            {
                // Race R1: the lock is held from the existence check until marker and LRU entry are written, so a
                // garbage collection listing the new object either skips it (busy) or sees the marker.
                if (TryDeduplicateLocked(digest, data) is { } duplicate)
                {
                    return duplicate;
                }

                // The local entry is written while the upload is in flight (a temporary file: the marker, or the full
                // copy with CacheOnInsert) and put in place under the lock once the object exists: the network wait
                // hides the file's creation (and a young store's mkdir of the prefix directory).
                var upload = TryUploadLockedAsync(digest, key, data, cancellationToken);
                var prepared = PrepareLocalEntry(digest, data.Span);
                bool published = false;
                try
                {
                    // 200 or 412 alike: if a delete of the key may still land, the object (ours or an old one) may vanish.
                    uploaded |= await upload.ConfigureAwait(false);
                    if (_pendingDeletes.Unsettled(key) is not { } unsettled)
                    {
                        published = true;
                        return await RecordUploadLockedAsync(chunkLock, digest, data, uploaded, prepared).ConfigureAwait(false);
                    }

                    wait = unsettled;
                }
                finally
                {
                    if (!published && prepared is { } unused)
                    {
                        _ = LocalEntries.TryRemove(unused.Path);
                    }
                }
            }

            // Never wait with the chunk lock held: it would block this chunk's stripe in every process. Without a marker
            // the object is protected meanwhile by its fresh LastModified (the sweep's server-time guard); look again.
            await WaitForUnsettledDeleteAsync(digest, wait, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The dedup paths of insert, under the chunk's lock: a local file or marker (touched, O-1); null when there is none.</summary>
    private ChunkInsertResult? TryDeduplicateLocked(ChunkDigest digest, ReadOnlyMemory<byte> data)
    {
        // O-1: every dedup path touches the local file, the LRU-hit path included.
        bool inCache = _cache.TryTouch(digest);
        if (ChunkStore.Diagnostics.FaultSwitches.SkipDedupTouch && StatLocal(digest) is not null)
        {
            return new ChunkInsertResult(digest, IsNew: false, data.Length); // torture harness only: the O-1 bug
        }

        if (TouchLocal(digest))
        {
            if (StatLocal(digest) is { Size: > 0 } st && (long)st.Size != data.Length)
            {
                // A full local copy of the wrong size is corrupt (the object was verified when it was cached or
                // uploaded from these very bytes): replace it with the content the caller just gave us.
                WriteLocalLocked(digest, data.Span, atime: null);
            }

            return new ChunkInsertResult(digest, IsNew: false, data.Length);
        }

        if (inCache)
        {
            // The LRU claimed a file that is gone (removed behind our back): forget it and upload.
            // Safety: we hold the chunk's lock; the file is already absent; the chunk is re-uploaded below.
            _cache.UnsafeRemove(digest);
        }

        return null;
    }

    /// <summary>
    /// After the upload (200 or 412) with no delete of the key unsettled: the local entry (O-2), still under the lock —
    /// the one <paramref name="prepared"/> during the upload, else an empty marker written now. Removes
    /// <paramref name="prepared"/> when it was not put in place.
    /// </summary>
    private async Task<ChunkInsertResult> RecordUploadLockedAsync(ChunkLock chunkLock, ChunkDigest digest, ReadOnlyMemory<byte> data, bool isNew, PreparedEntry? prepared)
    {
        try
        {
            await Hooks.S3UploadedAsync(digest).ConfigureAwait(false);

            if (ChunkStore.Diagnostics.FaultSwitches.SkipInsertMarker)
            {
                return new ChunkInsertResult(digest, isNew, data.Length); // torture harness only: the O-2 bug
            }

            // O-2: after a successful upload (or a 412: the object exists) always write at least a marker.
            chunkLock.EnsureCovers(digest, _locks);
            bool placed = prepared is { } entry && PublishPreparedLocked(digest, entry, data.Length);
            prepared = null;
            if (!placed)
            {
                WriteLocalLocked(digest, [], atime: null);
            }

            DeleteLocal(_layout.UsingPath(digest), digest);
            return new ChunkInsertResult(digest, isNew, data.Length);
        }
        finally
        {
            if (prepared is { } unused)
            {
                _ = LocalEntries.TryRemove(unused.Path);
            }
        }
    }

    /// <summary>A local entry written during the upload under a temporary name: the full copy, or an empty marker.</summary>
    private readonly record struct PreparedEntry(string Path, bool Full);

    /// <summary>
    /// Writes, with no lock needed (a fresh temporary name), the local entry an insert puts in place once the upload
    /// succeeded: the full copy when <see cref="RemoteBackendSettings.CacheOnInsert"/> and it fits the cache, else an
    /// empty marker. Null when it could not be written: the marker is then written after the upload (and fails there
    /// if the disk still refuses it).
    /// </summary>
    private PreparedEntry? PrepareLocalEntry(ChunkDigest digest, ReadOnlySpan<byte> data)
    {
        bool full = _options.CacheOnInsert && _options.CacheCapacityBytes >= data.Length;
        string temp = _layout.NewTemporaryPath(digest);
        try
        {
            ChunkFiles.WriteTemporary(_layout, digest, temp, full ? data : [], fsync: false, Description);
            return new PreparedEntry(temp, full);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ChunkStorageException)
        {
            _ = LocalEntries.TryRemove(temp);
            if (full)
            {
                // (A marker that cannot be written is not logged here: the write after the upload tries again and throws.)
                RemoteLog.CacheCopySkipped(_logger, Description, digest, ex.Message);
            }

            return null;
        }
    }

    /// <summary>
    /// Under the chunk's lock, after the upload: puts the prepared entry in place as D's local file, touched first (the
    /// upload's end, not the file's creation, is the chunk's last touch), and registers a full copy in the LRU (one the
    /// LRU refuses becomes a marker). False when the prepared file is gone: a collection removes temporary files older
    /// than its cutoff without a lock, so an upload that outlasted the grace period may find it removed.
    /// </summary>
    private bool PublishPreparedLocked(ChunkDigest digest, PreparedEntry prepared, int length)
    {
        if (!LocalEntries.TryTouch(prepared.Path))
        {
            return false;
        }

        try
        {
            using (_sections.Enter(digest))
            {
                LocalEntries.Replace(prepared.Path, _layout.ChunkPath(digest), keepLaterTouch: false);
            }
        }
        catch (FileNotFoundException)
        {
            return false;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw FileErrors.Wrap(Description, digest, prepared.Path, "write the local cache file", ex);
        }

        if (prepared.Full && !_cache.TryAdd(digest, length))
        {
            // Not tracked: an untracked full file would never be evicted (O-2: but always a marker).
            WriteLocalLocked(digest, [], LastTouched(digest));
        }

        return true;
    }

    /// <summary>Waits (holding no lock) until a delete of <paramref name="digest"/> that may still land has settled.</summary>
    private async Task WaitForUnsettledDeleteAsync(ChunkDigest digest, TimeSpan wait, CancellationToken cancellationToken)
    {
        RemoteLog.WaitingForUnsettledDelete(_logger, Description, digest, wait);
        await Task.Delay(wait + TimeSpan.FromMilliseconds(50), cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask<bool> TryUploadLockedAsync(ChunkDigest digest, string key, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        bool atomic = _storage.Capabilities.AtomicPutIfAbsent;
        if (!atomic && await _storage.ExistsAsync(key, digest, cancellationToken).ConfigureAwait(false))
        {
            return false;
        }

        return await _storage.PutAsync(key, data, ifAbsent: atomic, digest, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<int> ReadAsync(ChunkDigest digest, IBufferWriter<byte> destination, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();

        // Fast path without the lock: full local files are immutable once renamed into place; an eviction replaces
        // the file (never truncates it), so an open reader keeps the old content. Verified: a bad local copy falls
        // through to the remote object.
        if (TryReadLocalFull(digest, destination) is int local)
        {
            _cache.TryTouch(digest);
            _instrumentation.RecordCacheHit();
            return local;
        }

        // O-4: fetch and cache under the chunk's lock, and cache only verified bytes.
        using var chunkLock = await _locks.AcquireAsync(digest, _lockTimeout, cancellationToken).ConfigureAwait(false);
        if (TryReadLocalFull(digest, destination) is int again)
        {
            _cache.TryTouch(digest);
            _instrumentation.RecordCacheHit();
            return again;
        }

        _instrumentation.RecordCacheMiss();

        // One copy: from the response straight into the caller's buffer, not yet committed.
        string key = ObjectKey(digest);
        if (await _storage.ReadAsync(key, digest, destination, cancellationToken).ConfigureAwait(false) is not var (bytes, lastModified))
        {
            // The object is gone: a marker or copy that claims it would make inserts skip the upload (and contains lie).
            chunkLock.EnsureCovers(digest, _locks);
            DropStaleLocalLocked(digest);
            throw new ChunkNotFoundException(Description, digest);
        }

        await Hooks.S3FetchedAsync(digest).ConfigureAwait(false);

        // The one hash of this read: a corrupt object is reported, never cached or committed to the caller's buffer.
        var actual = ChunkDigest.Compute(bytes.Span);
        if (actual != digest)
        {
            throw new ChunkCorruptException(Description, digest, actual, bytes.Length);
        }

        if (_pendingDeletes.Unsettled(key) is null)
        {
            // (Not cached while a delete of the object may still land: local state must not outlive the object.)
            // A read does not touch: keep the last touch (marker or .using: a fill between mark and sweep must not
            // make a referenced chunk look old), or start from the object's age when there was none.
            var atime = LastTouched(digest) ?? lastModified;
            chunkLock.EnsureCovers(digest, _locks);
            try
            {
                StoreLocalLocked(digest, bytes.Span, atime);
            }
            catch (ChunkStorageException ex) when (ex.Kind == StorageErrorKind.DiskFull)
            {
                // Caching is optional for a read: the caller gets the verified bytes anyway.
                RemoteLog.CacheCopySkipped(_logger, Description, digest, ex.Message);
            }
        }

        destination.Advance(bytes.Length);
        return bytes.Length;
    }

    /// <summary>Under the chunk's lock, after the server said the object is gone: drops the local file or marker and the LRU entry.</summary>
    private void DropStaleLocalLocked(ChunkDigest digest)
    {
        // Safety: the caller holds the chunk's lock; the object is absent (the server answered 404 under that lock);
        // the local file that claims it is removed right below.
        _cache.UnsafeRemove(digest);
        if (StatLocal(digest) is not null)
        {
            using (_sections.Enter(digest))
            {
                DeleteLocal(_layout.ChunkPath(digest), digest);
            }

            RemoteLog.StaleMarkerRemoved(_logger, Description, digest);
        }
    }

    /// <summary>Verification reads the object itself (1 GET): a good local copy must not hide a corrupt object.</summary>
    public async ValueTask<byte[]> ReadForVerifyAsync(ChunkDigest digest, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var writer = new ExactArrayWriter();
        var fetched = await _storage.ReadAsync(ObjectKey(digest), digest, writer, cancellationToken).ConfigureAwait(false)
            ?? throw new ChunkNotFoundException(Description, digest);
        writer.Advance(fetched.Bytes.Length);
        return writer.Written;
    }

    public async ValueTask<bool> ContainsAsync(ChunkDigest digest, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();

        // The local file, not this process's LRU: another process sharing the local root may have collected the chunk
        // or moved it aside (both remove the file under the chunk's lock before the object goes).
        if (StatLocal(digest) is not null)
        {
            return true;
        }

        return await _storage.ExistsAsync(ObjectKey(digest), digest, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<bool> TouchAsync(ChunkDigest digest, CancellationToken cancellationToken)
    {
        string key = ObjectKey(digest);
        while (true)
        {
            TimeSpan wait;
            using (var chunkLock = await _locks.AcquireAsync(digest, _lockTimeout, cancellationToken).ConfigureAwait(false))
            {
                if (TouchLocal(digest))
                {
                    return true;
                }

                // No local state (e.g. a fresh cache directory): the object may still exist. A marker written under
                // the lock after a successful HEAD is as good as one written by an insert.
                if (!await _storage.ExistsAsync(key, digest, cancellationToken).ConfigureAwait(false))
                {
                    return false;
                }

                if (_pendingDeletes.Unsettled(key) is not { } unsettled)
                {
                    chunkLock.EnsureCovers(digest, _locks);
                    WriteLocalLocked(digest, [], atime: null);
                    DeleteLocal(_layout.UsingPath(digest), digest);
                    return true;
                }

                wait = unsettled;
            }

            await WaitForUnsettledDeleteAsync(digest, wait, cancellationToken).ConfigureAwait(false);
        }
    }

    public async IAsyncEnumerable<ChunkDigest> ListAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var page in ListPagesAsync(null, cancellationToken).ConfigureAwait(false))
        {
            foreach (var obj in page)
            {
                if (RemoteChunkKey.TryParse(obj.Key, _options.KeyPrefix, out var key) && key.Kind == ChunkEntryKind.Chunk)
                {
                    yield return key.Digest;
                }
            }
        }
    }

    /// <summary>The listing with the object's size, and as last touch the GC's answer: the local state's newest atime, else the object's LastModified (server time).</summary>
    public async IAsyncEnumerable<ChunkInfo> ListInfoAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var page in ListPagesAsync(null, cancellationToken).ConfigureAwait(false))
        {
            foreach (var obj in page)
            {
                if (RemoteChunkKey.TryParse(obj.Key, _options.KeyPrefix, out var key) && key.Kind == ChunkEntryKind.Chunk)
                {
                    yield return new ChunkInfo(key.Digest, obj.Size, LastTouched(key.Digest) ?? obj.LastModified ?? DateTimeOffset.UnixEpoch);
                }
            }
        }
    }

    /// <summary>Pages through the objects under the store's <c>.chunks/</c> prefix, counting each page's request into <paramref name="result"/>.</summary>
    internal async IAsyncEnumerable<IReadOnlyList<RemoteObject>> ListPagesAsync(GarbageCollectionResult? result, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var page in _storage.ListAsync(RemoteChunkKey.ListPrefix(_options.KeyPrefix), cancellationToken).ConfigureAwait(false))
        {
            if (result is not null)
            {
                result.RemoteRequests++;
            }

            yield return page;
        }
    }

    public ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        // Every successful PUT is durable on the server; local markers are rebuilt by GC phase 1 if lost.
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposing.IsCancellationRequested)
        {
            return;
        }

        await _disposing.CancelAsync().ConfigureAwait(false);
        _cache.Dispose();
        _storage.Dispose();
        _instrumentation.Dispose();
        await _local.DisposeAsync().ConfigureAwait(false);
        _disposing.Dispose();
    }
}
