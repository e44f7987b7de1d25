using System.Runtime.CompilerServices;
using ChunkStore.Diagnostics;
using ChunkStore.FileSystem;
using ChunkStore.Native;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace ChunkStore.Locking;

/// <summary>
/// Exclusive per-chunk locks that hold across threads and processes: level 1 of the lock order in
/// <c>docs/locking.md</c>, the only lock that may be held across I/O.
/// </summary>
/// <remarks>
/// <para>Two layers:</para>
/// <list type="number">
/// <item>In the process, one asynchronous FIFO queue per digest: a thread that waits for a chunk another thread
/// of this process holds awaits a task (no thread blocked, no file system polled).</item>
/// <item>Across processes, Linux <c>flock</c> locks (open-file-description semantics: two descriptors exclude
/// each other even inside one process, and a killed process's locks are released by the kernel at once) on
/// a fixed set of <see cref="Stripes"/> lock files, chosen by digest. The count of lock files is therefore
/// bounded; two chunks that share a file exclude each other only across processes. While any thread of this
/// process holds a chunk of a stripe, the process keeps that stripe's file locked; a process waiting for a
/// stripe another process holds polls <c>flock(LOCK_NB)</c> with a short back-off, one poller per stripe.</item>
/// </list>
/// <para>After every <c>flock</c> the manager checks that the locked file is still the one at the path (the
/// "double stat"); if the file was deleted or replaced, it drops the stale descriptor and locks the file now at
/// the path, so deleting a lock file while others wait never yields two holders among the waiters.</para>
/// <para>Rule of the lock order: code that holds a level-2 or level-3 lock may only call
/// <see cref="TryAcquire"/>, never <see cref="AcquireAsync"/>. Code that holds a chunk lock must not wait for a
/// second one (it may only try), so no two waiters can wait on each other.</para>
/// </remarks>
internal sealed class ChunkLockManager : IDisposable
{
    private const int ShardCount = 64;
    private const int MaxOpenDescriptors = 256;

    private readonly Shard[] _shards;
    private readonly Stripe[] _stripes;
    private readonly ILogger _logger;
    private int _openDescriptors;
    private int _disposed;

