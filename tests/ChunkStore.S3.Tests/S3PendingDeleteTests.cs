using System.Diagnostics;
using ChunkStore.S3.Tests.Infrastructure;
using ChunkStore.Remote;

namespace ChunkStore.S3.Tests;

/// <summary>
/// A delete whose sender died (or whose outcome is unknown) can still land after the chunk lock is gone: found by the
/// torture harness (a GC SIGKILLed while its DeleteObjects sat in the fault proxy; an insert then got 412 from the
/// still-existing object, reported a duplicate, and the late delete removed the object under a fresh marker).
/// </summary>
public class S3PendingDeleteTests(S3BucketFixture fixture) : IClassFixture<S3BucketFixture>
{
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(3);

    /// <summary>Leaves the record a sender that died mid-delete leaves: written, its lock released (as by the kernel).</summary>
    private static void LeaveAbandonedRecord(S3TestStore store, string key)
    {
        using var intent = store.Backend.PendingDeletes.Begin([key]);
        intent.Sending(); // the request went out; then its sender died
    }

    /// <summary>The late copy of that delete: it reaches the server after <paramref name="delay"/>.</summary>
    private Task LateDeleteAsync(string key, TimeSpan delay) => Task.Run(async () =>
    {
        await Task.Delay(delay);
        await fixture.Client.DeleteObjectAsync(fixture.Bucket, key);
    });

    [S3Fact]
    public async Task Insert_ObjectExistsButADeadSendersDeleteMayLand_WaitsForItThenUploadsAgain()
    {
        await using var store = fixture.CreateStore(o => o.DeleteSettleTime = Settle);
        byte[] data = S3TestStore.RandomChunk(10_000);
        var digest = ChunkDigest.Compute(data);
        string key = store.Key(digest);

        // The state a GC killed mid-DeleteObjects leaves: no local marker, the object still there, the request on its
        // way (recorded, and its lock released as by the kernel at the sender's death).
        await fixture.PutRawAsync(key, data);
        LeaveAbandonedRecord(store, key);
        var lateDelete = LateDeleteAsync(key, TimeSpan.FromSeconds(1));

        var clock = Stopwatch.StartNew();
        var result = await store.Repo.InsertAsync(data);
        clock.Stop();
        await lateDelete;

        // It did not trust the 412: it waited for the delete to settle, then uploaded (the object was gone by then).
        Assert.True(result.IsNew);
        Assert.True(clock.Elapsed >= Settle - TimeSpan.FromMilliseconds(500), $"returned after {clock.Elapsed}");
        Assert.Equal(data, await fixture.GetAsync(key));
        Assert.NotNull(store.LocalSize(digest));
        Assert.Equal(data, await store.Repo.ReadAsync(digest));
    }

    [S3Fact]
    public async Task Insert_ObjectExistsAndTheDeleteHasSettled_IsADuplicateAndTheRecordIsRemoved()
    {
        await using var store = fixture.CreateStore(o => o.DeleteSettleTime = TimeSpan.FromMilliseconds(300));
        byte[] data = S3TestStore.RandomChunk(10_000);
        string key = store.Key(ChunkDigest.Compute(data));
        await fixture.PutRawAsync(key, data);
        LeaveAbandonedRecord(store, key);
        await Task.Delay(400);

        var result = await store.Repo.InsertAsync(data);

        Assert.False(result.IsNew); // trusted the 412: the record had settled
        Assert.Equal(0, store.Backend.PendingDeletes.CountRecords());
    }

    [S3Fact]
    public async Task Unsettled_WithNoRecords_DoesNotListTheDirectory_YetSeesARecordMadeLater()
    {
        await using var store = fixture.CreateStore(o => o.DeleteSettleTime = TimeSpan.FromSeconds(30));
        var pending = store.Backend.PendingDeletes;
        string key = store.Key(ChunkDigest.Compute(S3TestStore.RandomChunk()));
        using (var answered = pending.Begin([key]))
        {
            answered.Sending();
            answered.Answered(); // the directory exists now, empty again
        }

        await Task.Delay(TimeSpan.FromSeconds(1.5)); // its mtime is over a second old: an empty listing is remembered
        Assert.Null(pending.Unsettled(key));
        long listings = pending.Listings;
        for (int i = 0; i < 100; i++)
        {
            Assert.Null(pending.Unsettled(key));
        }

        Assert.Equal(listings, pending.Listings); // one stat each, no listing

        LeaveAbandonedRecord(store, key);
        Assert.NotNull(pending.Unsettled(key)); // the new record changed the directory: listed again, and found
    }

