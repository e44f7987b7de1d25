using ChunkStore.Backends;
using ChunkStore.Tests.Infrastructure;

namespace ChunkStore.Tests.Contract;

/// <summary>
/// The obligations of <see cref="IChunkBackend"/>, checked through the <see cref="ChunkRepository"/> facade. Every
/// backend runs this suite through a subclass that says how to create a store and how to reach behind the
/// backend's back (corrupt a stored chunk, read or age its GC timestamp).
/// </summary>
public abstract class ChunkBackendContractTests : IAsyncLifetime
{
    private readonly List<ChunkRepository> _stores = [];

    /// <summary>Creates a fresh, empty store on the backend under test.</summary>
    protected abstract ValueTask<ChunkRepository> CreateStoreCoreAsync();

    /// <summary>Replaces the stored bytes of a chunk behind the store's back (bit flip, truncation, ...).</summary>
    protected abstract ValueTask CorruptAsync(ChunkRepository store, ChunkDigest digest, byte[] storedBytes);

    /// <summary>Returns the GC timestamp (last touch) the backend keeps for a chunk.</summary>
    protected abstract DateTimeOffset LastTouched(ChunkRepository store, ChunkDigest digest);

    /// <summary>Sets a chunk's GC timestamp into the past.</summary>
    protected abstract void Age(ChunkRepository store, ChunkDigest digest, DateTime utc);

    /// <summary>
    /// Waits until chunks stored so far are old in every clock the backend's collection consults besides the one
    /// <see cref="Age"/> sets (S3: the objects' LastModified, server time, which nothing can set); none by default.
    /// </summary>
    protected virtual Task LetStoredChunksAgeAsync(ChunkRepository store) => Task.CompletedTask;

    /// <summary>The collection options of the contract's GC test: the defaults unless the backend's clocks need shorter periods.</summary>
    protected virtual GarbageCollectionOptions? ContractGcOptions => null;

    /// <summary>Inserts a 4 KiB chunk, then flips bits of one byte of the stored copy behind the store's back.</summary>
    protected async Task<(ChunkInsertResult Inserted, byte[] Flipped)> InsertBitFlippedAsync(ChunkRepository store, int seed, int at, byte mask)
    {
        var data = TestData.Random(4096, seed);
        var inserted = await store.InsertAsync(data);
        var flipped = (byte[])data.Clone();
        flipped[at] ^= mask;
        await CorruptAsync(store, inserted.Digest, flipped);
        return (inserted, flipped);
    }

    protected async ValueTask<ChunkRepository> CreateStoreAsync()
    {
        var store = await CreateStoreCoreAsync();
        _stores.Add(store);
        return store;
    }

    public virtual Task InitializeAsync() => Task.CompletedTask;

    public virtual async Task DisposeAsync()
    {
        foreach (var s in _stores)
        {
            await s.DisposeAsync();
        }
    }

    [Fact]
    public async Task Insert_NewChunk_ReportsNewWithSizeAndReadsBackTheSameBytes()
    {
        var store = await CreateStoreAsync();
        var data = TestData.Random(70_000, 1);

        var result = await store.InsertAsync(data);

        Assert.True(result.IsNew);
        Assert.Equal(70_000, result.Size);
        Assert.Equal(ChunkDigest.Compute(data), result.Digest);
        Assert.Equal(data, await store.ReadAsync(result.Digest));
        Assert.True(await store.ContainsAsync(result.Digest));
    }

    [Fact]
    public async Task Insert_SameContentTwice_SecondIsDuplicateAndTouches()
    {
        var store = await CreateStoreAsync();
        var data = TestData.Random(1000, 2);
        var first = await store.InsertAsync(data);
        Age(store, first.Digest, DateTime.UtcNow.AddDays(-3));
        var before = LastTouched(store, first.Digest);

        var second = await store.InsertAsync(data);

        Assert.False(second.IsNew);
        Assert.Equal(first.Digest, second.Digest);
        Assert.Equal(1000, second.Size);
        Assert.True(LastTouched(store, first.Digest) > before.AddDays(2), "a duplicate insert must refresh the chunk's GC timestamp");
    }

