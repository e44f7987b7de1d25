using System.Buffers;
using System.Net;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Amazon.S3;
using Amazon.S3.Model;
using ChunkStore.Backends;
using ChunkStore.Caching;
using ChunkStore.FileSystem;
using ChunkStore.Locking;
using ChunkStore.Diagnostics;
using ChunkStore.S3.Diagnostics;
using Microsoft.Extensions.Logging;
using ChunkStore.Remote;

namespace ChunkStore.S3;

/// <summary>
/// The S3 backend: chunks are objects <c>&lt;prefix&gt;/.chunks/&lt;4hex&gt;/&lt;64hex&gt;</c>; a local directory in the
/// filesystem layout holds, per known chunk, either its full content (tracked by an in-memory LRU bounded in bytes)
/// or an empty marker ("the object exists"). The local file's atime is the garbage-collection clock.
/// </summary>
/// <remarks>
/// <para>Invariants (DESIGN §5): a local file or marker for D ⇒ D exists in S3; D in the LRU ⇒ D's full local file
/// exists. Lock order (<c>docs/locking.md</c>): the per-chunk lock (level 1) is the only lock held across network I/O;
/// level-2 sections cover each stat → decide → change of local files; the LRU (level 3) is entered last.</para>
/// <para>Every path that changes the local state of D, or that uploads, fetches-and-caches, renames or deletes D's
/// object, holds D's level-1 lock: insert (from the existence check until the marker and LRU entry are written, race
/// R1), read-miss fill (O-4), rename-corrupt (R3/R4), garbage collection (try-lock, kept until DeleteObjects returns,
/// R2), and the LRU eviction callback (try-lock, retried later when busy).</para>
/// </remarks>
internal sealed partial class S3ChunkBackend : IChunkBackend, IGarbageCollectableBackend
{
    private static readonly ChunkBackendCapabilities s_capabilities = new(IsRemote: true, HasLocalCache: true, SupportsGarbageCollection: true);
    private static readonly TimeSpan s_evictionRetryDelay = TimeSpan.FromMilliseconds(20);

    private readonly S3BackendOptions _options;
    private readonly ChunkStoreOptions _storeOptions;
    private readonly ChunkLayout _layout;
    private readonly ChunkLockManager _locks;
    private readonly StoreCriticalSections _sections;
    private readonly TimeSpan _lockTimeout;
    private readonly ILogger _logger;
    private readonly FileSystemBackend _local;
    private readonly S3Requests _requests;
    private readonly LocalChunkCache _cache;
    private readonly S3Instrumentation _instrumentation;
    private readonly CancellationTokenSource _disposing = new();
    private readonly PendingDeletes _pendingDeletes;
    private readonly S3StoreIdentity _identity;
    private readonly TimeProvider _time;
    private long _pendingEvictions;

    public S3ChunkBackend(BackendServices services, S3BackendOptions options)
    {
        _options = options;
        _storeOptions = services.Options;
        _layout = services.Layout;
        _locks = services.Locks;
        _sections = services.Sections;
        _lockTimeout = services.Options.LockTimeout;
        _logger = services.LoggerFactory.CreateLogger("ChunkStore.S3");
        _local = new FileSystemBackend(_layout, _locks, _sections, SyncMode.None, _lockTimeout, services.Logger);
        _instrumentation = new S3Instrumentation(services.Options.MeterFactory);
        _requests = new S3Requests(options, _instrumentation);
        _cache = new LocalChunkCache(options.CacheCapacityBytes, OnEvicted);
        _pendingDeletes = new PendingDeletes(_layout.Root, options.DeleteSettleTime, options.Description, services.Options.TimeProvider);
        _identity = new S3StoreIdentity(options, _requests, _layout.Root);
        _time = services.Options.TimeProvider;
        Description = options.Description;
    }

    public string Description { get; }

    public ChunkBackendCapabilities Capabilities => s_capabilities;

    /// <summary>Gets the request counters (tests assert the request budget of each operation).</summary>
    internal S3Requests Requests => _requests;

    /// <summary>Gets the package's meter and spans for this store.</summary>
    internal S3Instrumentation Instrumentation => _instrumentation;

    /// <summary>Gets the in-memory LRU of full local files.</summary>
    internal LocalChunkCache Cache => _cache;

    internal ChunkLayout Layout => _layout;

    internal string KeyPrefix => _options.KeyPrefix;

    internal string Bucket => _options.Bucket;

    /// <summary>Gets the number of evictions waiting for a busy chunk lock.</summary>
    internal long PendingEvictions => Interlocked.Read(ref _pendingEvictions);

    /// <summary>Gets the store's interleaving hooks (tests), read at every point so a test may swap them after open.</summary>
    private IInterleavingHooks Hooks => _storeOptions.InterleavingHooks;

    /// <summary>Gets the record of deletes that may still land (see <see cref="Remote.PendingDeletes"/>).</summary>
    internal PendingDeletes PendingDeletes => _pendingDeletes;

    internal string ObjectKey(ChunkDigest digest) => S3ChunkKey.ForChunk(digest).ToKey(_options.KeyPrefix);

