using ChunkStore.Locking;
using ChunkStore.Native;
using ChunkStore.Tests.Infrastructure;

namespace ChunkStore.Tests.Locking;

/// <summary>
/// Every way the cross-process wait of <see cref="ChunkLockManager"/> (polling a stripe another process holds) can
/// end with an error other than a timeout or a cancellation: the flock poll fails with an errno, throws, or throws
/// after it took the lock; the back-off delay fails; the file at the path cannot be opened after the double stat
/// found the locked one replaced. Each waiter must get a typed error, and the process must keep no count and no
/// file lock of the stripe afterwards; otherwise it never unlocks the stripe again and other processes starve on
/// all its chunks. Two managers on one lock directory stand for two processes (flock is per open file
/// description); <c>CrossProcessLockTests</c> repeats the main case with a real second process.
/// </summary>
public sealed class ChunkLockPollFailureTests : IDisposable
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(5);
    private static readonly ChunkDigest D = ChunkDigest.Compute("poll me"u8);
    private readonly TempDirectory _dir = new();
    private readonly ChunkLockManager _mine;
    private readonly ChunkLockManager _other;

    public ChunkLockPollFailureTests()
    {
        _mine = new ChunkLockManager(_dir.Sub("locks"), stripes: 16);
        _other = new ChunkLockManager(_dir.Sub("locks"), stripes: 16);
    }

    public void Dispose()
    {
        _mine.Dispose();
        _other.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task PollFailsWithIoError_WaiterGetsTypedTransientError_AndTheProcessUnlocksTheStripeAgain()
    {
        var (held, waiting) = await WaitBehindOtherProcessAsync(D, D);

        _mine.TryLockFunction = static _ => Libc.EIO;
        var ex = await Assert.ThrowsAsync<ChunkStorageException>(() => waiting[0].WaitAsync(Soon));
        _mine.TryLockFunction = ChunkLockManager.DefaultTryLock;
        Assert.Equal(StorageErrorKind.IOError, ex.Kind);
        Assert.True(ex.IsTransient, "an I/O error of the lock file may pass: retrying helps");
        Assert.Equal(_mine.LockDirectory, ex.Store);
        Assert.Contains(StripePath(D), ex.Message, StringComparison.Ordinal);

        held.Dispose();
        await AssertStripeSharedFairlyAsync(D);
    }

    [Fact]
    public async Task PollFailure_EndsTheRoundForEveryWaiter_EachWithItsOwnChunkInTheError()
    {
        var (first, second) = TwoDigestsOfOneStripe();
        var (held, waiting) = await WaitBehindOtherProcessAsync(first, first, second);

        _mine.TryLockFunction = static _ => Libc.EIO;
        var errorFirst = await Assert.ThrowsAsync<ChunkStorageException>(() => waiting[0].WaitAsync(Soon));
        var errorSecond = await Assert.ThrowsAsync<ChunkStorageException>(() => waiting[1].WaitAsync(Soon));
        _mine.TryLockFunction = ChunkLockManager.DefaultTryLock;

        held.Dispose();
        await AssertStripeSharedFairlyAsync(second);
        Assert.Equal(first, errorFirst.Digest);
        Assert.Equal(second, errorSecond.Digest);
        Assert.Contains(first.ToString(), errorFirst.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PollThrowsAfterTakingTheFileLock_WaiterGetsTypedError_AndNoLockStaysOnTheDescriptor()
    {
        var (held, waiting) = await WaitBehindOtherProcessAsync(D, D);

        _mine.TryLockFunction = static file =>
        {
            int err = file.TryLock(exclusive: true);
            return err == 0 ? throw new IOException("injected failure after the lock was taken", Libc.EIO) : err;
        };
        held.Dispose(); // The next poll takes the lock, then throws.
        var ex = await Assert.ThrowsAsync<ChunkStorageException>(() => waiting[0].WaitAsync(Soon));
        _mine.TryLockFunction = ChunkLockManager.DefaultTryLock;
        Assert.IsType<IOException>(ex.InnerException);
        Assert.Equal(D, ex.Digest);

        using (var now = _other.TryAcquire(D))
        {
            Assert.True(now is not null, "the failed poll left the file locked on this process's descriptor");
        }

        await AssertStripeSharedFairlyAsync(D);
    }

    [Fact]
    public async Task BackOffDelayFails_WaiterGetsTypedError_AndLaterWaitersAreServed()
    {
        var (held, waiting) = await WaitBehindOtherProcessAsync(D, D);

        _mine.PollDelay = static _ => Task.FromException(new InvalidOperationException("injected back-off failure"));
        var ex = await Assert.ThrowsAsync<ChunkStorageException>(() => waiting[0].WaitAsync(Soon));
        _mine.PollDelay = static delayMs => Task.Delay(delayMs);
        Assert.IsType<InvalidOperationException>(ex.InnerException);
        Assert.Equal(D, ex.Digest);

        held.Dispose();
        await AssertStripeSharedFairlyAsync(D);
    }

    [Fact]
    public async Task LockFileReplacedByADirectoryWhileWaiting_WaiterGetsTypedError_AndTheStripeRecovers()
    {
        // The double stat finds the locked inode unlinked and reopens the path, which now cannot be opened.
        string path = StripePath(D);
        var (held, waiting) = await WaitBehindOtherProcessAsync(D, D);

        File.Delete(path);
        Directory.CreateDirectory(path);
        held.Dispose(); // The next poll locks the unlinked inode, sees it replaced and fails to open the directory.
        var ex = await Assert.ThrowsAsync<ChunkStorageException>(() => waiting[0].WaitAsync(Soon));
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);

        Directory.Delete(path);
        await AssertStripeSharedFairlyAsync(D);
        Assert.Equal(D, ex.Digest);
    }

    /// <summary>
    /// The other manager ("process") holds <paramref name="held"/>; this one then waits for <paramref name="waitFor"/>
    /// (chunks of the same stripe) and polls the stripe: returns once every waiter is counted and the round is open.
    /// </summary>
    private async Task<(ChunkLock Held, Task<ChunkLock>[] Waiting)> WaitBehindOtherProcessAsync(ChunkDigest held, params ChunkDigest[] waitFor)
    {
        var lockOfOther = _other.TryAcquire(held)!;
        var waiting = waitFor.Select(d => _mine.AcquireAsync(d, Long).AsTask()).ToArray();
        int stripe = _mine.StripeOf(held);
        var deadline = DateTime.UtcNow + Soon;
        while (_mine.StateOf(stripe) is not { Polling: true } state || state.Waiting != waitFor.Length)
        {
            Assert.True(DateTime.UtcNow < deadline, $"never saw {waitFor.Length} waiter(s) polling stripe {stripe}: {_mine.StateOf(stripe)}");
            await Task.Delay(2);
        }

        return (lockOfOther, waiting);
    }

    /// <summary>
    /// After a failed wait: this process can use the chunk again and, once it lets go, the other one can lock the
    /// stripe (a leaked waiter count would keep the file locked here for ever); and nothing of the stripe is counted.
    /// </summary>
    private async Task AssertStripeSharedFairlyAsync(ChunkDigest digest)
    {
        using (var again = await _mine.AcquireAsync(digest, Soon))
        {
            Assert.True(again.IsHeld);
            Assert.Null(_other.TryAcquire(digest));
        }

        var state = _mine.StateOf(_mine.StripeOf(digest));
        using (var theirs = _other.TryAcquire(digest))
        {
            Assert.True(theirs is not null, $"the other process cannot lock the stripe after this one released it: {state}");
        }

        Assert.Equal((0, 0, false, false), (state.Holders, state.Waiting, state.OsLocked, state.Polling));
        Assert.Equal(0, _mine.HeldCount);
    }

    private string StripePath(ChunkDigest digest) => Path.Combine(_mine.LockDirectory, $"stripe-{_mine.StripeOf(digest):x4}.lock");

    private (ChunkDigest First, ChunkDigest Second) TwoDigestsOfOneStripe()
    {
        var pair = Enumerable.Range(0, 200).Select(i => ChunkDigest.Compute(BitConverter.GetBytes(i)))
            .GroupBy(_mine.StripeOf).First(g => g.Count() >= 2).Take(2).ToArray();
        return (pair[0], pair[1]);
    }
}