    [Fact]
    public async Task Read_MissingChunk_ThrowsChunkNotFoundNamingStoreAndChunk()
    {
        var store = await CreateStoreAsync();
        var digest = ChunkDigest.Compute([1, 2, 3]);

        var ex = await Assert.ThrowsAsync<ChunkNotFoundException>(async () => await store.ReadAsync(digest));

        Assert.Equal(digest, ex.Digest);
        Assert.Contains(digest.ToString(), ex.Message, StringComparison.Ordinal);
        Assert.Contains(store.Backend.Description, ex.Message, StringComparison.Ordinal);
        Assert.False(await store.ContainsAsync(digest));
    }

    [Fact]
    public async Task Touch_PresentChunkMovesTimestampForward_MissingChunkReturnsFalse()
    {
        var store = await CreateStoreAsync();
        var r = await store.InsertAsync(TestData.Random(100, 3));
        Age(store, r.Digest, DateTime.UtcNow.AddDays(-3));

        Assert.True(await store.TouchAsync(r.Digest));
        Assert.True(LastTouched(store, r.Digest) > DateTimeOffset.UtcNow.AddMinutes(-5));
        Assert.False(await store.TouchAsync(ChunkDigest.Compute([9])));
    }

    [Fact]
    public async Task RenameCorrupt_MovesToFirstFreeBadName_AndNextInsertStoresAgain()
    {
        var store = await CreateStoreAsync();
        var data = TestData.Random(5000, 4);
        var r = await store.InsertAsync(data);

        Assert.Equal(0, await store.Maintenance.RenameCorruptAsync(r.Digest));
        Assert.False(await store.ContainsAsync(r.Digest));
        await Assert.ThrowsAsync<ChunkNotFoundException>(async () => await store.ReadAsync(r.Digest));

        var again = await store.InsertAsync(data);
        Assert.True(again.IsNew, "after a rename the chunk must be stored anew, not claimed by a cache");
        Assert.Equal(data, await store.ReadAsync(r.Digest));
        Assert.Equal(1, await store.Maintenance.RenameCorruptAsync(r.Digest));
        Assert.Null(await store.Maintenance.RenameCorruptAsync(r.Digest));
    }

    [Fact]
    public async Task Read_CorruptChunk_ThrowsChunkCorruptAndRenamesNothing()
    {
        var store = await CreateStoreAsync();
        var (r, flipped) = await InsertBitFlippedAsync(store, seed: 5, at: 2000, mask: 0x40);

        var ex = await Assert.ThrowsAsync<ChunkCorruptException>(async () => await store.ReadAsync(r.Digest));

        Assert.Equal(r.Digest, ex.Digest);
        Assert.Equal(ChunkDigest.Compute(flipped), ex.ActualDigest);
        Assert.True(await store.ContainsAsync(r.Digest), "a read must not rename; only verify does");
    }

    [Fact]
    public async Task ReadInto_AppendsTheVerifiedChunkToTheCallersBuffer()
    {
        var store = await CreateStoreAsync();
        var data = TestData.Random(70_000, 8);
        var digest = (await store.InsertAsync(data)).Digest;
        var writer = new System.Buffers.ArrayBufferWriter<byte>();
        System.Buffers.BuffersExtensions.Write(writer, new byte[] { 1, 2, 3 });

        Assert.Equal(data.Length, await store.ReadIntoAsync(digest, writer));
        Assert.Equal(data.Length, await store.ReadIntoAsync(digest, writer)); // a second time (a cache hit on S3)

        Assert.Equal([1, 2, 3, .. data, .. data], writer.WrittenSpan.ToArray());
        await Assert.ThrowsAsync<ChunkNotFoundException>(async () => await store.ReadIntoAsync(ChunkDigest.Compute([9]), writer));
        Assert.Equal(3 + (2 * data.Length), writer.WrittenCount);
    }