    /// <summary>Creates a lock manager over a lock directory.</summary>
    /// <param name="lockDirectory">The directory of the lock files; created when missing.</param>
    /// <param name="stripes">The number of lock files, a power of two from 16 to 65,536. Every process sharing the directory must use the same value.</param>
    /// <param name="loggerFactory">Optional logger factory.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="stripes"/> is not a power of two in range.</exception>
    public ChunkLockManager(string lockDirectory, int stripes = ChunkStoreOptions.DefaultLockStripes, ILoggerFactory? loggerFactory = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(lockDirectory);
        if (stripes < 16 || stripes > 65536 || (stripes & (stripes - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(stripes), stripes, "The stripe count must be a power of two from 16 to 65536.");
        }

        LockDirectory = Path.GetFullPath(lockDirectory);
        Stripes = stripes;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("ChunkStore.Locking");
        _shards = new Shard[ShardCount];
        for (int i = 0; i < _shards.Length; i++)
        {
            _shards[i] = new Shard();
        }

        _stripes = new Stripe[stripes];
        for (int i = 0; i < _stripes.Length; i++)
        {
            _stripes[i] = new Stripe(Path.Combine(LockDirectory, $"stripe-{i:x4}.lock"));
        }

        Directory.CreateDirectory(LockDirectory);
    }

    /// <summary>Gets the directory of the lock files.</summary>
    public string LockDirectory { get; }

    /// <summary>Gets the number of lock files the chunks are spread over.</summary>
    public int Stripes { get; }

    /// <summary>Gets how many chunk locks this process holds right now (for tests and diagnostics).</summary>
    public int HeldCount
    {
        get
        {
            int count = 0;
            foreach (var shard in _shards)
            {
                lock (shard.Sync)
                {
                    count += shard.Entries.Count;
                }
            }

            return count;
        }
    }

    /// <summary>Called with the time spent whenever an acquisition had to wait (metrics).</summary>
    internal Action<TimeSpan>? WaitObserver { get; set; }

    /// <summary>The default <see cref="TryLockFunction"/>: a non-blocking exclusive lock of the stripe's file.</summary>
    internal static readonly Func<LockFile, int> DefaultTryLock = static file => file.TryLock(exclusive: true);

    /// <summary>
    /// The non-blocking exclusive lock attempt on a stripe's open file: returns 0 or an errno. Tests replace it to make
    /// a lock attempt (and so a poll) fail.
    /// </summary>
    internal Func<LockFile, int> TryLockFunction { get; set; } = DefaultTryLock;

    /// <summary>The back-off between two polls of a stripe held by another process (milliseconds). Tests replace it.</summary>
    internal Func<int, Task> PollDelay { get; set; } = static delayMs => Task.Delay(delayMs);

    /// <summary>The bookkeeping of one stripe, for tests.</summary>
    internal StripeState StateOf(int stripe)
    {
        var s = _stripes[stripe];
        lock (s.Sync)
        {
            return new StripeState(s.Holders, s.Waiting, s.OsLocked, s.Pending is not null, s.File is not null);
        }
    }

    internal int StripeOf(ChunkDigest digest) => digest.GetHashCode() & (Stripes - 1);

    /// <summary>
    /// Acquires the exclusive lock of a chunk, waiting for other threads and processes that hold it.
    /// </summary>
    /// <param name="digest">The chunk.</param>
    /// <param name="timeout">How long to wait at most; <see cref="Timeout.InfiniteTimeSpan"/> waits for ever.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The held lock; dispose it to release.</returns>
    /// <exception cref="ChunkLockTimeoutException">The lock was not free within <paramref name="timeout"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled first.</exception>
    /// <exception cref="ChunkStorageException">A lock file could not be opened or locked (e.g. permission denied, or an I/O error while polling a stripe another process holds).</exception>
    public async ValueTask<ChunkLock> AcquireAsync(ChunkDigest digest, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (timeout < TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "The timeout must be positive or infinite.");
        }

        cancellationToken.ThrowIfCancellationRequested();
        long start = Environment.TickCount64;
        var shard = ShardOf(digest);
        Waiter? waiter = null;
        lock (shard.Sync)
        {
            if (shard.Entries.TryGetValue(digest, out var entry))
            {
                waiter = new Waiter();
                (entry.Waiters ??= new Queue<Waiter>()).Enqueue(waiter);
            }
            else
            {
                shard.Entries.Add(digest, new DigestEntry());
            }
        }

        if (waiter is not null)
        {
            await WaitAsync(waiter.Task, digest, timeout, cancellationToken).ConfigureAwait(false);
            // The releaser handed the in-process lock to us (or we must give it back if we gave up: see WaitAsync).
        }

        var stripe = _stripes[StripeOf(digest)];
        try
        {
            TimeSpan remaining = timeout == Timeout.InfiniteTimeSpan
                ? timeout
                : timeout - TimeSpan.FromMilliseconds(Environment.TickCount64 - start);
            // Infinite is -1 ms: keep it infinite rather than clamping it to "no wait".
            await AcquireStripeAsync(stripe, digest, remaining < TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan ? TimeSpan.Zero : remaining, timeout, cancellationToken)
                .ConfigureAwait(false);
        }
        catch
        {
            ReleaseInProcess(digest);
            throw;
        }

        long waited = Environment.TickCount64 - start;
        if (WaitObserver is { } observer && (waiter is not null || waited > 0))
        {
            observer(TimeSpan.FromMilliseconds(waited));
        }

        return new ChunkLock(this, digest, StripeOf(digest));
    }

    /// <summary>
    /// Acquires the lock of a chunk only if no thread or process holds it; never waits. The only form allowed
    /// while holding a level-2 or level-3 lock, or another chunk lock.
    /// </summary>
    /// <param name="digest">The chunk.</param>
    /// <returns>The held lock, or <see langword="null"/> when the chunk (or, across processes, its stripe) is busy.</returns>
    /// <exception cref="ChunkStorageException">A lock file could not be opened.</exception>
    public ChunkLock? TryAcquire(ChunkDigest digest)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var shard = ShardOf(digest);
        lock (shard.Sync)
        {
            if (!shard.Entries.TryAdd(digest, new DigestEntry()))
            {
                return null;
            }
        }

