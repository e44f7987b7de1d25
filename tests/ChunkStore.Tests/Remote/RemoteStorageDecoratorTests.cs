using System.Buffers;
using ChunkStore.Backends;
using ChunkStore.Remote;
using ChunkStore.Tests.Remote;
using Microsoft.Extensions.Time.Testing;

namespace ChunkStore.Tests.Remote;

/// <summary>The retry and concurrency-limit decorators of <see cref="IRemoteStorage"/>, over the in-memory storage.</summary>
public class RemoteStorageDecoratorTests
{
    private static readonly RemoteRetryPolicy s_noWait = new(3, TimeSpan.Zero, TimeSpan.Zero);

    [Fact]
    public async Task Retrying_TransientFailures_AreRetriedUntilOneAttemptSucceeds()
    {
        var flaky = new FailingStorage(new InMemoryRemoteStorage()) { Failures = 2 };
        using var storage = new RetryingRemoteStorage(flaky, s_noWait);

        Assert.True(await storage.PutAsync("k", new byte[] { 1, 2, 3 }, ifAbsent: true, null, CancellationToken.None));

        Assert.Equal(3, flaky.Calls);
        Assert.Equal(new byte[] { 1, 2, 3 }, await ReadAllAsync(storage, "k"));
    }

    [Fact]
    public async Task Retrying_GivesUpAfterTheRetryCount_WithTheLastFailure()
    {
        var flaky = new FailingStorage(new InMemoryRemoteStorage()) { Failures = int.MaxValue };
        using var storage = new RetryingRemoteStorage(flaky, s_noWait);

        var ex = await Assert.ThrowsAsync<ChunkStorageException>(async () => await storage.ExistsAsync("k", null, CancellationToken.None));

        Assert.True(ex.IsTransient);
        Assert.Equal(1 + s_noWait.Count, flaky.Calls);
    }

    [Fact]
    public async Task Retrying_PermanentFailure_IsNotRetried()
    {
        var flaky = new FailingStorage(new InMemoryRemoteStorage()) { Failures = int.MaxValue, Transient = false };
        using var storage = new RetryingRemoteStorage(flaky, s_noWait);

        await Assert.ThrowsAsync<ChunkStorageException>(async () => await storage.ListPageAsync("", null, CancellationToken.None));

        Assert.Equal(1, flaky.Calls);
    }

    [Fact]
    public async Task Retrying_AfterTheCallerCancelled_DoesNotTryAgain()
    {
        using var cts = new CancellationTokenSource();
        var flaky = new FailingStorage(new InMemoryRemoteStorage()) { Failures = int.MaxValue, OnFailure = cts.Cancel };
        using var storage = new RetryingRemoteStorage(flaky, s_noWait);

        await Assert.ThrowsAnyAsync<Exception>(async () => await storage.ReadAsync("k", null, new ArrayBufferWriter<byte>(), cts.Token));

        Assert.Equal(1, flaky.Calls);
    }

    [Fact]
    public async Task Retrying_Delete_AnnouncesEveryAttempt()
    {
        var memory = new InMemoryRemoteStorage();
        await memory.PutAsync("k", new byte[] { 1 }, ifAbsent: false, null, CancellationToken.None);
        var flaky = new FailingStorage(memory) { Failures = 2, FailAfterAnnouncing = true };
        using var storage = new RetryingRemoteStorage(flaky, s_noWait);
        int announced = 0;

        var errors = await storage.DeleteAsync(["k"], () => announced++);

        Assert.Empty(errors);
        Assert.Equal(3, announced); // two failed attempts that may have reached the storage, and the answered one
        Assert.False(await memory.ExistsAsync("k", null, CancellationToken.None));
    }