    [S3Fact]
    public async Task ReadMiss_WhileADeleteMayLand_ReturnsTheBytesButCachesNothing()
    {
        await using var store = fixture.CreateStore(o => o.DeleteSettleTime = TimeSpan.FromSeconds(30));
        byte[] data = S3TestStore.RandomChunk(10_000);
        var digest = ChunkDigest.Compute(data);
        await fixture.PutRawAsync(store.Key(digest), data);
        LeaveAbandonedRecord(store, store.Key(digest));

        Assert.Equal(data, await store.Repo.ReadAsync(digest));

        Assert.Null(store.LocalSize(digest));
        Assert.False(store.InLru(digest));
    }

    [S3Fact]
    public async Task GarbageCollection_AnsweredDeletes_LeaveNoRecord()
    {
        await using var store = fixture.CreateStore();
        var garbage = await store.Repo.InsertAsync(S3TestStore.RandomChunk());
        store.AgeChunk(garbage.Digest);
        await store.WaitForServerAgeAsync();

        var result = await store.CollectAsync();

        Assert.Equal(1, result.ChunksRemoved);
        Assert.False(await store.ObjectExistsAsync(garbage.Digest));
        Assert.Equal(0, store.Backend.PendingDeletes.CountRecords());
    }

    [S3Fact]
    public async Task Insert_UploadSucceedsButAnEarlierCopyOfADeleteMayLand_WaitsThenUploadsAgain()
    {
        await using var store = fixture.CreateStore(o => o.DeleteSettleTime = Settle);
        byte[] data = S3TestStore.RandomChunk(10_000);
        var digest = ChunkDigest.Compute(data);
        string key = store.Key(digest);

        // No object (one copy of a dead GC's delete already landed), but another copy is still on its way.
        LeaveAbandonedRecord(store, key);
        var lateDelete = LateDeleteAsync(key, TimeSpan.FromSeconds(1)); // lands after the first PUT

        var clock = Stopwatch.StartNew();
        var result = await store.Repo.InsertAsync(data);
        clock.Stop();
        await lateDelete;

        Assert.True(result.IsNew);
        Assert.True(clock.Elapsed >= Settle - TimeSpan.FromMilliseconds(500), $"returned after {clock.Elapsed}");
        Assert.Equal(data, await fixture.GetAsync(key));
    }

    [S3Fact]
    public async Task Touch_ObjectExistsButADeleteMayLand_WaitsThenAnswersFromTheServer()
    {
        await using var store = fixture.CreateStore(o => o.DeleteSettleTime = TimeSpan.FromSeconds(2));
        byte[] data = S3TestStore.RandomChunk(10_000);
        var digest = ChunkDigest.Compute(data);
        await fixture.PutRawAsync(store.Key(digest), data);
        LeaveAbandonedRecord(store, store.Key(digest));
        var lateDelete = LateDeleteAsync(store.Key(digest), TimeSpan.FromMilliseconds(500));

        bool touched = await store.Repo.TouchAsync(digest);
        await lateDelete;

        Assert.False(touched);
        Assert.Null(store.LocalSize(digest));
    }

    [S3Fact]
    public async Task GarbageCollection_ReferencedObjectWithADeleteThatMayLand_KeepsUsingAndDoesNotReportItMissing()
    {
        await using var store = fixture.CreateStore(o => o.DeleteSettleTime = TimeSpan.FromSeconds(30));
        byte[] data = S3TestStore.RandomChunk(10_000);
        var digest = ChunkDigest.Compute(data);
        await fixture.PutRawAsync(store.Key(digest), data); // no local state: a lost cache, say
        LeaveAbandonedRecord(store, store.Key(digest));

        var result = await store.CollectAsync(digest);

        Assert.Equal(0, result.MissingChunks);
        Assert.Equal(0, result.ChunksRemoved);
        Assert.Null(store.LocalSize(digest));           // no marker: the object may still vanish
        Assert.True(File.Exists(store.UsingPath(digest))); // still expected; the next collection decides
        Assert.True(await store.ObjectExistsAsync(digest));
    }

    [S3Fact]
    public async Task RenameCorrupt_AnsweredDelete_LeavesNoRecord()
    {
        await using var store = fixture.CreateStore();
        byte[] data = S3TestStore.RandomChunk(10_000);
        var digest = (await store.Repo.InsertAsync(data)).Digest;
        byte[] bad = (byte[])data.Clone();
        bad[17] ^= 1;
        await fixture.PutRawAsync(store.Key(digest), bad);

        var verdict = await store.Repo.VerifyAsync(digest);

        Assert.Equal(ChunkVerifyStatus.Corrupt, verdict.Status);
        Assert.False(await store.ObjectExistsAsync(digest));
        Assert.True(await fixture.ExistsAsync(store.BadKey(digest, 0)));
        Assert.Equal(0, store.Backend.PendingDeletes.CountRecords());
    }
}
