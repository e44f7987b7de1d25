using System.Buffers;

namespace ChunkStore.Remote;

/// <summary>When and how often a failed remote request is tried again.</summary>
/// <param name="Count">How many retries after the first attempt (0: none).</param>
/// <param name="BaseDelay">The first retry's bound; each next bound is three times larger.</param>
/// <param name="MaxDelay">The largest wait.</param>
internal sealed record RemoteRetryPolicy(int Count, TimeSpan BaseDelay, TimeSpan MaxDelay)
{
    /// <summary>
    /// The wait before retry <paramref name="attempt"/> (from 0): "full jitter", a uniformly random time between zero
    /// and <c>min(MaxDelay, BaseDelay × 3^attempt)</c>, so clients that failed together spread out, and no wait exceeds
    /// the cap.
    /// </summary>
    /// <param name="attempt">The retry's number, from 0.</param>
    /// <param name="random">A random number in [0, 1).</param>
    /// <returns>The wait.</returns>
    public TimeSpan Delay(int attempt, double random)
    {
        double bound = Math.Min(MaxDelay.TotalMilliseconds, BaseDelay.TotalMilliseconds * Math.Pow(3, Math.Min(attempt, 30)));
        return TimeSpan.FromMilliseconds(bound * random);
    }
}

/// <summary>
/// Retries the requests of an inner storage that failed with a transient <see cref="ChunkStorageException"/>
/// (<see cref="ChunkStoreException.IsTransient"/>), up to <see cref="RemoteRetryPolicy.Count"/> times with full-jitter
/// backoff; anything else (a permanent failure, the caller's cancellation, a corrupt-size answer) passes through at once.
/// </summary>
/// <remarks>
/// Every retry is a new call of the inner storage, so it sees each attempt: a retried read writes again from the start
/// of the same memory (nothing was advanced), a retried put sends the whole body again, and a retried delete announces
/// its new attempt through the caller's <c>beforeAttempt</c> (pending-delete records count them). Waits hold nothing:
/// above a <see cref="ConcurrencyLimitedRemoteStorage"/>, the slot is free while this waits.
/// </remarks>
internal sealed class RetryingRemoteStorage(IRemoteStorage inner, RemoteRetryPolicy policy, TimeProvider? time = null) : IRemoteStorage
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public string Description => inner.Description;

    public RemoteStorageCapabilities Capabilities => inner.Capabilities;

    public ValueTask<bool> PutAsync(string key, ReadOnlyMemory<byte> data, bool ifAbsent, ChunkDigest? digest, CancellationToken cancellationToken) =>
        RunAsync(ct => inner.PutAsync(key, data, ifAbsent, digest, ct), cancellationToken);

    public ValueTask<bool> ExistsAsync(string key, ChunkDigest? digest, CancellationToken cancellationToken) =>
        RunAsync(ct => inner.ExistsAsync(key, digest, ct), cancellationToken);

    public ValueTask<RemoteRead?> ReadAsync(string key, ChunkDigest? digest, IBufferWriter<byte> destination, CancellationToken cancellationToken) =>
        RunAsync(ct => inner.ReadAsync(key, digest, destination, ct), cancellationToken);

    public ValueTask<RemoteListPage> ListPageAsync(string prefix, string? continuation, CancellationToken cancellationToken) =>
        RunAsync(ct => inner.ListPageAsync(prefix, continuation, ct), cancellationToken);

    public ValueTask<bool> CopyAsync(string source, string target, ChunkDigest? digest) =>
        RunAsync(_ => inner.CopyAsync(source, target, digest), CancellationToken.None);

    public ValueTask<IReadOnlyList<RemoteDeleteError>> DeleteAsync(IReadOnlyList<string> keys, Action beforeAttempt) =>
        RunAsync(_ => inner.DeleteAsync(keys, beforeAttempt), CancellationToken.None);

    public TimeSpan? ClockSkew(TimeProvider localClock) => inner.ClockSkew(localClock);

    public void Dispose() => inner.Dispose();

    private async ValueTask<T> RunAsync<T>(Func<CancellationToken, ValueTask<T>> request, CancellationToken cancellationToken)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                return await request(cancellationToken).ConfigureAwait(false);
            }
            catch (ChunkStorageException ex) when (ex.IsTransient && attempt < policy.Count && !cancellationToken.IsCancellationRequested)
            {
                // Retry below.
            }

            await Task.Delay(policy.Delay(attempt, Random.Shared.NextDouble()), _time, cancellationToken).ConfigureAwait(false);
        }
    }
}
