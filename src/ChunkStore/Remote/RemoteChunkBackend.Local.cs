using System.Buffers;
using ChunkStore.FileSystem;
using Microsoft.Extensions.Logging;

namespace ChunkStore.Remote;

/// <summary>The local cache directory: full files, markers, <c>.using</c> and <c>.bad</c> entries, and the LRU eviction.</summary>
internal partial class RemoteChunkBackend
{
    /// <summary>Stats the local chunk entry; null when absent. Throws for an entry that is not a regular file.</summary>
    private LocalEntry? StatLocal(ChunkDigest digest) => LocalEntries.StatRegular(Description, digest, _layout.ChunkPath(digest));

    /// <summary>
    /// When D was last touched here: the newest access time of its local file (full copy or marker) and its
    /// <c>.using</c>; null when it has neither. The one answer to that question: read fill, eviction, restore and the
    /// sweep all ask it, so no path makes a chunk look older than it is (a fill after mark keeps the mark's time).
    /// </summary>
    private DateTimeOffset? LastTouched(ChunkDigest digest) => LastTouched(digest, StatLocal(digest));

    /// <summary>The same, given the local file's stat just taken (null: no local file).</summary>
    private DateTimeOffset? LastTouched(ChunkDigest digest, LocalEntry? file)
    {
        DateTimeOffset? newest = file?.LastAccess;

        if (LocalEntries.TryStat(_layout.UsingPath(digest)) is { IsRegularFile: true } u)
        {
            var usingTime = u.LastAccess;
            if (newest is null || usingTime > newest)
            {
                newest = usingTime;
            }
        }

        return newest;
    }

    /// <summary>Touches the local file or marker; false when absent.</summary>
    private bool TouchLocal(ChunkDigest digest)
    {
        using (_sections.Enter(digest))
        {
            return LocalEntries.Touch(Description, digest, _layout.ChunkPath(digest));
        }
    }

    /// <summary>Reads the full local file into <paramref name="destination"/>, verified; null (nothing written) when absent, a marker, or not matching the digest.</summary>
    private int? TryReadLocalFull(ChunkDigest digest, IBufferWriter<byte> destination)
    {
        if (StatLocal(digest) is not { Size: > 0 })
        {
            return null;
        }

        try
        {
            return _local.ReadFile(digest, _layout.ChunkPath(digest), destination, verify: true);
        }
        catch (ChunkNotFoundException)
        {
            return null;
        }
        catch (ChunkCorruptException)
        {
            return null;
        }
    }

    /// <summary>
    /// Records locally that the object exists: the full file plus an LRU entry when it fits the cache, else an empty
    /// marker. The caller holds the chunk's lock and has just seen the object exist (upload, 412, or a verified GET).
    /// </summary>
    /// <param name="digest">The chunk.</param>
    /// <param name="data">Its verified content.</param>
    /// <param name="atime">The atime to give the file; null for now (a touch).</param>
    private void StoreLocalLocked(ChunkDigest digest, ReadOnlySpan<byte> data, DateTimeOffset? atime)
    {
        if (_options.CacheCapacityBytes >= data.Length)
        {
            try
            {
                WriteLocalLocked(digest, data, atime);
                if (_cache.TryAdd(digest, data.Length))
                {
                    return;
                }
            }
            catch (ChunkStorageException ex) when (ex.Kind == StorageErrorKind.DiskFull)
            {
                // The full copy is only a cache; the marker below is what the object's safety needs (O-2). An empty
                // file needs no data blocks, so it usually still fits; if it does not, the caller gets the error.
                RemoteLog.CacheCopySkipped(_logger, Description, digest, ex.Message);
            }
        }

        // Not cached: an untracked full file would never be evicted, so keep a marker only (O-2: but always a marker).
        WriteLocalLocked(digest, [], atime);
    }

