using ChunkStore.Backends;
using ChunkStore.Writers;

namespace ChunkStore;

/// <summary>
/// A registered writer: while it is open, garbage collection in any process keeps every chunk touched at or
/// after <see cref="StartTime"/> minus the writer safety margin, even before the writer publishes the index that
/// references them.
/// </summary>
/// <remarks>
/// Use one session per backup job: insert (or touch) every chunk the job's index will reference through it, call
/// <see cref="CompleteAsync"/> (with <see cref="SyncMode.Batch"/> this makes everything durable with one sync),
/// publish the index, and only then dispose the session, which unregisters it. Thread-safe: many tasks may
/// insert through one session.
/// </remarks>
public sealed class WriteSession : IAsyncDisposable
{
    private const int Active = 0, Completed = 1, Disposed = 2;
    private readonly ChunkRepository _store;
    private readonly WriterRegistry.Registration _registration;
    private int _state;

    internal WriteSession(ChunkRepository store, WriterRegistry.Registration registration)
    {
        _store = store;
        _registration = registration;
    }

    /// <summary>Gets the session's registered start time.</summary>
    public DateTimeOffset StartTime => _registration.Start;

    /// <summary>Gets a value telling whether the session still accepts inserts (not completed, not disposed).</summary>
    public bool IsActive => Volatile.Read(ref _state) == Active;

    /// <summary>Gets a value telling whether the session is still registered (until it is disposed), protecting its chunks.</summary>
    public bool IsRegistered => Volatile.Read(ref _state) != Disposed;

    /// <summary>Inserts a chunk as part of this session; see <see cref="ChunkRepository.InsertAsync"/>.</summary>
    /// <param name="data">The chunk content.</param>
    /// <param name="cancellationToken">Cancels the insert.</param>
    /// <returns>The digest, whether it was new, and its size.</returns>
    /// <exception cref="InvalidOperationException">The session has completed.</exception>
    public ValueTask<ChunkInsertResult> InsertAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        EnsureActive();
        return _store.InsertAsync(data, cancellationToken);
    }

    /// <summary>Touches a chunk this session will reference without inserting it; see <see cref="ChunkRepository.TouchAsync"/>.</summary>
    /// <param name="digest">The chunk.</param>
    /// <param name="cancellationToken">Cancels the touch.</param>
    /// <returns><see langword="true"/> when present (and now protected); <see langword="false"/> when absent: insert it.</returns>
    /// <exception cref="InvalidOperationException">The session has completed.</exception>
    public ValueTask<bool> TouchAsync(ChunkDigest digest, CancellationToken cancellationToken = default)
    {
        EnsureActive();
        return _store.TouchAsync(digest, cancellationToken);
    }

    /// <summary>
    /// Finishes the session's writes: with <see cref="SyncMode.Batch"/>, syncs the store's filesystem once so every
    /// chunk stored so far is durable. The session stays registered — protecting its chunks from garbage
    /// collection — until it is disposed: publish the index that references the chunks in between.
    /// </summary>
    /// <param name="cancellationToken">Cancels the sync (the session stays active).</param>
    /// <returns>A task that completes when the data is durable.</returns>
    /// <exception cref="InvalidOperationException">The session has already completed or been disposed.</exception>
    public async ValueTask CompleteAsync(CancellationToken cancellationToken = default)
    {
        EnsureActive();
        if (_store.Options.SyncMode == SyncMode.Batch)
        {
            await _store.FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        Interlocked.CompareExchange(ref _state, Completed, Active);
    }

    /// <summary>Leaves the writer registry; from now on only references (and the grace period) protect the session's chunks.</summary>
    /// <returns>A completed task.</returns>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _state, Disposed) != Disposed)
        {
            _registration.Dispose();
        }

        return ValueTask.CompletedTask;
    }

    private void EnsureActive()
    {
        if (!IsActive)
        {
            throw new InvalidOperationException("This write session has completed or been disposed; begin a new one.");
        }
    }
}