    /// <summary>Checks that the local root and the bucket prefix belong together (one GET of the identity object, which
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

                // 200 or 412 alike: if a delete of the key may still land, the object (ours or an old one) may vanish.
                uploaded |= await TryUploadLockedAsync(digest, key, data, cancellationToken).ConfigureAwait(false);
                if (_pendingDeletes.Unsettled(key) is not { } unsettled)
                {
                    var result = await RecordUploadLockedAsync(chunkLock, digest, data, uploaded).ConfigureAwait(false);
                    chunkLock.Dispose();
                    if (_options.CacheOnInsert)
                    {
                        CacheFullCopy(digest, data.Span);
                    }

                    return result;
                }

                wait = unsettled;
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

    /// <summary>After the upload (200 or 412) with no delete of the key unsettled: the marker (O-2), still under the lock.</summary>
    private async Task<ChunkInsertResult> RecordUploadLockedAsync(ChunkLock chunkLock, ChunkDigest digest, ReadOnlyMemory<byte> data, bool isNew)
    {
        await Hooks.S3UploadedAsync(digest).ConfigureAwait(false);

        if (ChunkStore.Diagnostics.FaultSwitches.SkipInsertMarker)
        {
            return new ChunkInsertResult(digest, isNew, data.Length); // torture harness only: the O-2 bug
        }

        // O-2: after a successful upload (or a 412: the object exists) always write at least a marker — and only that
        // under the lock: the full copy is a cache (CacheOnInsert writes it after the lock is released).
        chunkLock.EnsureCovers(digest, _locks);
        WriteLocalLocked(digest, [], atime: null);
        DeleteLocal(_layout.UsingPath(digest), digest);
        return new ChunkInsertResult(digest, isNew, data.Length);
    }

    /// <summary>
    /// After an insert released the chunk's lock: replace the fresh marker by the full copy under a try-lock (busy ⇒
    /// another operation decides the local state; skipped), keeping the marker's time. A cache write, never required.
    /// </summary>
    private void CacheFullCopy(ChunkDigest digest, ReadOnlySpan<byte> data)
    {
        if (_options.CacheCapacityBytes < data.Length)
        {
            return;
        }

        using var chunkLock = _locks.TryAcquire(digest);
        if (chunkLock is null || StatLocal(digest) is not { Size: 0 })
        {
            return; // busy, or no longer our marker (collected, renamed, or already a full copy)
        }

        try
        {
            StoreLocalLocked(digest, data, LastTouched(digest));
        }
        catch (ChunkStorageException ex) when (ex.Kind == StorageErrorKind.DiskFull)
        {
            S3Log.CacheCopySkipped(_logger, Description, digest, ex.Message);
        }
    }

    /// <summary>Waits (holding no lock) until a delete of <paramref name="digest"/> that may still land has settled.</summary>
    private async Task WaitForUnsettledDeleteAsync(ChunkDigest digest, TimeSpan wait, CancellationToken cancellationToken)
    {
        S3Log.WaitingForUnsettledDelete(_logger, Description, digest, wait);
        await Task.Delay(wait + TimeSpan.FromMilliseconds(50), cancellationToken).ConfigureAwait(false);
    }

    private async Task<bool> TryUploadLockedAsync(ChunkDigest digest, string key, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        if (!_options.UseConditionalWrites && await HeadObjectAsync(digest, key, cancellationToken).ConfigureAwait(false))
        {
            return false;
        }

        // (Every attempt gets a fresh stream over the same bytes: a retry re-reads the body from the start.)
        return await _requests.PutAsync(S3RequestKind.Put, _options.Bucket, key, () => AsStream(data), _options.UseConditionalWrites, "upload", digest, cancellationToken).ConfigureAwait(false);
    }

