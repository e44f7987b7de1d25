using System.Buffers;

namespace ChunkStore.Remote;

/// <summary>
/// At most <c>maxInFlight</c> requests of the inner storage at a time, across every caller of this instance: each call
/// (one listing page, one read, one batch delete) waits for a slot and gives it back when it returns.
/// </summary>
/// <remarks>A copy or a delete waits for its slot without a cancellation token: once the caller decided to send one,
/// it is sent (the caller's local state already counts on it).</remarks>
internal sealed class ConcurrencyLimitedRemoteStorage : IRemoteStorage
{
    private readonly IRemoteStorage _inner;
    private readonly SemaphoreSlim _slots;

    /// <summary>Limits <paramref name="inner"/> to <paramref name="maxInFlight"/> requests at a time.</summary>
    /// <param name="inner">The storage; disposed with this one.</param>
    /// <param name="maxInFlight">The limit (at least 1).</param>
    public ConcurrencyLimitedRemoteStorage(IRemoteStorage inner, int maxInFlight)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxInFlight, 1);
        _inner = inner;
        _slots = new SemaphoreSlim(maxInFlight, maxInFlight);
    }

    public string Description => _inner.Description;

    public RemoteStorageCapabilities Capabilities => _inner.Capabilities;

    /// <summary>Gets the number of free slots now.</summary>
    internal int FreeSlots => _slots.CurrentCount;

    public ValueTask<bool> PutAsync(string key, ReadOnlyMemory<byte> data, bool ifAbsent, ChunkDigest? digest, CancellationToken cancellationToken) =>
        InSlotAsync(() => _inner.PutAsync(key, data, ifAbsent, digest, cancellationToken), cancellationToken);

    public ValueTask<bool> ExistsAsync(string key, ChunkDigest? digest, CancellationToken cancellationToken) =>
        InSlotAsync(() => _inner.ExistsAsync(key, digest, cancellationToken), cancellationToken);

    public ValueTask<RemoteRead?> ReadAsync(string key, ChunkDigest? digest, IBufferWriter<byte> destination, CancellationToken cancellationToken) =>
        InSlotAsync(() => _inner.ReadAsync(key, digest, destination, cancellationToken), cancellationToken);

    public ValueTask<RemoteListPage> ListPageAsync(string prefix, string? continuation, CancellationToken cancellationToken) =>
        InSlotAsync(() => _inner.ListPageAsync(prefix, continuation, cancellationToken), cancellationToken);

    public ValueTask<bool> CopyAsync(string source, string target, ChunkDigest? digest) =>
        InSlotAsync(() => _inner.CopyAsync(source, target, digest), CancellationToken.None);

    public ValueTask<IReadOnlyList<RemoteDeleteError>> DeleteAsync(IReadOnlyList<string> keys, Action beforeAttempt) =>
        InSlotAsync(() => _inner.DeleteAsync(keys, beforeAttempt), CancellationToken.None);

    public TimeSpan? ClockSkew(TimeProvider localClock) => _inner.ClockSkew(localClock);

    public void Dispose()
    {
        _inner.Dispose();
        _slots.Dispose();
    }

    private async ValueTask<T> InSlotAsync<T>(Func<ValueTask<T>> request, CancellationToken cancellationToken)
    {
        await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await request().ConfigureAwait(false);
        }
        finally
        {
            _slots.Release();
        }
    }
}
