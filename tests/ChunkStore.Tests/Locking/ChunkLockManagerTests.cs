using ChunkStore.Locking;
using ChunkStore.Native;
using ChunkStore.Tests.Infrastructure;

namespace ChunkStore.Tests.Locking;

public sealed class ChunkLockManagerTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private static readonly ChunkDigest D = ChunkDigest.Compute("lock me"u8);

    public void Dispose() => _dir.Dispose();

    private ChunkLockManager NewManager(int stripes = 1024) => new(_dir.Sub("locks"), stripes);

    [Fact]
    public async Task TwoTasksOfOneProcess_ExcludeEachOther_UntilRelease()
    {
        using var locks = NewManager();
        var first = await locks.AcquireAsync(D, TimeSpan.FromSeconds(10));

        var second = Task.Run(async () => await locks.AcquireAsync(D, TimeSpan.FromSeconds(10)));
        await Task.Delay(200);
        Assert.False(second.IsCompleted, "the second acquire must wait while the first holds the lock");
        Assert.Null(locks.TryAcquire(D));

        first.Dispose();
        using var held = await second.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(held.IsHeld);
        Assert.Equal(D, held.Digest);
    }

    [Fact]
    public async Task Waiters_AreServedInFifoOrder()
    {
        using var locks = NewManager();
        var holder = await locks.AcquireAsync(D, TimeSpan.FromSeconds(10));
        var order = new List<int>();
        var waiters = new List<Task>();
        for (int i = 0; i < 5; i++)
        {
            int n = i;
            var acquire = locks.AcquireAsync(D, TimeSpan.FromSeconds(10)).AsTask();
            waiters.Add(acquire.ContinueWith(t =>
            {
                lock (order)
                {
                    order.Add(n);
                }

                t.Result.Dispose();
            }, TaskScheduler.Default));
        }

        holder.Dispose();
        await Task.WhenAll(waiters).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal([0, 1, 2, 3, 4], order);
        Assert.Equal(0, locks.HeldCount);
    }

    [Fact]
    public async Task Acquire_TimesOutWithTypedTransientError_AndLeavesNoTrace()
    {
        using var locks = NewManager();
        using (await locks.AcquireAsync(D, TimeSpan.FromSeconds(1)))
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var ex = await Assert.ThrowsAsync<ChunkLockTimeoutException>(async () => await locks.AcquireAsync(D, TimeSpan.FromMilliseconds(150)));
            Assert.True(sw.ElapsedMilliseconds >= 140, $"timed out after {sw.ElapsedMilliseconds} ms");
            Assert.True(ex.IsTransient);
            Assert.Equal(D, ex.Digest);
        }

        using var again = locks.TryAcquire(D);
        Assert.NotNull(again);
    }

    [Fact]
    public async Task Acquire_HonoursCancellation_AndTheLockStaysUsable()
    {
        using var locks = NewManager();
        var holder = await locks.AcquireAsync(D, TimeSpan.FromSeconds(1));
        using var cts = new CancellationTokenSource(100);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await locks.AcquireAsync(D, Timeout.InfiniteTimeSpan, cts.Token));

        holder.Dispose();
        Assert.Equal(0, locks.HeldCount);
        using var next = await locks.AcquireAsync(D, TimeSpan.FromSeconds(1));
        Assert.True(next.IsHeld);
    }

    [Fact]
    public async Task DifferentChunksOfOneStripe_DoNotBlockEachOtherInOneProcess()
    {
        using var locks = NewManager(stripes: 16);
        var digests = Enumerable.Range(0, 200).Select(i => ChunkDigest.Compute(BitConverter.GetBytes(i)))
            .GroupBy(locks.StripeOf).First(g => g.Count() >= 2).Take(2).ToArray();

        using var a = await locks.AcquireAsync(digests[0], TimeSpan.FromSeconds(1));
        using var b = locks.TryAcquire(digests[1]);

        Assert.NotNull(b);
    }

    [Fact]
    public async Task TwoManagersOnOneDirectory_ExcludeEachOtherLikeTwoProcesses()
    {
        // Two managers hold separate open file descriptions, exactly like two processes.
        using var a = NewManager();
        using var b = NewManager();
        var held = await a.AcquireAsync(D, TimeSpan.FromSeconds(1));

        Assert.Null(b.TryAcquire(D));
        var waiting = b.AcquireAsync(D, TimeSpan.FromSeconds(10)).AsTask();
        await Task.Delay(150);
        Assert.False(waiting.IsCompleted);

        held.Dispose();
        using var got = await waiting.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(got.IsHeld);
        Assert.Null(a.TryAcquire(D));
    }

    [Fact]
    public async Task LockFileDeletedWhileAnotherWaits_NeverTwoHolders()
    {
        using var a = NewManager();
        using var b = NewManager();
        var held = await a.AcquireAsync(D, TimeSpan.FromSeconds(1));
        var waiting = b.AcquireAsync(D, TimeSpan.FromSeconds(10)).AsTask();
        await Task.Delay(100);

        foreach (var f in Directory.GetFiles(_dir.Sub("locks")))
        {
            File.Delete(f);
        }

        await Task.Delay(200);
        Assert.False(waiting.IsCompleted, "the waiter must not get the lock while the holder still holds it");

        held.Dispose();
        using var got = await waiting.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(got.IsHeld);
        Assert.Null(a.TryAcquire(D));
        Assert.True(File.Exists(Path.Combine(_dir.Sub("locks"), $"stripe-{b.StripeOf(D):x4}.lock")), "the waiter locks the file now at the path");
    }

    [Fact]
    public void LockFileWithExtraHardLinks_IsComparedWithThePath_SoAReplacementIsStillNoticed()
    {
        // With extra links the locked inode's link count stays above 1 (and above 0 once replaced), so the
        // descriptor's fstat alone cannot tell; the path is compared with the locked file.
        using var a = NewManager();
        using var b = NewManager();
        string path = Path.Combine(_dir.Sub("locks"), $"stripe-{a.StripeOf(D):x4}.lock");
        using (var first = a.TryAcquire(D))
        {
            Assert.NotNull(first); // a keeps the stripe's descriptor open (unlocked) after the release
        }

        Assert.Equal(0, Shell.Run("ln", path, path + ".link1").ExitCode);
        Assert.Equal(0, Shell.Run("ln", path, path + ".link2").ExitCode);
        using (var linked = a.TryAcquire(D))
        {
            Assert.NotNull(linked); // still the file at the path: lockable despite the links
            Assert.Null(b.TryAcquire(D));
        }

        File.WriteAllBytes(path + ".new", []);
        File.Move(path + ".new", path, overwrite: true); // the old inode keeps two links
        using var held = a.TryAcquire(D);
        Assert.NotNull(held);
        using var c = NewManager(); // a fresh open of the path (b still has the replaced file open)
        Assert.Null(c.TryAcquire(D)); // a must hold the file now at the path, not the replaced one
    }

    [Fact]
    public void ReleaseThatClosesTheStripe_UnlocksEvenWhileACopyOfTheDescriptorLives()
    {
        // More stripes open than descriptors are kept: the release closes the stripe's descriptor. A copy of it (as a
        // child forked by Process.Start holds until its exec) must not keep the stripe locked.
        using var a = NewManager();
        using var b = NewManager();
        var held = new List<ChunkLock>();
        var stripes = new HashSet<int>();
        for (int i = 0; stripes.Count < 300; i++)
        {
            var d = ChunkDigest.Compute(BitConverter.GetBytes(i));
            if (stripes.Add(a.StripeOf(d)))
            {
                held.Add(a.TryAcquire(d) ?? throw new InvalidOperationException("uncontended TryAcquire failed"));
            }
        }

        var last = held[^1];
        string path = Path.Combine(_dir.Sub("locks"), $"stripe-{last.Stripe:x4}.lock");
        int fd = Directory.GetFiles("/proc/self/fd")
            .Where(f => LinkTargetOrNull(f) == path)
            .Select(f => int.Parse(Path.GetFileName(f)))
            .Single();
        int copy = Libc.Dup(fd);
        Assert.True(copy >= 0);
        try
        {
            last.Dispose();
            Assert.False(a.StateOf(last.Stripe).DescriptorOpen); // the release took the closing path

            using var other = b.TryAcquire(last.Digest);
            Assert.NotNull(other);
        }
        finally
        {
            Libc.Close(copy);
            held.ForEach(l => l.Dispose());
        }
    }

    /// <summary>The target of a /proc/self/fd entry, or null when another test's descriptor closed meanwhile.</summary>
    private static string? LinkTargetOrNull(string fdEntry)
    {
        try
        {
            return new FileInfo(fdEntry).LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
    }

    [Fact]
    public async Task HundredThousandCyclesOverDistinctChunks_LeaveABoundedNumberOfLockFiles()
    {
        using var locks = NewManager(stripes: 256);
        for (int i = 0; i < 100_000; i++)
        {
            var d = ChunkDigest.Compute(BitConverter.GetBytes(i));
            if ((i & 1) == 0)
            {
                using var l = await locks.AcquireAsync(d, TimeSpan.FromSeconds(1));
            }
            else
            {
                using var l = locks.TryAcquire(d);
                Assert.NotNull(l);
            }
        }

        Assert.InRange(Directory.GetFiles(_dir.Sub("locks")).Length, 1, 256);
        Assert.Equal(0, locks.HeldCount);
    }

    [Fact]
    public async Task ManyTasksOnFewChunks_MutualExclusionHolds()
    {
        using var a = NewManager(stripes: 16);
        using var b = NewManager(stripes: 16);
        var digests = Enumerable.Range(0, 4).Select(i => ChunkDigest.Compute(BitConverter.GetBytes(i))).ToArray();
        var inside = new int[digests.Length];
        int violations = 0;
        await Task.WhenAll(Enumerable.Range(0, 16).Select(t => Task.Run(async () =>
        {
            var m = t % 2 == 0 ? a : b;
            var rnd = new Random(t);
            for (int i = 0; i < 300; i++)
            {
                int k = rnd.Next(digests.Length);
                using var l = await m.AcquireAsync(digests[k], TimeSpan.FromSeconds(30));
                if (Interlocked.Increment(ref inside[k]) != 1)
                {
                    Interlocked.Increment(ref violations);
                }

                await Task.Yield();
                Interlocked.Decrement(ref inside[k]);
            }
        })));

        Assert.Equal(0, violations);
    }
}