    [Fact]
    public async Task ReadInto_CorruptChunk_ThrowsAndCommitsNothing()
    {
        var store = await CreateStoreAsync();
        var (r, flipped) = await InsertBitFlippedAsync(store, seed: 9, at: 100, mask: 0x01);
        var writer = new System.Buffers.ArrayBufferWriter<byte>();
        System.Buffers.BuffersExtensions.Write(writer, new byte[] { 7 });

        var ex = await Assert.ThrowsAsync<ChunkCorruptException>(async () => await store.ReadIntoAsync(r.Digest, writer));

        Assert.Equal(ChunkDigest.Compute(flipped), ex.ActualDigest);
        Assert.Equal([7], writer.WrittenSpan.ToArray()); // the corrupt bytes were never committed
    }

    [Fact]
    public async Task ReadPooledAndOpenRead_GiveTheVerifiedBytes_AndLetGoOfTheBufferWhenDisposed()
    {
        var store = await CreateStoreAsync();
        var data = TestData.Random(70_000, 10);
        var digest = (await store.InsertAsync(data)).Digest;

        var owner = await store.ReadPooledAsync(digest);
        Assert.Equal(data, owner.Memory.ToArray());
        owner.Dispose();
        owner.Dispose(); // twice is harmless
        Assert.Throws<ObjectDisposedException>(() => owner.Memory);

        var stream = await store.OpenReadAsync(digest);
        Assert.True(stream.CanRead && stream.CanSeek && !stream.CanWrite);
        Assert.Equal(data.Length, stream.Length);
        var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        Assert.Equal(data, copy.ToArray());
        stream.Position = 10;
        Assert.Equal(data[10], (byte)stream.ReadByte());
        await stream.DisposeAsync();
        Assert.Throws<ObjectDisposedException>(() => stream.ReadByte());

        await Assert.ThrowsAsync<ChunkNotFoundException>(async () => await store.ReadPooledAsync(ChunkDigest.Compute([9])));
        await Assert.ThrowsAsync<ChunkNotFoundException>(async () => await store.OpenReadAsync(ChunkDigest.Compute([9])));
    }

    [Fact]
    public async Task ReadPooledAndOpenRead_CorruptChunk_Throw()
    {
        var store = await CreateStoreAsync();
        var (r, _) = await InsertBitFlippedAsync(store, seed: 11, at: 5, mask: 0x80);

        await Assert.ThrowsAsync<ChunkCorruptException>(async () => await store.ReadPooledAsync(r.Digest));
        await Assert.ThrowsAsync<ChunkCorruptException>(async () => await store.OpenReadAsync(r.Digest));
    }

    [Fact]
    public async Task Verify_GoodCorruptAndMissingChunks_ReportsEachAndRenamesOnlyTheCorruptOne()
    {
        var store = await CreateStoreAsync();
        var good = await store.InsertAsync(TestData.Random(3000, 6));
        var badData = TestData.Random(3000, 7);
        var bad = await store.InsertAsync(badData);
        await CorruptAsync(store, bad.Digest, badData[..1500]);
        var missing = ChunkDigest.Compute([42]);

        Assert.Equal(ChunkVerifyStatus.Ok, (await store.VerifyAsync(good.Digest)).Status);
        var corrupt = await store.VerifyAsync(bad.Digest);
        Assert.Equal(ChunkVerifyStatus.Corrupt, corrupt.Status);
        Assert.Equal(0, corrupt.BadIndex);
        Assert.Equal(ChunkVerifyStatus.Missing, (await store.VerifyAsync(missing)).Status);

        Assert.True(await store.ContainsAsync(good.Digest));
        Assert.False(await store.ContainsAsync(bad.Digest));
        var healed = await store.InsertAsync(badData);
        Assert.True(healed.IsNew);
        Assert.Equal(badData, await store.ReadAsync(bad.Digest));
    }

