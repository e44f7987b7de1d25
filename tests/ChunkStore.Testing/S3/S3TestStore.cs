using ChunkStore.Native;

namespace ChunkStore.S3.Tests.Infrastructure;

/// <summary>An open S3 store under test with shortcuts to its internals.</summary>
internal sealed class S3TestStore(S3BucketFixture fixture, ChunkRepository repo, S3BackendOptions options, string root) : IAsyncDisposable
{
    public ChunkRepository Repo { get; private set; } = repo;

    public S3BackendOptions Options { get; } = options;

    public string Root { get; } = root;

    internal S3ChunkBackend Backend => (S3ChunkBackend)Repo.Backend;

    internal S3Requests Requests => Backend.Requests;

    public string Key(ChunkDigest digest) => Backend.ObjectKey(digest);

    public string BadKey(ChunkDigest digest, int n) => ChunkStore.Remote.RemoteChunkKey.ForBad(digest, n).ToKey(Options.KeyPrefix);

    public string LocalPath(ChunkDigest digest) => Backend.Layout.ChunkPath(digest);

    public string UsingPath(ChunkDigest digest) => Backend.Layout.UsingPath(digest);

    public string BadPath(ChunkDigest digest, int n) => Backend.Layout.BadPath(digest, n);

    public Task<bool> ObjectExistsAsync(ChunkDigest digest) => fixture.ExistsAsync(Key(digest));

    /// <summary>Local state: null = nothing, 0 = marker, else full size.</summary>
    public long? LocalSize(ChunkDigest digest) => File.Exists(LocalPath(digest)) ? new FileInfo(LocalPath(digest)).Length : null;

    public DateTimeOffset LocalAtime(ChunkDigest digest)
    {
        Assert.Equal(0, Libc.LStat(LocalPath(digest), out var st));
        return DateTimeOffset.UnixEpoch.AddTicks((st.AccessTime.Seconds * TimeSpan.TicksPerSecond) + (st.AccessTime.Nanoseconds / 100));
    }

    /// <summary>Makes a local entry look last used an hour ago (older than any short grace period).</summary>
    public static void Age(string path, TimeSpan? age = null) => File.SetLastAccessTimeUtc(path, DateTime.UtcNow - (age ?? TimeSpan.FromHours(1)));

    public void AgeChunk(ChunkDigest digest) => Age(LocalPath(digest));

    public bool InLru(ChunkDigest digest) => Backend.Cache.Contains(digest);

    /// <summary>The grace period of <see cref="CollectAsync"/>: local state aged by <see cref="Age"/> is removable, a touch just before is not.</summary>
    public static readonly TimeSpan TestGrace = TimeSpan.FromSeconds(2);

    /// <summary>Options of <see cref="CollectAsync"/>.</summary>
    public static GarbageCollectionOptions GcOptions(bool dryRun = false) => new() { GracePeriod = TestGrace, WriterSafetyMargin = TimeSpan.FromSeconds(1), DryRun = dryRun };

    /// <summary>
    /// GC with a <see cref="TestGrace"/> grace period. The sweep also never deletes an object whose LastModified (server
    /// time) is inside the grace period: call <see cref="WaitForServerAgeAsync"/> first where objects must be removable.
    /// </summary>
    public Task<GarbageCollectionResult> CollectAsync(params ChunkDigest[] referenced) => Repo.Maintenance.GarbageCollectAsync(referenced, GcOptions());

    /// <summary>Waits until every object of this store is removable by server time (<see cref="S3BucketFixture.WaitForServerAgeAsync"/>).</summary>
    public Task WaitForServerAgeAsync() => fixture.WaitForServerAgeAsync(Options.KeyPrefix);

    public long Count(S3RequestKind kind) => Requests.Count(kind);

    public async Task ReopenAsync(long cacheCapacityBytes)
    {
        await Repo.DisposeAsync();
        Options.CacheCapacityBytes = cacheCapacityBytes;
        Repo = S3ChunkStore.Open(new ChunkStoreOptions { Root = Root, LockTimeout = TimeSpan.FromSeconds(30) }, Options);
    }

    public ValueTask DisposeAsync() => Repo.DisposeAsync();

    public static byte[] RandomChunk(int size = 4096)
    {
        byte[] data = new byte[size];
        Random.Shared.NextBytes(data);
        return data;
    }
}