    [Fact]
    public async Task Retrying_WaitsWithoutHoldingAConcurrencySlot()
    {
        var time = new FakeTimeProvider();
        var flaky = new FailingStorage(new InMemoryRemoteStorage()) { Failures = 1 };
        var limited = new ConcurrencyLimitedRemoteStorage(flaky, 1);
        using var storage = new RetryingRemoteStorage(limited, new RemoteRetryPolicy(1, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(10)), time);

        var put = storage.PutAsync("k", new byte[] { 1 }, ifAbsent: true, null, CancellationToken.None).AsTask();
        Assert.Equal(1, flaky.Calls);
        Assert.False(put.IsCompleted); // waiting for its retry (on the fake clock) ...
        Assert.Equal(1, limited.FreeSlots); // ... with the one slot free for others

        time.Advance(TimeSpan.FromSeconds(10));
        Assert.True(await put.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(2, flaky.Calls);
    }

    [Fact]
    public async Task ConcurrencyLimited_NeverLetsMoreThanTheLimitIn()
    {
        var gate = new GateStorage(new InMemoryRemoteStorage());
        using var storage = new ConcurrencyLimitedRemoteStorage(gate, 2);

        var reads = Enumerable.Range(0, 8)
            .Select(i => Task.Run(async () => await storage.ExistsAsync("k" + i, null, CancellationToken.None)))
            .ToList();
        await gate.WaitForInFlightAsync(2);
        await Task.Delay(100); // (time for a third to get in, were the limit broken)
        Assert.Equal(2, gate.InFlight);

        gate.Open();
        await Task.WhenAll(reads);
        Assert.Equal(2, gate.MaxInFlight);
    }

    private static async Task<byte[]> ReadAllAsync(IRemoteStorage storage, string key)
    {
        var writer = new ExactArrayWriter();
        var read = await storage.ReadAsync(key, null, writer, CancellationToken.None) ?? throw new InvalidOperationException("absent");
        writer.Advance(read.Bytes.Length);
        return writer.Written;
    }

    /// <summary>Fails the first <see cref="Failures"/> calls (any operation) with a <see cref="ChunkStorageException"/>.</summary>
    private sealed class FailingStorage(IRemoteStorage inner) : ForwardingStorage(inner)
    {
        private int _calls;

        public int Failures { get; init; }

        public bool Transient { get; init; } = true;

        public Action? OnFailure { get; init; }

        /// <summary>A failed delete announces its attempt first (it may have reached the storage).</summary>
        public bool FailAfterAnnouncing { get; init; }

        public int Calls => Volatile.Read(ref _calls);

        protected override void BeforeCall(Action? announce)
        {
            if (Interlocked.Increment(ref _calls) > Failures)
            {
                return;
            }

            if (FailAfterAnnouncing)
            {
                announce?.Invoke();
            }

            OnFailure?.Invoke();
            throw new ChunkStorageException("injected", StorageErrorKind.Network, Transient, null);
        }
    }

    /// <summary>Holds every call until <see cref="Open"/>, counting how many are inside at once.</summary>
    private sealed class GateStorage(IRemoteStorage inner) : ForwardingStorage(inner)
    {
        private readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _inFlight;
        private int _max;

        public int InFlight => Volatile.Read(ref _inFlight);

        public int MaxInFlight => Volatile.Read(ref _max);

        public void Open() => _open.TrySetResult();

        public async Task WaitForInFlightAsync(int count)
        {
            while (InFlight < count)
            {
                await Task.Delay(5);
            }
        }

        protected override async ValueTask BeforeCallAsync()
        {
            int now = Interlocked.Increment(ref _inFlight);
            int max;
            while (now > (max = Volatile.Read(ref _max)) && Interlocked.CompareExchange(ref _max, now, max) != max)
            {
            }

            await _open.Task;
            Interlocked.Decrement(ref _inFlight);
        }
    }

    /// <summary>Forwards every call to the inner storage after a hook.</summary>
    private abstract class ForwardingStorage(IRemoteStorage inner) : IRemoteStorage
    {
        public string Description => inner.Description;

        public RemoteStorageCapabilities Capabilities => inner.Capabilities;

        public async ValueTask<bool> PutAsync(string key, ReadOnlyMemory<byte> data, bool ifAbsent, ChunkDigest? digest, CancellationToken cancellationToken)
        {
            await HookAsync(null);
            return await inner.PutAsync(key, data, ifAbsent, digest, cancellationToken);
        }

        public async ValueTask<bool> ExistsAsync(string key, ChunkDigest? digest, CancellationToken cancellationToken)
        {
            await HookAsync(null);
            return await inner.ExistsAsync(key, digest, cancellationToken);
        }

        public async ValueTask<RemoteRead?> ReadAsync(string key, ChunkDigest? digest, IBufferWriter<byte> destination, CancellationToken cancellationToken)
        {
            await HookAsync(null);
            return await inner.ReadAsync(key, digest, destination, cancellationToken);
        }

        public async ValueTask<RemoteListPage> ListPageAsync(string prefix, string? continuation, CancellationToken cancellationToken)
        {
            await HookAsync(null);
            return await inner.ListPageAsync(prefix, continuation, cancellationToken);
        }

        public async ValueTask<bool> CopyAsync(string source, string target, ChunkDigest? digest)
        {
            await HookAsync(null);
            return await inner.CopyAsync(source, target, digest);
        }

        public async ValueTask<IReadOnlyList<RemoteDeleteError>> DeleteAsync(IReadOnlyList<string> keys, Action beforeAttempt)
        {
            await HookAsync(beforeAttempt);
            return await inner.DeleteAsync(keys, beforeAttempt);
        }

        public TimeSpan? ClockSkew(TimeProvider localClock) => inner.ClockSkew(localClock);

        public void Dispose() => inner.Dispose();

        protected virtual void BeforeCall(Action? announce)
        {
        }

        protected virtual ValueTask BeforeCallAsync() => ValueTask.CompletedTask;

        private ValueTask HookAsync(Action? announce)
        {
            BeforeCall(announce);
            return BeforeCallAsync();
        }
    }
}