    [Fact]
    public async Task VerifyAll_CountsGoodCorruptAndMissing()
    {
        var store = await CreateStoreAsync();
        var digests = new List<ChunkDigest>();
        for (int i = 0; i < 20; i++)
        {
            digests.Add((await store.InsertAsync(TestData.Random(2000 + i, 100 + i))).Digest);
        }

        await CorruptAsync(store, digests[3], TestData.Random(2003, 999));
        await CorruptAsync(store, digests[7], [1, 2, 3]);
        digests.Add(ChunkDigest.Compute([7, 7, 7]));

        var result = await store.Maintenance.VerifyAllAsync(ChunkRepository.ToAsync(digests), parallelism: 4);

        Assert.Equal(21, result.Checked);
        Assert.Equal(18, result.Ok);
        Assert.Equal(2, result.Corrupt);
        Assert.Equal(1, result.Missing);
        Assert.Equal(0, result.Errors);
        Assert.Contains(digests[3], result.BadSample);
    }

    [Fact]
    public async Task List_ReturnsExactlyTheStoredChunks()
    {
        var store = await CreateStoreAsync();
        var expected = new HashSet<ChunkDigest>();
        for (int i = 0; i < 30; i++)
        {
            expected.Add((await store.InsertAsync(TestData.Random(100, 200 + i))).Digest);
        }

        var renamed = expected.First();
        await store.Maintenance.RenameCorruptAsync(renamed);
        expected.Remove(renamed);

        var listed = new HashSet<ChunkDigest>();
        await foreach (var d in store.ListAsync())
        {
            Assert.True(listed.Add(d), "each chunk must be listed once");
        }

        Assert.Equal(expected, listed);
    }

    [Fact]
    public async Task ListInfo_GivesEachChunksSizeAndLastTouch_AndTouchesNothing()
    {
        var store = await CreateStoreAsync();
        var sizes = new Dictionary<ChunkDigest, int>();
        for (int i = 0; i < 5; i++)
        {
            var data = TestData.Random(1000 + (i * 777), 900 + i);
            sizes[(await store.InsertAsync(data)).Digest] = data.Length;
        }

        var old = sizes.Keys.First();
        var longAgo = DateTime.UtcNow.AddDays(-3);
        Age(store, old, longAgo);

        var listed = new Dictionary<ChunkDigest, ChunkInfo>();
        await foreach (var info in store.ListInfoAsync())
        {
            Assert.True(listed.TryAdd(info.Digest, info), "each chunk must be listed once");
        }

        Assert.Equal(sizes.Keys.Order(), listed.Keys.Order());
        foreach (var (digest, info) in listed)
        {
            Assert.Equal(sizes[digest], info.Size); // the chunk's size, not a cache's (an S3 marker is 0 bytes)
            Assert.Equal(LastTouched(store, digest), info.LastTouched);
        }

        Assert.True(listed[old].LastTouched < DateTimeOffset.UtcNow.AddDays(-2), $"aged chunk listed as touched at {listed[old].LastTouched:o}");
        Assert.True(LastTouched(store, old) < DateTimeOffset.UtcNow.AddDays(-2), "a listing must not touch");
        Assert.Equal(sizes.Keys.Order(), (await ToListAsync(store.ListAsync())).Order());
    }

    private static async Task<List<T>> ToListAsync<T>(IAsyncEnumerable<T> items)
    {
        var list = new List<T>();
        await foreach (var item in items)
        {
            list.Add(item);
        }

        return list;
    }

    [Fact]
    public async Task Insert_SixteenTasksInsertingTheSameChunks_StoreEachOnceAndAllSucceed()
    {
        var store = await CreateStoreAsync();
        var chunks = Enumerable.Range(0, 24).Select(i => TestData.Random(8192 + i, 300 + i)).ToArray();
        using var start = new Barrier(16);

        var results = await Task.WhenAll(Enumerable.Range(0, 16).Select(t => Task.Run(async () =>
        {
            start.SignalAndWait();
            var list = new List<ChunkInsertResult>();
            foreach (var c in chunks.Skip(t % 5).Concat(chunks.Take(t % 5)))
            {
                list.Add(await store.InsertAsync(c));
            }

            return list;
        })));

        var all = results.SelectMany(r => r).ToList();
        Assert.Equal(16 * 24, all.Count);
        foreach (var group in all.GroupBy(r => r.Digest))
        {
            Assert.Equal(1, group.Count(r => r.IsNew));
        }

        var listed = new List<ChunkDigest>();
        await foreach (var d in store.ListAsync())
        {
            listed.Add(d);
        }

        Assert.Equal(24, listed.Count);
        foreach (var c in chunks)
        {
            Assert.Equal(c, await store.ReadAsync(ChunkDigest.Compute(c)));
        }
    }

