using Microsoft.Extensions.Caching.Memory;

namespace ChunkStore.Caching;

/// <summary>
/// Level 3 of the lock order (<c>docs/locking.md</c>): the in-memory LRU of the chunks whose full content sits in a
/// local cache directory, bounded by their total size in bytes. It stores digests only, never chunk data.
/// </summary>
/// <remarks>
/// <para>Built on <see cref="MemoryCache"/> with <see cref="MemoryCacheOptions.SizeLimit"/>. Invariant kept by its
/// users: a digest in the cache ⇒ its full local file exists. Users therefore add a digest only after the full file
/// is in place and only while holding the chunk's lock, and remove it (<see cref="UnsafeRemove"/>) before or while
/// they remove the file, under the same lock.</para>
/// <para>Evictions (capacity) are reported through the callback given to the constructor. <see cref="MemoryCache"/>
/// runs it later on the thread pool, so the callback holds none of the caller's locks and must take the chunk's
/// lock itself — with a try-lock, retrying later when busy — before it replaces the full file with a marker. It must
/// also re-check <see cref="Contains"/> under that lock: the digest may have been added again meanwhile.</para>
/// </remarks>
internal sealed class LocalChunkCache : IDisposable
{
    private static readonly object s_present = new();

    private readonly MemoryCache _cache;
    private readonly Action<ChunkDigest> _onEvicted;
    private readonly PostEvictionDelegate _callback;

    /// <summary>Creates a cache holding at most <paramref name="capacityBytes"/> bytes of full chunks.</summary>
    /// <param name="capacityBytes">The capacity; 0 disables caching (every add is refused).</param>
    /// <param name="onEvicted">Called on the thread pool, later, for each digest evicted because of capacity.</param>
    public LocalChunkCache(long capacityBytes, Action<ChunkDigest> onEvicted)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacityBytes);
        ArgumentNullException.ThrowIfNull(onEvicted);
        CapacityBytes = capacityBytes;
        _onEvicted = onEvicted;
        _callback = OnPostEviction;
        _cache = new MemoryCache(new MemoryCacheOptions
        {
            SizeLimit = Math.Max(1, capacityBytes),
            TrackStatistics = true,
            CompactionPercentage = 0.10,
        });
    }

    /// <summary>Gets the capacity in bytes.</summary>
    public long CapacityBytes { get; }

    /// <summary>Gets the estimated total size of the cached chunks.</summary>
    public long CurrentBytes => _cache.GetCurrentStatistics()?.CurrentEstimatedSize ?? 0;

    /// <summary>Gets the number of cached digests.</summary>
    public int Count => _cache.Count;

    /// <summary>Tells whether a digest is cached, and marks it most recently used when it is.</summary>
    /// <param name="digest">The chunk.</param>
    /// <returns><see langword="true"/> when cached.</returns>
    public bool TryTouch(ChunkDigest digest) => _cache.TryGetValue(digest, out _);

    /// <summary>Tells whether a digest is cached, without changing the LRU order.</summary>
    /// <param name="digest">The chunk.</param>
    /// <returns><see langword="true"/> when cached.</returns>
    /// <remarks>MemoryCache has no peek; this promotes like <see cref="TryTouch"/>, which only delays an eviction.</remarks>
    public bool Contains(ChunkDigest digest) => _cache.TryGetValue(digest, out _);

    /// <summary>
    /// Adds a digest whose full file the caller has just written, evicting the least recently used ones when needed.
    /// </summary>
    /// <param name="digest">The chunk.</param>
    /// <param name="size">Its size in bytes.</param>
    /// <returns><see langword="true"/> when the digest is now cached; <see langword="false"/> when the cache refused it
    /// (larger than the capacity, or a concurrent add took the room): the caller must then turn its full file into a
    /// marker, since an untracked full file would never be evicted.</returns>
    /// <remarks>Callers hold the chunk's lock, so that a concurrent eviction callback cannot replace the file they just
    /// wrote before the digest is in the cache.</remarks>
    public bool TryAdd(ChunkDigest digest, long size)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        if (CapacityBytes == 0 || size > CapacityBytes)
        {
            return false;
        }

        // MemoryCache refuses (instead of evicting for) an entry that does not fit, and compacts in the background.
        // Compact synchronously first so that the newest chunk gets in and the least recently used ones go.
        long current = CurrentBytes;
        long overflow = current + size - CapacityBytes;
        if (overflow > 0 && current > 0)
        {
            _cache.Compact(Math.Min(1.0, ((double)overflow / current) + 0.0001));
        }

        var options = new MemoryCacheEntryOptions { Size = size, Priority = CacheItemPriority.Normal };
        options.PostEvictionCallbacks.Add(new PostEvictionCallbackRegistration { EvictionCallback = _callback });
        _cache.Set(digest, s_present, options);
        return _cache.TryGetValue(digest, out _);
    }

    /// <summary>Removes a digest from the cache without replacing its file by a marker and without any check.</summary>
    /// <param name="digest">The chunk.</param>
    /// <remarks>
    /// <para>Callers must ensure:</para>
    /// <list type="number">
    /// <item>they hold the chunk's level-1 lock (<c>ChunkLockManager</c>), so no insert, read-fill or rename of the
    /// chunk is in flight and none can re-add it before the caller is done;</item>
    /// <item>they are about to remove or rename the chunk's local file (or already did) — after this call the full file,
    /// if any, is no longer tracked and would otherwise stay on disk unbounded;</item>
    /// <item>the chunk is no longer wanted: either it is corrupt (rename) or a garbage collection decided under that
    /// same lock that its last touch is before the cutoff, so no live writer can have deduplicated against it.</item>
    /// </list>
    /// <para>The eviction callback is not run for this removal.</para>
    /// </remarks>
    internal void UnsafeRemove(ChunkDigest digest) => _cache.Remove(digest);

    /// <summary>Gets a snapshot of the cached digests (tests and the torture harness check "in the LRU ⇒ full local file").</summary>
    internal IReadOnlyList<ChunkDigest> Digests => [.. _cache.Keys.OfType<ChunkDigest>()];

    /// <inheritdoc/>
    public void Dispose() => _cache.Dispose();

    private void OnPostEviction(object key, object? value, EvictionReason reason, object? state)
    {
        // Removed: UnsafeRemove (the caller handles the file). Replaced: the digest is cached again. Only capacity
        // (and expiry, which we do not use) evictions turn a full file into a marker.
        if (reason is EvictionReason.Capacity or EvictionReason.Expired && key is ChunkDigest digest)
        {
            _onEvicted(digest);
        }
    }
}
