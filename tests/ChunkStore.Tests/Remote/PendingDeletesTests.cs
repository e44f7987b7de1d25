using ChunkStore.Native;
using ChunkStore.Remote;
using ChunkStore.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace ChunkStore.Tests.Remote;

/// <summary>
/// The pending-delete records on their own (no server): who counts as waiting for an answer, and when a record
/// settles, on the store's <see cref="TimeProvider"/>.
/// </summary>
public sealed class PendingDeletesTests : IDisposable
{
    private static readonly TimeSpan Settle = TimeSpan.FromMinutes(1);
    private const string Key = "p/.chunks/0000/0000000000000000000000000000000000000000000000000000000000000000";

    private readonly TempDirectory _root = new();
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private readonly PendingDeletes _deletes;

    public PendingDeletesTests()
    {
        _deletes = new PendingDeletes(_root.Path, Settle, "test", _clock);
    }

    public void Dispose() => _root.Dispose();

    [Fact]
    public void Record_OfALiveSenderIsIgnored_OfAGoneSenderCountsUntilSettled()
    {
        var live = _deletes.Begin([Key]);
        live.Sending();
        Assert.Null(_deletes.Unsettled(Key)); // locked: its sender holds the keys' chunk locks and waits for the answer

        live.Dispose(); // gone without an answer
        Assert.Equal(Settle, _deletes.Unsettled(Key));
        Assert.Null(_deletes.Unsettled(Key + "-other"));

        _clock.Advance(TimeSpan.FromSeconds(40));
        Assert.Equal(TimeSpan.FromSeconds(20), _deletes.Unsettled(Key));

        _clock.Advance(TimeSpan.FromSeconds(20));
        Assert.Null(_deletes.Unsettled(Key));
        Assert.Equal(0, _deletes.CountRecords()); // removed by whoever saw it settled
    }

    [Fact]
    public void Record_AnsweredAtTheOnlyAttempt_OrNeverSent_IsRemoved()
    {
        using (var answered = _deletes.Begin([Key]))
        {
            answered.Sending();
            answered.Answered();
        }

        using (_deletes.Begin([Key]))
        {
        }

        Assert.Equal(0, _deletes.CountRecords());
    }

    [Fact]
    public void Record_ResentAfterAnUnknownOutcome_SettlesFromTheLastSend()
    {
        using (var intent = _deletes.Begin([Key]))
        {
            intent.Sending();
            _clock.Advance(TimeSpan.FromSeconds(30));
            intent.Sending(); // the retry restamps
            intent.Answered(); // an answer to the second copy: the first may still land
            _clock.Advance(TimeSpan.FromSeconds(10));
        }

        // Restamped when its sender stopped waiting (40 s after the first send).
        Assert.Equal(Settle, _deletes.Unsettled(Key));
    }

    [Fact]
    public void Dispose_ReleasesTheLock_WhileACopyOfTheDescriptorLivesOn()
    {
        // A child forked by Process.Start holds a copy of every descriptor until its exec. If disposing only closed
        // the record, that copy would keep the lock, and the record would read as "its sender still waits" — so an
        // insert would trust the object although a delete of it may still land.
        var intent = _deletes.Begin([Key]);
        intent.Sending();
        int copy = Libc.Dup(intent.File.Descriptor);
        Assert.True(copy >= 0);
        try
        {
            intent.Dispose();

            Assert.Equal(Settle, _deletes.Unsettled(Key));
        }
        finally
        {
            Libc.Close(copy);
        }
    }

    [Fact]
    public void TemporaryFileOfADeadWriter_IsRemovedOnlyAfterAMinute_AndALockedOneNever()
    {
        using (_deletes.Begin([Key]))
        {
        }

        string dead = Path.Combine(_deletes.Directory, "dead.tmp");
        File.WriteAllBytes(dead, []);
        string writing = Path.Combine(_deletes.Directory, "writing.tmp");
        Assert.Equal(0, LockFile.TryOpen(writing, Libc.O_RDWR | Libc.O_CREAT, 0b110_100_100, out var held));
        using (held)
        {
            Assert.Equal(0, held!.TryLock(exclusive: true));

            _deletes.RemoveSettled();
            Assert.True(File.Exists(dead), "a fresh temporary file may be a record being written");

            _clock.Advance(TimeSpan.FromMinutes(2));
            _deletes.RemoveSettled();
            Assert.False(File.Exists(dead));
            Assert.True(File.Exists(writing));
        }
    }
}