    private async Task<bool> HeadObjectAsync(ChunkDigest? digest, string key, CancellationToken cancellationToken)
    {
        try
        {
            await _requests.SendAsync(
                S3RequestKind.Head,
                ct => _requests.Client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = _options.Bucket, Key = key }, ct),
                cancellationToken,
                key: key).ConfigureAwait(false);
            return true;
        }
        catch (AmazonS3Exception ex) when (S3Requests.IsNotFound(ex))
        {
            return false;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw _requests.Wrap("existence check (HEAD)", key, digest, ex);
        }
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
        if (await GetObjectAsync(digest, key, destination, cancellationToken).ConfigureAwait(false) is not var (bytes, lastModified))
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
                S3Log.CacheCopySkipped(_logger, Description, digest, ex.Message);
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

            S3Log.StaleMarkerRemoved(_logger, Description, digest);
        }
    }

    /// <summary>Verification reads the object itself (1 GET): a good local copy must not hide a corrupt object.</summary>
    public async ValueTask<byte[]> ReadForVerifyAsync(ChunkDigest digest, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var writer = new ExactArrayWriter();
        var fetched = await GetObjectAsync(digest, ObjectKey(digest), writer, cancellationToken).ConfigureAwait(false)
            ?? throw new ChunkNotFoundException(Description, digest);
        writer.Advance(fetched.Bytes.Length);
        return writer.Written;
    }

    /// <summary>
    /// GETs an object into <paramref name="destination"/>'s memory without committing it (the caller verifies, then
    /// advances); null when absent. Every attempt of a retried GET writes from the start of the same memory.
    /// </summary>
    private async Task<(ReadOnlyMemory<byte> Bytes, DateTimeOffset LastModified)?> GetObjectAsync(ChunkDigest digest, string key, IBufferWriter<byte> destination, CancellationToken cancellationToken)
    {
        try
        {
            return await _requests.SendAsync(
                S3RequestKind.Get,
                async ct =>
                {
                    using var response = await _requests.Client.GetObjectAsync(new GetObjectRequest { BucketName = _options.Bucket, Key = key }, ct).ConfigureAwait(false);
                    long length = response.ContentLength;
                    if (length > ChunkStoreOptions.MaxChunkSizeLimit)
                    {
                        throw new ChunkCorruptException(Description, digest, default, length);
                    }

                    var modified = response.LastModified is { } lm ? new DateTimeOffset(DateTime.SpecifyKind(lm, DateTimeKind.Utc)) : DateTimeOffset.UtcNow;
                    if (length >= 0)
                    {
                        // One copy: straight from the response into the destination (a short body throws
                        // EndOfStreamException, an I/O error: transient).
                        var memory = destination.GetMemory((int)length)[..(int)length];
                        await response.ResponseStream.ReadExactlyAsync(memory, ct).ConfigureAwait(false);
                        return ((ReadOnlyMemory<byte> Bytes, DateTimeOffset LastModified)?)(memory, modified);
                    }

                    // No Content-Length (never from S3 or RGW for a GET): buffer, then copy once.
                    using var buffer = new MemoryStream();
                    await response.ResponseStream.CopyToAsync(buffer, ct).ConfigureAwait(false);
                    if (buffer.Length > ChunkStoreOptions.MaxChunkSizeLimit)
                    {
                        throw new ChunkCorruptException(Description, digest, default, buffer.Length);
                    }

                    var target = destination.GetMemory((int)buffer.Length)[..(int)buffer.Length];
                    buffer.GetBuffer().AsMemory(0, (int)buffer.Length).CopyTo(target);
                    return ((ReadOnlyMemory<byte> Bytes, DateTimeOffset LastModified)?)(target, modified);
                },
                cancellationToken,
                key: key).ConfigureAwait(false);
        }
        catch (AmazonS3Exception ex) when (S3Requests.IsNotFound(ex))
        {
            return null;
        }
        catch (Exception ex) when (ex is not ChunkStoreException && (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested))
        {
            throw _requests.Wrap("download", key, digest, ex);
        }
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

        return await HeadObjectAsync(digest, ObjectKey(digest), cancellationToken).ConfigureAwait(false);
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
                if (!await HeadObjectAsync(digest, key, cancellationToken).ConfigureAwait(false))
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
                if (S3ChunkKey.TryParse(obj.Key, _options.KeyPrefix, out var key) && key.Kind == ChunkEntryKind.Chunk)
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
                if (S3ChunkKey.TryParse(obj.Key, _options.KeyPrefix, out var key) && key.Kind == ChunkEntryKind.Chunk)
                {
                    var modified = obj.LastModified is { } lm ? new DateTimeOffset(DateTime.SpecifyKind(lm, DateTimeKind.Utc)) : DateTimeOffset.UnixEpoch;
                    yield return new ChunkInfo(key.Digest, obj.Size ?? 0, LastTouched(key.Digest) ?? modified);
                }
            }
        }
    }

    /// <summary>Pages through ListObjectsV2 under the store's <c>.chunks/</c> prefix (1000 keys per page).</summary>
    internal async IAsyncEnumerable<List<S3Object>> ListPagesAsync(GarbageCollectionResult? result, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string? token = null;
        string prefix = S3ChunkKey.ListPrefix(_options.KeyPrefix);
        do
        {
            ListObjectsV2Response response;
            try
            {
                response = await _requests.SendAsync(
                    S3RequestKind.List,
                    ct => _requests.Client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = _options.Bucket, Prefix = prefix, ContinuationToken = token, MaxKeys = 1000 }, ct),
                    cancellationToken,
                    key: prefix).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                throw _requests.Wrap("listing", prefix, null, ex);
            }

            if (result is not null)
            {
                result.RemoteRequests++;
            }

            // SDK v4 collections can be null.
            yield return response.S3Objects ?? [];
            token = response.IsTruncated == true ? response.NextContinuationToken : null;
        }
        while (token is not null);
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
        _requests.Dispose();
        _instrumentation.Dispose();
        await _local.DisposeAsync().ConfigureAwait(false);
        _disposing.Dispose();
    }

    private static MemoryStream AsStream(ReadOnlyMemory<byte> data) =>
        MemoryMarshal.TryGetArray(data, out var segment) && segment.Array is not null
            ? new MemoryStream(segment.Array, segment.Offset, segment.Count, writable: false)
            : new MemoryStream(data.ToArray(), writable: false);
}
