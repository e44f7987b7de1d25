namespace ChunkStore.Locking;

/// <summary>
/// A held per-chunk lock: proof, for methods that require it, that the holder owns the chunk exclusively in
/// every thread and process sharing the store. Dispose it to release the lock.
/// </summary>
/// <remarks>
/// Lock order and which lock protects what: <c>docs/locking.md</c> (level 1 of 3). Disposing twice is harmless.
/// A handle may be handed to another thread or stored (a garbage-collection delete batch keeps handles until
/// its delete request returns); whoever disposes it releases it.
/// </remarks>
internal sealed class ChunkLock : IDisposable
{
    private readonly ChunkLockManager _manager;
    private int _released;

    internal ChunkLock(ChunkLockManager manager, ChunkDigest digest, int stripe)
    {
        _manager = manager;
        Digest = digest;
        Stripe = stripe;
    }

    /// <summary>Gets the chunk this lock covers.</summary>
    public ChunkDigest Digest { get; }

    /// <summary>Gets a value telling whether the lock is still held.</summary>
    public bool IsHeld => Volatile.Read(ref _released) == 0;

    internal int Stripe { get; }

    internal ChunkLockManager Manager => _manager;

    /// <summary>Releases the lock.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            _manager.Release(this);
        }
    }

    /// <summary>Throws unless this is a held lock for <paramref name="digest"/> from <paramref name="manager"/>.</summary>
    /// <param name="digest">The chunk a caller is about to change.</param>
    /// <param name="manager">The lock manager of the store the caller works on.</param>
    /// <exception cref="InvalidOperationException">The lock is released, or covers another chunk or store.</exception>
    internal void EnsureCovers(ChunkDigest digest, ChunkLockManager manager)
    {
        if (!IsHeld || digest != Digest || !ReferenceEquals(manager, _manager))
        {
            throw new InvalidOperationException(
                $"A held lock of chunk {digest} in {manager.LockDirectory} is required; got {(IsHeld ? "a lock of" : "a released lock of")} chunk {Digest} in {_manager.LockDirectory}.");
        }
    }
}