        var stripe = _stripes[StripeOf(digest)];
        bool locked;
        try
        {
            locked = TryEnterStripe(stripe);
        }
        catch
        {
            ReleaseInProcess(digest);
            throw;
        }

        if (!locked)
        {
            ReleaseInProcess(digest);
            return null;
        }

        return new ChunkLock(this, digest, StripeOf(digest));
    }

    internal void Release(ChunkLock handle)
    {
        // Reverse order of acquisition: first the cross-process stripe, then the in-process queue.
        ExitStripe(_stripes[handle.Stripe]);
        ReleaseInProcess(handle.Digest);
    }

    /// <summary>Closes the lock files. Locks still held stay valid until the process exits.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (var stripe in _stripes)
        {
            lock (stripe.Sync)
            {
                if (stripe.Holders == 0 && stripe.Waiting == 0 && stripe.File is not null)
                {
                    CloseDescriptor(stripe);
                }
            }
        }
    }

    // ---- in-process layer -------------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Shard ShardOf(ChunkDigest digest) => _shards[(digest.GetHashCode() >>> 16) & (ShardCount - 1)];

    private async Task WaitAsync(Task<bool> task, ChunkDigest digest, TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            await task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            // We give up. If the releaser handed us the lock at the same moment, pass it on; the waiter task
            // result decides who won, atomically.
            var waiter = (Waiter)task.AsyncState!;
            if (!waiter.TryAbandon())
            {
                ReleaseInProcess(digest);
            }

            if (ex is TimeoutException)
            {
                throw new ChunkLockTimeoutException(LockDirectory, digest, timeout);
            }

            throw;
        }
    }

    private void ReleaseInProcess(ChunkDigest digest)
    {
        var shard = ShardOf(digest);
        lock (shard.Sync)
        {
            var entry = shard.Entries[digest];
            if (entry.Waiters is { } queue)
            {
                while (queue.TryDequeue(out var next))
                {
                    // Hand the lock over directly, FIFO; a waiter that already gave up refuses it.
                    if (next.TryGrant())
                    {
                        return;
                    }
                }
            }

            shard.Entries.Remove(digest);
        }
    }

    // ---- cross-process layer ------------------------------------------------------------------------------

    private async Task AcquireStripeAsync(Stripe stripe, ChunkDigest digest, TimeSpan remaining, TimeSpan timeout, CancellationToken cancellationToken)
    {
        TaskCompletionSource pending;
        bool startPoller = false;
        lock (stripe.Sync)
        {
            if (stripe.OsLocked)
            {
                stripe.Holders++;
                return;
            }

            if (stripe.Pending is null)
            {
                if (TryLockFile(stripe))
                {
                    stripe.OsLocked = true;
                    stripe.Holders++;
                    return;
                }

                stripe.Pending = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                startPoller = true;
            }

            pending = stripe.Pending;
            stripe.Waiting++;
        }

        if (startPoller)
        {
            // Started once we are counted and outside the lock: the poller may end its round before its first yield.
            _ = PollStripeAsync(stripe, pending);
        }

        try
        {
            Log.WaitingForOtherProcess(_logger, digest.ToShortString(), stripe.Path);
            await pending.Task.WaitAsync(remaining, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // Every way out of the wait takes our count back: a count left behind would keep the stripe's file
            // locked by this process for ever (UnlockIfUnused waits for zero) and starve every other process on
            // all chunks of the stripe.
            lock (stripe.Sync)
            {
                stripe.Waiting--;
                UnlockIfUnused(stripe);
            }

            if (ex is OperationCanceledException && cancellationToken.IsCancellationRequested)
            {
                throw;
            }

            throw ex is TimeoutException ? new ChunkLockTimeoutException(LockDirectory, digest, timeout) : WaitFailed(stripe, digest, ex);
        }

        lock (stripe.Sync)
        {
            stripe.Waiting--;
            stripe.Holders++;
        }
    }

    /// <summary>
    /// One poll round: ends with the stripe locked (the waiters share it), with no waiter left, or with an error that
    /// fails every waiter of the round. Any error, also of the back-off, ends the round: a poller that died with its
    /// round open would leave the waiters, and every later one (they join the open round), waiting for ever.
    /// </summary>
    private async Task PollStripeAsync(Stripe stripe, TaskCompletionSource pending)
    {
        try
        {
            int delayMs = 1;
            while (true)
            {
                await PollDelay(delayMs).ConfigureAwait(false);
                delayMs = Math.Min(delayMs * 2, 20);
                lock (stripe.Sync)
                {
                    if (!ReferenceEquals(stripe.Pending, pending))
                    {
                        return; // A TryAcquire took the stripe and completed this round.
                    }

                    if (stripe.Waiting == 0)
                    {
                        stripe.Pending = null;
                        return;
                    }

                    if (!TryLockFile(stripe))
                    {
                        continue;
                    }

                    stripe.OsLocked = true;
                    stripe.Pending = null;
                    pending.TrySetResult();
                    return;
                }
            }
        }
        catch (Exception ex)
        {
            lock (stripe.Sync)
            {
                if (ReferenceEquals(stripe.Pending, pending))
                {
                    stripe.Pending = null;
                }
            }

            pending.TrySetException(ex);
        }
    }

    /// <summary>The typed error of one waiter whose poll round failed with <paramref name="cause"/>: names the lock file, the chunk and the cause.</summary>
    private ChunkStorageException WaitFailed(Stripe stripe, ChunkDigest digest, Exception cause) => cause is ChunkStorageException storage
        ? new ChunkStorageException($"Gave up waiting for the lock of chunk {digest}: {storage.Message}", storage.Kind, storage.IsTransient, storage)
        {
            Store = LockDirectory,
            Digest = digest,
        }
        : FileErrors.Wrap(LockDirectory, digest, stripe.Path, "lock", cause);

    private bool TryEnterStripe(Stripe stripe)
    {
        lock (stripe.Sync)
        {
            if (stripe.OsLocked)
            {
                stripe.Holders++;
                return true;
            }

            if (!TryLockFile(stripe))
            {
                return false;
            }

            stripe.OsLocked = true;
            stripe.Holders++;
            if (stripe.Pending is { } pending)
            {
                // Waiters of this process were polling: they share the lock we just took.
                stripe.Pending = null;
                pending.TrySetResult();
            }

            return true;
        }
    }

    private void ExitStripe(Stripe stripe)
    {
        lock (stripe.Sync)
        {
            stripe.Holders--;
            UnlockIfUnused(stripe);
        }
    }

    /// <summary>Caller holds <c>stripe.Sync</c>.</summary>
    private void UnlockIfUnused(Stripe stripe)
    {
        if (stripe.Holders != 0 || stripe.Waiting != 0 || !stripe.OsLocked)
        {
            return;
        }

        stripe.OsLocked = false;
        if (Volatile.Read(ref _openDescriptors) > MaxOpenDescriptors || Volatile.Read(ref _disposed) != 0 ||
            stripe.File!.Unlock() != 0)
        {
            // Closing releases the lock: LockFile unlocks before it closes, so no separate unlock before it (one
            // flock(LOCK_UN) per release, not two, whenever the descriptor is closed).
            CloseDescriptor(stripe);
        }
    }

    /// <summary>
    /// One non-blocking attempt to lock the stripe's file, with the double-stat check. Caller holds
    /// <c>stripe.Sync</c> and the process does not hold the file (<c>OsLocked</c> is false). Returns false when
    /// another process holds the file. When it throws, the descriptor is closed: a lock taken before the failure
    /// must not stay behind uncounted.
    /// </summary>
    private bool TryLockFile(Stripe stripe)
    {
        try
        {
            return TryLockFileAtPath(stripe);
        }
        catch
        {
            if (stripe.File is not null)
            {
                CloseDescriptor(stripe);
            }

            throw;
        }
    }

    private bool TryLockFileAtPath(Stripe stripe)
    {
        for (int attempt = 0; attempt < 8; attempt++)
        {
            var file = stripe.File ?? OpenDescriptor(stripe);
            int err = TryLockFunction(file);
            if (err == Libc.EWOULDBLOCK)
            {
                return false;
            }

            if (err != 0)
            {
                throw FileErrors.Create(LockDirectory, null, stripe.Path, "lock", err);
            }

            // Double stat: the file we locked must still be the one at the path. If it was deleted or replaced,
            // whoever opens the path now gets another inode, and our lock would exclude nobody. Deleting the file
            // or renaming another over it drops the locked inode's link count to 0, so an fstat of the descriptor
            // tells without a path lookup (the files are ours alone: nobody hard-links them elsewhere); the path
            // is compared only in the rare case that the link count changed.
            // This fstat is also the descriptor's identity for that comparison (the inode under an open descriptor
            // never changes), so opening a descriptor takes no stat of its own.
            int statErr = file.Stat(out var locked);
            if (statErr != 0)
            {
                throw FileErrors.Create(LockDirectory, null, stripe.Path, "stat lock file", statErr);
            }

            if (locked.LinkCount == 1)
            {
                return true;
            }

            if (locked.LinkCount > 1 && Libc.LStat(stripe.Path, out var atPath) == 0 && atPath.SameFileAs(locked))
            {
                return true;
            }

            Log.LockFileReplaced(_logger, stripe.Path);
            CloseDescriptor(stripe);
        }

        return false;
    }

    private LockFile OpenDescriptor(Stripe stripe)
    {
        int err = LockFile.TryOpen(stripe.Path, Libc.O_RDWR | Libc.O_CREAT, 0b110_110_110, out var file);
        if (err == Libc.ENOENT)
        {
            Directory.CreateDirectory(LockDirectory);
            err = LockFile.TryOpen(stripe.Path, Libc.O_RDWR | Libc.O_CREAT, 0b110_110_110, out file);
        }

        if (file is null)
        {
            throw FileErrors.Create(LockDirectory, null, stripe.Path, "open lock file", err);
        }

        stripe.File = file;
        Interlocked.Increment(ref _openDescriptors);
        return file;
    }

    private void CloseDescriptor(Stripe stripe)
    {
        stripe.File!.Dispose();
        stripe.File = null;
        Interlocked.Decrement(ref _openDescriptors);
    }

    /// <summary>A stripe's bookkeeping: holders and waiters of this process, whether the process holds the file lock, whether a poll round is open, whether the descriptor is open.</summary>
    internal readonly record struct StripeState(int Holders, int Waiting, bool OsLocked, bool Polling, bool DescriptorOpen);

    private sealed class Shard
    {
        public readonly Lock Sync = new();
        public readonly Dictionary<ChunkDigest, DigestEntry> Entries = new();
    }

    private sealed class DigestEntry
    {
        public Queue<Waiter>? Waiters;
    }

    /// <summary>A queued in-process waiter: granted (result true) by a releaser, or abandoned by its owner.</summary>
    private sealed class Waiter
    {
        private readonly TaskCompletionSource<bool> _tcs;
        private int _state; // 0 waiting, 1 granted, 2 abandoned

        public Waiter()
        {
            _tcs = new TaskCompletionSource<bool>(this, TaskCreationOptions.RunContinuationsAsynchronously);
        }

        public Task<bool> Task => _tcs.Task;

        public bool TryGrant()
        {
            if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
            {
                return false;
            }

            _tcs.TrySetResult(true);
            return true;
        }

        /// <summary>Returns false when the lock had already been granted to this waiter.</summary>
        public bool TryAbandon() => Interlocked.CompareExchange(ref _state, 2, 0) == 0;
    }

    private sealed class Stripe(string path)
    {
        public readonly Lock Sync = new();
        public readonly string Path = path;
        public LockFile? File;
        public int Holders;
        public int Waiting;
        public bool OsLocked;
        public TaskCompletionSource? Pending;
    }
}
