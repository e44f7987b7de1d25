using ChunkStore.Tests.Infrastructure;

namespace ChunkStore.Tests;

/// <summary>Each bad input gets its typed exception, names store, chunk and cause, and changes nothing.</summary>
public sealed class BadInputTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Open_DirectoryThatIsNotAStore_ThrowsInvalidStoreAndChangesNothing()
    {
        string root = _dir.Sub("plain");
        Directory.CreateDirectory(root);
        File.WriteAllText(Path.Combine(root, "notes.txt"), "hello");
        var before = TestData.Snapshot(root, includeLocks: true);

        var ex = Assert.Throws<InvalidStoreException>(() => ChunkRepository.Open(new ChunkStoreOptions { Root = root }));
        var ex2 = Assert.Throws<InvalidStoreException>(() => ChunkRepository.OpenOrCreate(new ChunkStoreOptions { Root = root }));

        Assert.Contains(root, ex.Message, StringComparison.Ordinal);
        Assert.Contains("not a chunk store", ex.Message, StringComparison.Ordinal);
        Assert.Contains("non-empty", ex2.Message, StringComparison.Ordinal);
        Assert.Equal(before, TestData.Snapshot(root, includeLocks: true));
    }

    [Fact]
    public void Open_MissingDirectory_ThrowsStoreNotFoundAndCreatesNothing()
    {
        string root = _dir.Sub("missing");
        Assert.Throws<StoreNotFoundException>(() => ChunkRepository.Open(new ChunkStoreOptions { Root = root }));
        Assert.False(Directory.Exists(root));
    }

    [Fact]
    public async Task Create_OverAnExistingStoreOrOtherFiles_ThrowsAlreadyExistsAndChangesNothing()
    {
        string root = _dir.Sub("store");
        await using (var store = TestData.NewStore(root))
        {
            await store.InsertAsync(TestData.Random(10, 1));
        }

        var before = TestData.Snapshot(root, includeLocks: true);
        Assert.Throws<StoreAlreadyExistsException>(() => ChunkRepository.Create(new ChunkStoreOptions { Root = root }));
        Assert.Equal(before, TestData.Snapshot(root, includeLocks: true));

        string other = _dir.Sub("other");
        Directory.CreateDirectory(other);
        File.WriteAllText(Path.Combine(other, "x"), "x");
        var ex = Assert.Throws<StoreAlreadyExistsException>(() => ChunkRepository.Create(new ChunkStoreOptions { Root = other }));
        Assert.Contains("not empty", ex.Message, StringComparison.Ordinal);
        Assert.Equal(["x"], Directory.GetFileSystemEntries(other).Select(Path.GetFileName));
    }

    [Fact]
    public async Task OpenOrCreate_EmptyDirectory_CreatesThenReopensTheSameStore()
    {
        string root = _dir.Sub("empty");
        Directory.CreateDirectory(root);
        ChunkDigest digest;
        await using (var store = ChunkRepository.OpenOrCreate(new ChunkStoreOptions { Root = root }))
        {
            digest = (await store.InsertAsync(TestData.Random(10, 2))).Digest;
        }

        await using var again = ChunkRepository.OpenOrCreate(new ChunkStoreOptions { Root = root });
        Assert.True(await again.ContainsAsync(digest));
    }

    [Fact]
    public void Open_StoreOfAFutureFormatOrBrokenIdentityFile_ThrowsInvalidStore()
    {
        string root = _dir.Sub("future");
        TestData.NewStore(root).Dispose();
        File.WriteAllText(Path.Combine(root, ".chunkstore.json"), """{"format": 99, "lockStripes": 1024}""");
        var ex = Assert.Throws<InvalidStoreException>(() => ChunkRepository.Open(new ChunkStoreOptions { Root = root }));
        Assert.Contains("format 99", ex.Message, StringComparison.Ordinal);

        File.WriteAllText(Path.Combine(root, ".chunkstore.json"), "{not json");
        Assert.Throws<InvalidStoreException>(() => ChunkRepository.Open(new ChunkStoreOptions { Root = root }));
    }

    [Fact]
    public void Open_WithAnotherLockDirectoryThanAtCreation_ThrowsInvalidStore()
    {
        string root = _dir.Sub("locks");
        TestData.NewStore(root).Dispose();
        var ex = Assert.Throws<InvalidStoreException>(() => ChunkRepository.Open(new ChunkStoreOptions { Root = root, LockDirectory = _dir.Sub("elsewhere") }));
        Assert.Contains("every process must use the same lock files", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_InvalidValues_ThrowArgumentOutOfRange()
    {
        var o = new ChunkStoreOptions();
        Assert.Throws<ArgumentOutOfRangeException>(() => o.MaxChunkSize = 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => o.MaxChunkSize = ChunkStoreOptions.MaxChunkSizeLimit + 1);
        Assert.Throws<ArgumentOutOfRangeException>(() => o.LockStripes = 100);
        Assert.Throws<ArgumentOutOfRangeException>(() => o.LockTimeout = TimeSpan.Zero);
        Assert.Throws<ArgumentOutOfRangeException>(() => o.SyncMode = (SyncMode)7);
        Assert.Throws<ArgumentException>(() => o.Root = " ");
        Assert.Throws<ArgumentException>(() => ChunkRepository.Create(new ChunkStoreOptions()));
        Assert.Throws<ArgumentOutOfRangeException>(() => new GarbageCollectionOptions { GracePeriod = TimeSpan.FromMilliseconds(10) });
    }

    [Fact]
    public async Task DirectoryOrSymlinkWhereAChunkShouldBe_ThrowsInvalidChunkEntryAndIsLeftAlone()
    {
        await using var store = TestData.NewStore(_dir.Sub("nonregular"));
        var data = TestData.Random(100, 3);
        var digest = ChunkDigest.Compute(data);
        string path = TestData.ChunkPath(store, digest);
        Directory.CreateDirectory(path);
        var before = TestData.Snapshot(store.Root);

        var ex = await Assert.ThrowsAsync<InvalidChunkEntryException>(async () => await store.InsertAsync(data));
        await Assert.ThrowsAsync<InvalidChunkEntryException>(async () => await store.ReadAsync(digest));
        await Assert.ThrowsAsync<InvalidChunkEntryException>(async () => await store.ContainsAsync(digest));

        Assert.Contains("a directory", ex.Message, StringComparison.Ordinal);
        Assert.Contains(digest.ToString(), ex.Message, StringComparison.Ordinal);
        Assert.True(Directory.Exists(path));
        Assert.Equal(before, TestData.Snapshot(store.Root));

        var data2 = TestData.Random(100, 4);
        var digest2 = ChunkDigest.Compute(data2);
        string path2 = TestData.ChunkPath(store, digest2);
        Directory.CreateDirectory(Path.GetDirectoryName(path2)!);
        File.CreateSymbolicLink(path2, "/etc/hostname");
        var ex2 = await Assert.ThrowsAsync<InvalidChunkEntryException>(async () => await store.InsertAsync(data2));
        Assert.Contains("a symbolic link", ex2.Message, StringComparison.Ordinal);
        Assert.NotNull(new FileInfo(path2).LinkTarget);
    }

    [Fact]
    public async Task TruncatedChunk_ReadThrowsCorrupt_VerifyRenamesToBad_InsertRewritesIt()
    {
        await using var store = TestData.NewStore(_dir.Sub("truncated"));
        var data = TestData.Random(10_000, 5);
        var digest = (await store.InsertAsync(data)).Digest;
        string path = TestData.ChunkPath(store, digest);
        File.WriteAllBytes(path, data[..4000]);

        var ex = await Assert.ThrowsAsync<ChunkCorruptException>(async () => await store.ReadAsync(digest));
        Assert.Equal(4000, ex.Length);
        Assert.True(File.Exists(path), "read must not rename");

        var verify = await store.VerifyAsync(digest);
        Assert.Equal(ChunkVerifyStatus.Corrupt, verify.Status);
        Assert.False(File.Exists(path));
        Assert.Equal(data[..4000], File.ReadAllBytes(TestData.BadPath(store, digest, 0)));

        var again = await store.InsertAsync(data);
        Assert.True(again.IsNew);
        Assert.Equal(data, await store.ReadAsync(digest));
    }

    [Fact]
    public async Task WrongSizedChunkFile_InsertMovesItAsideAsBadAndWritesTheGoodCopy()
    {
        await using var store = TestData.NewStore(_dir.Sub("wrongsize"));
        var data = TestData.Random(10_000, 6);
        var digest = (await store.InsertAsync(data)).Digest;
        File.WriteAllBytes(TestData.ChunkPath(store, digest), data[..9_000]);

        var r = await store.InsertAsync(data);

        Assert.True(r.IsNew);
        Assert.Equal(data, await store.ReadAsync(digest));
        Assert.Equal(9_000, new FileInfo(TestData.BadPath(store, digest, 0)).Length);
    }

    [Fact]
    public async Task BitFlippedChunk_VerifyRenamesToNextFreeBadIndex()
    {
        await using var store = TestData.NewStore(_dir.Sub("flipped"));
        var data = TestData.Random(5_000, 7);
        var digest = (await store.InsertAsync(data)).Digest;
        File.WriteAllBytes(TestData.BadPath(store, digest, 0), [1]);
        var flipped = (byte[])data.Clone();
        flipped[4_999] ^= 1;
        File.WriteAllBytes(TestData.ChunkPath(store, digest), flipped);

        var verify = await store.VerifyAsync(digest);

        Assert.Equal(1, verify.BadIndex);
        Assert.Equal(flipped, File.ReadAllBytes(TestData.BadPath(store, digest, 1)));
        Assert.Equal([1], File.ReadAllBytes(TestData.BadPath(store, digest, 0)));
    }

    [Fact]
    public async Task PermissionDenied_InsertThrowsTypedErrorAndLeavesNothingBehind()
    {
        await using var store = TestData.NewStore(_dir.Sub("perm"));
        var data = TestData.Random(1000, 8);
        var digest = ChunkDigest.Compute(data);
        string prefix = Path.GetDirectoryName(TestData.ChunkPath(store, digest))!;
        Directory.CreateDirectory(prefix);
        var before = TestData.Snapshot(store.Root);
        // Root ignores mode bits; the immutable attribute stops root too (ext4). Otherwise drop write permission.
        if (TestData.IsRoot)
        {
            Shell.Check("chattr", "+i", prefix);
        }
        else
        {
            File.SetUnixFileMode(prefix, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        }

        try
        {
            var ex = await Assert.ThrowsAsync<ChunkStorageException>(async () => await store.InsertAsync(data));
            Assert.Equal(StorageErrorKind.PermissionDenied, ex.Kind);
            Assert.False(ex.IsTransient);
            Assert.Equal(digest, ex.Digest);
            Assert.Contains(digest.ToString(), ex.Message, StringComparison.Ordinal);
            Assert.Contains(store.Root, ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            if (TestData.IsRoot)
            {
                Shell.Check("chattr", "-i", prefix);
            }
            else
            {
                File.SetUnixFileMode(prefix, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }

        Assert.Equal(before, TestData.Snapshot(store.Root));
    }

    [Fact]
    public async Task DiskFull_InsertThrowsDiskFull_NoPartialOrTemporaryFile_EarlierChunksIntact()
    {
        using var fs = new SmallFileSystem("2m");
        await using var store = TestData.NewStore(Path.Combine(fs.Path, "store"));
        var stored = new List<byte[]>();
        ChunkStorageException? failure = null;
        byte[]? failed = null;
        for (int i = 0; i < 40 && failure is null; i++)
        {
            var data = TestData.Random(256 * 1024, 100 + i);
            try
            {
                await store.InsertAsync(data);
                stored.Add(data);
            }
            catch (ChunkStorageException ex)
            {
                failure = ex;
                failed = data;
            }
        }

        Assert.NotNull(failure);
        Assert.Equal(StorageErrorKind.DiskFull, failure.Kind);
        Assert.True(failure.IsTransient);
        Assert.Contains("disk is full", failure.Message, StringComparison.Ordinal);
        Assert.False(await store.ContainsAsync(ChunkDigest.Compute(failed!)));
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(store.Root, ".chunks"), "*.tmp-*", SearchOption.AllDirectories));
        Assert.NotEmpty(stored);
        foreach (var data in stored)
        {
            Assert.Equal(data, await store.ReadAsync(ChunkDigest.Compute(data)));
        }
    }

    [Fact]
    public async Task ReadOnlyFileSystem_InsertThrowsReadOnly_ReadsStillWork()
    {
        using var fs = new SmallFileSystem("4m");
        string root = Path.Combine(fs.Path, "store");
        var data = TestData.Random(1000, 9);
        ChunkDigest digest;
        await using (var store = TestData.NewStore(root))
        {
            digest = (await store.InsertAsync(data)).Digest;
        }

        fs.RemountReadOnly();
        var before = TestData.Snapshot(root, includeLocks: true);
        var options = new ChunkStoreOptions { Root = root, LockDirectory = null };
        // The lock directory lives in the store; on a read-only store use a writable one for reads.
        await using var ro = ChunkRepository.Open(options);

        Assert.Equal(data, await ro.ReadAsync(digest));
        var ex = await Assert.ThrowsAsync<ChunkStorageException>(async () => await ro.InsertAsync(TestData.Random(1000, 10)));
        Assert.Contains(ex.Kind, new[] { StorageErrorKind.ReadOnly, StorageErrorKind.PermissionDenied });
        Assert.Equal(before, TestData.Snapshot(root, includeLocks: true));
    }
}
