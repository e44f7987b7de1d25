namespace ChunkStore.Locking;

/// <summary>
/// Level 2 of the lock order (<c>docs/locking.md</c>): short, synchronous, in-process critical sections per
/// digest, striped over a fixed array of locks — never one mutex for the whole store (Proxmox's O-6).
/// </summary>
/// <remarks>
/// A section covers a stat → decide → change step on one chunk's local files (insert's existence check and
/// touch, the sweep's re-stat and unlink, a cache's marker/full-file swap). It is never held across an
/// <c>await</c> or any network I/O. While holding one, code may only <see cref="ChunkLockManager.TryAcquire"/> a
/// chunk lock, never wait for one.
/// </remarks>
internal sealed class StoreCriticalSections
{
    private readonly Lock[] _locks;

    public StoreCriticalSections(int stripes = 256)
    {
        if (stripes <= 0 || (stripes & (stripes - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(stripes), stripes, "Must be a power of two.");
        }

        _locks = new Lock[stripes];
        for (int i = 0; i < _locks.Length; i++)
        {
            _locks[i] = new Lock();
        }
    }

    /// <summary>Enters the section of <paramref name="digest"/>; dispose the scope to leave it.</summary>
    /// <param name="digest">The chunk.</param>
    /// <returns>A scope that proves the section is held.</returns>
    public Lock.Scope Enter(ChunkDigest digest) => _locks[(digest.GetHashCode() >>> 8) & (_locks.Length - 1)].EnterScope();
}