    /// <summary>Writes a local file (full content or empty marker) atomically: temporary file, then rename over the old one (never truncate in place: open readers keep their content).</summary>
    private void WriteLocalLocked(ChunkDigest digest, ReadOnlySpan<byte> data, DateTimeOffset? atime)
    {
        string path = _layout.ChunkPath(digest);
        string temp = _layout.NewTemporaryPath(digest);
        bool published = false;
        try
        {
            ChunkFiles.WriteTemporary(_layout, digest, temp, data, fsync: false, Description);

            if (atime is { } at)
            {
                LocalEntries.TrySetAccessTime(temp, at);
            }

            using (_sections.Enter(digest))
            {
                // Keeping an atime across a replacement (eviction, demotion, read fill) races with a GC mark in another
                // process, which touches without the chunk lock: a touch of the old file between our stat and the
                // rename would be lost, and the sweep would then see the older time. Replace carries it forward.
                LocalEntries.Replace(temp, path, keepLaterTouch: atime is not null);
                published = true;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw FileErrors.Wrap(Description, digest, temp, "write the local cache file", ex);
        }
        finally
        {
            if (!published)
            {
                _ = LocalEntries.TryRemove(temp);
            }
        }
    }

    /// <summary>Deletes a local entry; absent is fine.</summary>
    private void DeleteLocal(string path, ChunkDigest digest) => LocalEntries.Remove(Description, digest, path);

    /// <summary>
    /// The LRU's eviction callback, on the thread pool, holding no lock: take the chunk's lock with a try-lock (busy ⇒
    /// retry later), re-check that the digest was not cached again, and replace the full file with a marker.
    /// </summary>
    private void OnEvicted(ChunkDigest digest)
    {
        _instrumentation.RecordCacheEviction();
        Interlocked.Increment(ref _pendingEvictions);
        TryEvict(digest, 0);
    }

    private void TryEvict(ChunkDigest digest, int attempt)
    {
        if (_disposing.IsCancellationRequested)
        {
            Interlocked.Decrement(ref _pendingEvictions);
            return;
        }

        bool done = false;
        try
        {
            using var chunkLock = _locks.TryAcquire(digest);
            if (chunkLock is null)
            {
                // Busy: an insert, read fill, rename or GC holds it. Try again shortly; never wait for it here.
                var delay = s_evictionRetryDelay * Math.Pow(2, Math.Min(attempt, 6)); // 20 ms … 1.28 s
                _ = Task.Delay(delay, _disposing.Token).ContinueWith(
                    (_, state) => TryEvict((ChunkDigest)state!, attempt + 1), digest, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
                return;
            }

            done = true;
            if (_cache.Contains(digest))
            {
                return; // Cached again since the eviction: the full file stays.
            }

            if (StatLocal(digest) is { Size: > 0 })
            {
                // Keep the last touch: an eviction is not a use and must not delay (or advance) garbage collection.
                WriteLocalLocked(digest, [], LastTouched(digest));
            }
        }
        catch (ObjectDisposedException)
        {
            done = true;
        }
        catch (Exception ex) when (ex is ChunkStoreException or IOException)
        {
            done = true;
            RemoteLog.EvictionFailed(_logger, Description, digest, ex);
        }
        finally
        {
            if (done)
            {
                Interlocked.Decrement(ref _pendingEvictions);
            }
        }
    }

    /// <summary>
    /// At open: the LRU starts empty, but full files of earlier runs are on disk. Re-register the most recently used
    /// ones up to the capacity and turn the rest into markers, so the cache stays bounded across restarts.
    /// </summary>
    private void RestoreCache()
    {
        if (!Directory.Exists(_layout.ChunksDirectory))
        {
            return;
        }

        var full = new List<(ChunkDigest Digest, long Size, DateTimeOffset Atime)>();
        foreach (var dir in Directory.EnumerateDirectories(_layout.ChunksDirectory))
        {
            if (!ChunkLayout.IsPrefixName(Path.GetFileName(dir.AsSpan())))
            {
                continue;
            }

            foreach (var path in Directory.EnumerateFiles(dir))
            {
                if (ChunkEntryName.TryParse(Path.GetFileName(path.AsSpan()), out var name) && name.Kind == ChunkEntryKind.Chunk
                    && LocalEntries.TryStat(path) is { IsRegularFile: true, Size: > 0 } st)
                {
                    full.Add((name.Digest, st.Size, st.LastAccess));
                }
            }
        }

        Hooks.S3CacheRestoreListed(_layout.Root);

        // Oldest first, so that the most recently used end up most recent in the LRU; the newest fill the capacity.
        full.Sort((a, b) => a.Atime.CompareTo(b.Atime));
        long budget = _options.CacheCapacityBytes;
        int keepFrom = full.Count;
        for (int i = full.Count - 1; i >= 0 && budget >= full[i].Size; i--)
        {
            budget -= full[i].Size;
            keepFrom = i;
        }

        int demoted = 0;
        for (int i = 0; i < full.Count; i++)
        {
            var (digest, _, _) = full[i];
            using var chunkLock = _locks.TryAcquire(digest);
            if (chunkLock is null)
            {
                continue; // Another process works on it right now; it owns the outcome.
            }

            // The scan is old news: since then a GC may have removed the file (and the object: a marker written now
            // would claim a chunk the storage does not hold), an eviction demoted it, or a touch moved its atime. Look again.
            if (StatLocal(digest) is not { Size: > 0 } st)
            {
                continue;
            }

            if (i >= keepFrom && _cache.TryAdd(digest, st.Size))
            {
                continue;
            }

            WriteLocalLocked(digest, [], LastTouched(digest));
            demoted++;
        }

        RemoteLog.CacheRestored(_logger, Description, full.Count - demoted, demoted);
    }
}
