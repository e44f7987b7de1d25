using System.Reflection;
using ChunkStore.Backends;
using ChunkStore.Locking;
using ChunkStore.Remote;

namespace ChunkStore.Tests;

/// <summary>
/// The types and members that must stay internal (issue: a 1.0 public API). Each is dangerous or a socket without a
/// plug: a backend may trust the digest it is given, the lock manager's locks are not reentrant, and no public API
/// accepts a backend.
/// </summary>
public sealed class PublicSurfaceTests
{
    public static TheoryData<Type> InternalTypes => new(
        typeof(IChunkBackend),
        typeof(IGarbageCollectableBackend),
        typeof(IReportsInvalidEntries),
        typeof(ChunkBackendCapabilities),
        typeof(SweepContext),
        typeof(MarkOutcome),
        typeof(SweepClass),
        typeof(GcClassifier),
        typeof(ChunkLockManager),
        typeof(ChunkLock),
        typeof(ChunkEntryName),
        typeof(ChunkEntryKind),
        typeof(IRemoteStorage),
        typeof(RemoteChunkBackend),
        typeof(RemoteChunkKey),
        typeof(RemoteStoreIdentity),
        typeof(PendingDeletes));

    [Theory]
    [MemberData(nameof(InternalTypes))]
    public void Type_IsNotPublic(Type type)
    {
        Assert.False(type.IsVisible, $"{type.FullName} is public");
    }

    [Theory]
    [InlineData(nameof(ChunkRepositoryMaintenance.GarbageCollectAsync))]
    [InlineData(nameof(ChunkRepositoryMaintenance.ReadLastGarbageCollection))]
    [InlineData(nameof(ChunkRepositoryMaintenance.VerifyAllAsync))]
    [InlineData(nameof(ChunkRepositoryMaintenance.RenameCorruptAsync))]
    public void DangerousAndSlowOperation_IsOnMaintenanceOnly(string name)
    {
        // The everyday surface (insert, read, contains, touch, list, sessions) on the store; what removes data, reads all
        // of it or moves a chunk aside behind ChunkRepository.Maintenance.
        Assert.NotEmpty(typeof(ChunkRepositoryMaintenance).GetMember(name, BindingFlags.Instance | BindingFlags.Public));
        Assert.Empty(typeof(ChunkRepository).GetMember(name, BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public));
        Assert.Empty(typeof(ChunkRepositoryMaintenance).GetConstructors(BindingFlags.Instance | BindingFlags.Public));
    }

    [Theory]
    [InlineData(typeof(ChunkRepository), nameof(ChunkRepository.Backend))]
    [InlineData(typeof(ChunkRepository), nameof(ChunkRepository.Locks))]
    [InlineData(typeof(ChunkDigest), nameof(ChunkDigest.Prefix))]
    public void Member_IsNotPublic(Type type, string name)
    {
        var members = type.GetMember(name, BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic);
        Assert.NotEmpty(members); // renamed? then update this list, do not drop the check
        Assert.Empty(type.GetMember(name, BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public));
    }

    [Theory]
    [InlineData(typeof(GarbageCollectionResult))]
    [InlineData(typeof(VerifyAllResult))]
    public void ResultType_IsReadOnlyForCallers(Type type)
    {
        foreach (var property in type.GetProperties(BindingFlags.Instance | BindingFlags.Public))
        {
            Assert.True(property.SetMethod is null || !property.SetMethod.IsPublic, $"{type.Name}.{property.Name} has a public setter");
            var t = property.PropertyType;
            Assert.False(t.IsGenericType && t.GetGenericTypeDefinition() == typeof(List<>), $"{type.Name}.{property.Name} is a mutable list");
        }
    }

    [Fact]
    public void SampleList_CannotBeCastBackAndChanged()
    {
        var result = new VerifyAllResult();
        result.BadSampleList.Add(ChunkDigest.Compute([1]));
        Assert.False(result.BadSample is List<ChunkDigest>);
        Assert.Throws<NotSupportedException>(() => ((ICollection<ChunkDigest>)result.BadSample).Add(default));
    }
}

public sealed class PlatformTests
{
    [Fact]
    public void Open_OnAnotherSystem_ThrowsPlatformNotSupportedWithTheReason()
    {
        var ex = Assert.Throws<PlatformNotSupportedException>(() => ChunkRepository.ThrowIfUnsupportedPlatform(isLinux: false, "Microsoft Windows 10.0.26100"));
        Assert.Contains("Linux only", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Windows 10.0.26100", ex.Message, StringComparison.Ordinal);
        ChunkRepository.ThrowIfUnsupportedPlatform(isLinux: true, "Linux");
    }

    [Theory]
    [InlineData(typeof(ChunkRepository))]
    public void Assembly_SaysItSupportsLinuxOnly(Type inAssembly)
    {
        var platforms = inAssembly.Assembly.GetCustomAttributes(typeof(System.Runtime.Versioning.SupportedOSPlatformAttribute), false)
            .Cast<System.Runtime.Versioning.SupportedOSPlatformAttribute>().Select(a => a.PlatformName);
        Assert.Equal(["linux"], platforms);
    }
}

public sealed class OpenAsyncTests : IDisposable
{
    private readonly Infrastructure.TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task CreateAsyncOpenAsyncOpenOrCreateAsync_RoundTrip()
    {
        var options = new ChunkStoreOptions { Root = _dir.Sub("store") };
        ChunkDigest digest;
        await using (var created = await ChunkRepository.CreateAsync(options))
        {
            digest = (await created.InsertAsync(new byte[] { 1, 2, 3 })).Digest;
        }

        await using (var opened = await ChunkRepository.OpenAsync(options))
        {
            Assert.Equal([1, 2, 3], await opened.ReadAsync(digest));
        }

        await using var again = await ChunkRepository.OpenOrCreateAsync(options);
        Assert.True(await again.ContainsAsync(digest));
        await Assert.ThrowsAsync<StoreAlreadyExistsException>(() => ChunkRepository.CreateAsync(options));
        await Assert.ThrowsAsync<StoreNotFoundException>(() => ChunkRepository.OpenAsync(new ChunkStoreOptions { Root = _dir.Sub("none") }));
    }

    [Fact]
    public async Task OpenOrCreateAsync_CancelledUpFront_CreatesNothing()
    {
        string root = _dir.Sub("cancelled");
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ChunkRepository.OpenOrCreateAsync(new ChunkStoreOptions { Root = root }, new CancellationToken(canceled: true)));
        Assert.False(Directory.Exists(root) && Directory.EnumerateFileSystemEntries(root).Any());
    }
}

public sealed class ResultJsonTests
{
    [Fact]
    public void VerifyAllResult_RoundTripsThroughJson()
    {
        var result = new VerifyAllResult { Checked = 3, Ok = 1, Corrupt = 1, Missing = 1, BytesVerified = 42 };
        result.BadSampleList.Add(ChunkDigest.Compute([7]));
        result.ErrorSampleList.Add("an error");

        var back = System.Text.Json.JsonSerializer.Deserialize<VerifyAllResult>(System.Text.Json.JsonSerializer.Serialize(result))!;

        Assert.Equal((3L, 1L, 1L, 1L, 42L), (back.Checked, back.Ok, back.Corrupt, back.Missing, back.BytesVerified));
        Assert.Equal(result.BadSample, back.BadSample);
        Assert.Equal(result.ErrorSample, back.ErrorSample);
    }
}
