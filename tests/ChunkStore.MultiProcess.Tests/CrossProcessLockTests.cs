using System.Diagnostics;
using ChunkStore.MultiProcess.Tests.Infrastructure;
using ChunkStore.Native;
using Xunit;
using Xunit.Sdk;

namespace ChunkStore.MultiProcess.Tests;

/// <summary>
/// The per-chunk lock (DESIGN §4, level 1) between real processes: exclusion, release on SIGKILL, timeout,
/// cancellation, and lock files deleted under a holder. Orders are proved by the children's own timestamps
/// (a holder stamps <c>RELEASING</c> before it releases, a waiter stamps <c>ACQUIRED</c> after it acquires),
/// never by sleeping and hoping.
/// </summary>
public sealed class CrossProcessLockTests : MultiProcessTestBase
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(500);

    [Fact]
    public async Task HeldLock_BlocksOtherProcessUntilReleased_AndTryAcquireFailsMeanwhile()
    {
        var digest = RandomDigest();
        var holder = Start("hold-lock", Root, digest.ToString());
        await holder.ExpectAsync("LOCKED");

        // Try-acquire in another process and in this one: busy.
        var trier = Start("hold-lock", Root, digest.ToString(), "--try");
        await trier.ExpectAsync("BUSY");
        Assert.Equal(1, await trier.WaitForExitAsync());
        Assert.Null(Repo.Locks.TryAcquire(digest));

        var waiter = Start("acquire", Root, digest.ToString(), "60000");
        await waiter.ExpectAsync("WAITING");
        await waiter.AssertSilentAsync(Quiet, "the waiter must not get a lock another process holds");

        await holder.SendAsync("release");
        long releasing = Field(await holder.ExpectAsync("RELEASING"), 1);
        await holder.ExpectAsync("RELEASED");
        long acquired = Field(await waiter.ExpectAsync("ACQUIRED"), 2);
        Assert.True(acquired >= releasing, $"the waiter acquired at {acquired}, before the holder released at {releasing}");
        Assert.Equal(0, await waiter.WaitForExitAsync());
        Assert.Equal(0, await holder.WaitForExitAsync());

        // Everyone is gone: the lock is free for this process too.
        using var mine = Repo.Locks.TryAcquire(digest);
        Assert.NotNull(mine);
    }

    [Fact]
    public async Task HolderKilledWithSigkill_LockIsFreeAtOnce()
    {
        var digest = RandomDigest();
        var holder = Start("hold-lock", Root, digest.ToString());
        await holder.ExpectAsync("LOCKED");
        var waiter = Start("acquire", Root, digest.ToString(), "60000");
        await waiter.ExpectAsync("WAITING");
        await waiter.AssertSilentAsync(Quiet, "the waiter must not get a lock another process holds");

        var sinceKill = Stopwatch.StartNew();
        holder.Kill();
        await waiter.ExpectAsync("ACQUIRED", TimeSpan.FromSeconds(10));
        var elapsed = sinceKill.Elapsed;
        Assert.True(elapsed < TimeSpan.FromSeconds(2), $"the waiter needed {elapsed.TotalMilliseconds:F0} ms after the holder was killed");
        Assert.Equal(0, await waiter.WaitForExitAsync());
    }

    [Fact]
    public async Task AcquireWithTimeout_TimesOutWhileOtherProcessHolds()
    {
        var digest = RandomDigest();
        var holder = Start("hold-lock", Root, digest.ToString());
        await holder.ExpectAsync("LOCKED");

        // Another process gives up after its timeout...
        var waiter = Start("acquire", Root, digest.ToString(), "400");
        await waiter.ExpectAsync("WAITING");
        long waited = Field(await waiter.ExpectAsync("TIMEOUT"), 1);
        Assert.Equal(2, await waiter.WaitForExitAsync());
        Assert.InRange(waited, 390, 20_000);

        // ...and so does this one, with the typed error.
        var watch = Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<ChunkLockTimeoutException>(() => Repo.Locks.AcquireAsync(digest, TimeSpan.FromMilliseconds(300)).AsTask());
        Assert.True(watch.ElapsedMilliseconds >= 290, $"timed out after {watch.ElapsedMilliseconds} ms");
        Assert.Contains(digest.ToString(), ex.Message, StringComparison.Ordinal);

        // The holder still holds (giving up changed nothing), and the lock is usable after its release.
        Assert.Null(Repo.Locks.TryAcquire(digest));
        await holder.SendAsync("release");
        await holder.ExpectAsync("RELEASING");
        await holder.ExpectAsync("RELEASED");
        using var mine = await Repo.Locks.AcquireAsync(digest, TimeSpan.FromSeconds(10));
        Assert.True(mine.IsHeld);
    }

    [Fact]
    public async Task AcquireCancelled_WhileOtherProcessHolds_ThrowsAndLeavesLockUsable()
    {
        var digest = RandomDigest();
        var holder = Start("hold-lock", Root, digest.ToString());
        await holder.ExpectAsync("LOCKED");

        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var watch = Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Repo.Locks.AcquireAsync(digest, TimeSpan.FromMinutes(10), cts.Token).AsTask());
        Assert.True(watch.ElapsedMilliseconds >= 290, $"cancelled after {watch.ElapsedMilliseconds} ms");
        Assert.Equal(0, Repo.Locks.HeldCount);

        // A cancelled waiter must leave no stale state: a new waiter gets the lock as soon as the holder releases.
        var pending = Repo.Locks.AcquireAsync(digest, TimeSpan.FromSeconds(30)).AsTask();
        await Task.WhenAny(pending, Task.Delay(Quiet));
        Assert.False(pending.IsCompleted, "a new waiter got the lock while the other process holds it");
        await holder.SendAsync("release");
        await holder.ExpectAsync("RELEASING");
        using var mine = await pending.WaitAsync(HostProcess.EventTimeout);
        Assert.True(mine.IsHeld);

        // And we now exclude the other process.
        var trier = Start("hold-lock", Root, digest.ToString(), "--try");
        await trier.ExpectAsync("BUSY");
    }

    /// <summary>
    /// <see cref="Timeout.InfiniteTimeSpan"/> must wait for ever, also for another process. Found failing against
    /// the core of commit 2716b2f: <c>ChunkLockManager.AcquireAsync</c> clamps the "remaining" time of an infinite
    /// timeout (−1 ms) to zero before the cross-process wait, so it throws <see cref="ChunkLockTimeoutException"/>
    /// ("Timed out after -00:00:00.0010000") at once when another process holds the stripe.
    /// </summary>
    [Fact]
    public async Task AcquireWithInfiniteTimeout_WaitsForOtherProcessHolder()
    {
        var digest = RandomDigest();

        // In another process.
        var holder = Start("hold-lock", Root, digest.ToString());
        await holder.ExpectAsync("LOCKED");
        var waiter = Start("acquire", Root, digest.ToString(), "-1");
        await waiter.ExpectAsync("WAITING");
        await waiter.AssertSilentAsync(Quiet, "an infinite wait must not end while another process holds the lock");
        await holder.SendAsync("release");
        long releasing = Field(await holder.ExpectAsync("RELEASING"), 1);
        long acquired = Field(await waiter.ExpectAsync("ACQUIRED"), 2);
        Assert.True(acquired >= releasing);
        Assert.Equal(0, await waiter.WaitForExitAsync());

        // In this process.
        var holder2 = Start("hold-lock", Root, digest.ToString());
        await holder2.ExpectAsync("LOCKED");
        var pending = Repo.Locks.AcquireAsync(digest, Timeout.InfiniteTimeSpan).AsTask();
        await Task.WhenAny(pending, Task.Delay(Quiet));
        Assert.False(pending.IsCompleted, $"an infinite wait in this process ended while another process holds the lock: {pending.Exception?.InnerException?.Message}");
        await holder2.SendAsync("release");
        await holder2.ExpectAsync("RELEASING");
        using var mine = await pending.WaitAsync(HostProcess.EventTimeout);
        Assert.True(mine.IsHeld);
    }

    [Fact]
    public async Task LockFilesDeletedWhileOtherProcessWaits_WaiterStillWaitsForHolder()
    {
        var digest = RandomDigest();
        string stripeFile = StripePath(digest);
        var holder = Start("hold-lock", Root, digest.ToString());
        await holder.ExpectAsync("LOCKED");
        var waiter = Start("acquire", Root, digest.ToString(), "60000");
        await waiter.ExpectAsync("WAITING");
        await WaitUntilProcessHasOpenAsync(waiter, stripeFile);

        DeleteAllLockFiles();
        await waiter.AssertSilentAsync(Quiet, "after the lock files were deleted, the waiter must still wait for the holder");

        await holder.SendAsync("release");
        long releasing = Field(await holder.ExpectAsync("RELEASING"), 1);
        long acquired = Field(await waiter.ExpectAsync("ACQUIRED"), 2);
        Assert.True(acquired >= releasing, $"two holders: the waiter acquired at {acquired}, before the holder released at {releasing}");
        Assert.Equal(0, await waiter.WaitForExitAsync());
        Assert.True(File.Exists(stripeFile), "the waiter re-created the lock file at its path");
    }

    /// <summary>
    /// Pins a known limitation (reported, not hidden): a process that opens the lock path <em>after</em> the file
    /// was deleted under a holder creates a fresh file, locks it and so holds the chunk at the same time as the
    /// old holder (whose lock is on the unlinked inode). The double-stat check protects waiters that opened the old
    /// file, not newcomers. The store itself never deletes stripe files, so only an outside deletion (e.g. an
    /// operator cleaning <c>.locks/</c> during a backup) can cause it. Waiters are still excluded from both holders.
    /// If this test starts failing because the newcomer is refused, the limitation is fixed: update this test and
    /// <c>docs/locking.md</c>.
    /// </summary>
    [Fact]
    public async Task LockFilesDeletedWhileHeld_NewcomerLocksFreshFile_KnownLimitation_WaitersStillExcluded()
    {
        var digest = RandomDigest();
        string stripeFile = StripePath(digest);
        var holder = Start("hold-lock", Root, digest.ToString());
        await holder.ExpectAsync("LOCKED");
        var waiter = Start("acquire", Root, digest.ToString(), "60000");
        await waiter.ExpectAsync("WAITING");
        await WaitUntilProcessHasOpenAsync(waiter, stripeFile);

        DeleteAllLockFiles();

        // The newcomer opens the path after the deletion.
        var newcomer = Start("hold-lock", Root, digest.ToString(), "--try");
        string outcome = await newcomer.ExpectAsync("");
        Assert.True(outcome == "LOCKED", $"expected the documented second holder (LOCKED), got '{outcome}' — if BUSY, the limitation is fixed.\n{newcomer.Transcript}");

        // The waiter opened the old file before the deletion: it must wait for the old holder and then for the newcomer.
        await holder.SendAsync("release");
        long holderReleasing = Field(await holder.ExpectAsync("RELEASING"), 1);
        await holder.ExpectAsync("RELEASED");
        await waiter.AssertSilentAsync(Quiet, "the waiter must not acquire while the newcomer holds the new lock file");

        await newcomer.SendAsync("release");
        long newcomerReleasing = Field(await newcomer.ExpectAsync("RELEASING"), 1);
        long acquired = Field(await waiter.ExpectAsync("ACQUIRED"), 2);
        Assert.True(acquired >= holderReleasing && acquired >= newcomerReleasing,
            $"the waiter acquired at {acquired}; holder released at {holderReleasing}, newcomer at {newcomerReleasing}");
        Assert.Equal(0, await waiter.WaitForExitAsync());
    }

    /// <summary>
    /// Issue 12, item 5: a poll of a stripe another process holds failed with an I/O error, and the waiter's count
    /// was never taken back, so this process never unlocked that stripe's file again and every other process starved
    /// on all chunks of the stripe (1/1024 of all chunks) until it exited. After the failed wait this process uses
    /// the chunk once more and lets go: another process must then get a chunk of that stripe.
    /// </summary>
    [Fact]
    public async Task PollFailsWithIoError_WaiterGetsTypedError_AndOtherProcessesCanLockTheStripeAgain()
    {
        var digest = RandomDigest();
        int stripe = Repo.Locks.StripeOf(digest);
        var neighbour = RandomDigest();
        while (neighbour == digest || Repo.Locks.StripeOf(neighbour) != stripe)
        {
            neighbour = RandomDigest();
        }

        var holder = Start("hold-lock", Root, digest.ToString());
        await holder.ExpectAsync("LOCKED");
        var waiting = Repo.Locks.AcquireAsync(digest, TimeSpan.FromSeconds(60)).AsTask();
        var watch = Stopwatch.StartNew();
        while (Repo.Locks.StateOf(stripe) is not { Polling: true, Waiting: 1 })
        {
            Assert.True(watch.Elapsed < HostProcess.EventTimeout, $"this process never polled the stripe: {Repo.Locks.StateOf(stripe)}");
            await Task.Delay(2);
        }

        Repo.Locks.TryLockFunction = static _ => Libc.EIO;
        var ex = await Assert.ThrowsAsync<ChunkStorageException>(() => waiting.WaitAsync(HostProcess.EventTimeout));
        Repo.Locks.TryLockFunction = ChunkStore.Locking.ChunkLockManager.DefaultTryLock;
        Assert.True(ex.IsTransient);
        Assert.Equal(StorageErrorKind.IOError, ex.Kind);

        await holder.SendAsync("release");
        await holder.ExpectAsync("RELEASING");
        await holder.ExpectAsync("RELEASED");
        using (var mine = await Repo.Locks.AcquireAsync(digest, TimeSpan.FromSeconds(10)))
        {
            Assert.True(mine.IsHeld);
        }

        foreach (var chunk in new[] { neighbour, digest })
        {
            var trier = Start("hold-lock", Root, chunk.ToString(), "--try");
            string outcome = await trier.ExpectAsync("");
            Assert.True(outcome == "LOCKED", $"another process cannot lock chunk {chunk.ToShortString()} of stripe {stripe} after this process let go ({Repo.Locks.StateOf(stripe)}): '{outcome}'\n{trier.Transcript}");
            await trier.SendAsync("release");
            await trier.ExpectAsync("RELEASING");
            await trier.ExpectAsync("RELEASED");
        }
    }

    private string StripePath(ChunkDigest digest) => Path.Combine(LocksDirectory, $"stripe-{Repo.Locks.StripeOf(digest):x4}.lock");

    private void DeleteAllLockFiles()
    {
        string[] files = Directory.GetFiles(LocksDirectory);
        Assert.NotEmpty(files);
        foreach (string file in files)
        {
            File.Delete(file);
        }
    }

    /// <summary>Waits (by polling <c>/proc/PID/fd</c>) until the child has <paramref name="path"/> open, i.e. it is a waiter on that file.</summary>
    private static async Task WaitUntilProcessHasOpenAsync(HostProcess child, string path)
    {
        var watch = Stopwatch.StartNew();
        string fdDir = $"/proc/{child.Id}/fd";
        while (watch.Elapsed < HostProcess.EventTimeout)
        {
            foreach (string fd in SafeList(fdDir))
            {
                try
                {
                    if (new FileInfo(fd).LinkTarget == path)
                    {
                        return;
                    }
                }
                catch (IOException)
                {
                    // The descriptor closed meanwhile.
                }
            }

            await Task.Delay(5);
        }

        throw new XunitException($"the child never opened {path}.\n{child.Transcript}");
    }

    private static string[] SafeList(string directory)
    {
        try
        {
            return Directory.GetFiles(directory);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }
}