    [Fact]
    public async Task Read_RacingInserts_NeverSeesAPartialChunk()
    {
        var store = await CreateStoreAsync();
        var chunks = Enumerable.Range(0, 40).Select(i => TestData.Random(256 * 1024, 400 + i)).ToArray();
        var digests = chunks.Select(c => ChunkDigest.Compute(c)).ToArray();
        using var cts = new CancellationTokenSource();
        long seen = 0;

        var readers = Enumerable.Range(0, 3).Select(_ => Task.Run(async () =>
        {
            while (!cts.IsCancellationRequested)
            {
                for (int i = 0; i < digests.Length; i++)
                {
                    try
                    {
                        var bytes = await store.ReadAsync(digests[i]);
                        Assert.Equal(chunks[i].Length, bytes.Length);
                        Interlocked.Increment(ref seen);
                    }
                    catch (ChunkNotFoundException)
                    {
                        // Not there yet: fine. ChunkCorruptException (a partial chunk) would fail the test.
                    }
                }
            }
        })).ToArray();

        await Task.WhenAll(Enumerable.Range(0, 2).Select(t => Task.Run(async () =>
        {
            foreach (var c in t == 0 ? chunks : chunks.Reverse())
            {
                await store.InsertAsync(c);
            }
        })));
        cts.Cancel();
        await Task.WhenAll(readers);
        Assert.True(Interlocked.Read(ref seen) > 0);
    }

    [Fact]
    public async Task GarbageCollect_KeepsReferencedAndRecentChunks_RemovesOldUnreferencedOnes()
    {
        var store = await CreateStoreAsync();
        var referenced = await store.InsertAsync(TestData.Random(1000, 500));
        var oldUnreferenced = await store.InsertAsync(TestData.Random(1000, 501));
        Age(store, referenced.Digest, DateTime.UtcNow.AddDays(-10));
        Age(store, oldUnreferenced.Digest, DateTime.UtcNow.AddDays(-10));
        await LetStoredChunksAgeAsync(store);
        var recentUnreferenced = await store.InsertAsync(TestData.Random(1000, 502));

        var result = await store.Maintenance.GarbageCollectAsync([referenced.Digest, referenced.Digest], ContractGcOptions);

        Assert.True(result.Completed);
        Assert.Equal(1, result.ChunksRemoved);
        Assert.Equal(1000, result.BytesRemoved);
        Assert.Equal(1, result.ChunksMarked);
        Assert.Equal(1, result.ReferencesDeduplicated);
        Assert.True(await store.ContainsAsync(referenced.Digest));
        Assert.True(await store.ContainsAsync(recentUnreferenced.Digest));
        Assert.False(await store.ContainsAsync(oldUnreferenced.Digest));
        Assert.Equal(1000, (await store.ReadAsync(referenced.Digest)).Length);
    }

    [Fact]
    public async Task Insert_EmptyOrOversizedChunk_ThrowsAndStoresNothing()
    {
        var store = await CreateStoreAsync();

        var empty = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await store.InsertAsync(ReadOnlyMemory<byte>.Empty));
        var tooBig = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await store.InsertAsync(new byte[store.Options.MaxChunkSize + 1]));

        Assert.Contains("at least 1 byte", empty.Message, StringComparison.Ordinal);
        Assert.Contains(store.Backend.Description, tooBig.Message, StringComparison.Ordinal);
        await foreach (var _ in store.ListAsync())
        {
            Assert.Fail("nothing may be stored");
        }
    }
}
