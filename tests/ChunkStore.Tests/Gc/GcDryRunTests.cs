using ChunkStore.FileSystem;
using ChunkStore.Native;
using ChunkStore.Tests.Infrastructure;

namespace ChunkStore.Tests.Gc;

/// <summary>A dry run plans from the current times and writes nothing the store's data depends on (issue 19.7).</summary>
public sealed class GcDryRunTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly DateTime _longAgo = DateTime.UtcNow.AddDays(-3);

    public void Dispose() => _dir.Dispose();

    /// <summary>Every non-directory entry under the root with its type, size and nanosecond atime and mtime, except the two files a dry run documents writing.</summary>
    private static List<string> Times(string root) => Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories)
        .Where(p => !Directory.Exists(p) && Path.GetFileName(p) is not (".gc.lock" or ".gc-status"))
        .Order(StringComparer.Ordinal)
        .Select(p =>
        {
            Assert.Equal(0, Libc.LStat(p, out var st));
            return $"{Path.GetRelativePath(root, p)} {st.Mode:x} {st.Size} {st.AccessTime.TotalNanoseconds} {st.ModifyTime.TotalNanoseconds}";
        })
        .ToList();

    [Fact]
    public async Task DryRun_TouchesNothingAndRemovesNothing_YetReportsWhatTheRealRunThenDoes()
    {
        var options = new GarbageCollectionOptions { GracePeriod = TimeSpan.FromHours(1) };
        await using var store = TestData.NewStore(_dir.Sub("dry"));
        var layout = new ChunkLayout(store.Root);
        async Task<ChunkDigest> Put(int seed, int size, DateTime atime)
        {
            var d = (await store.InsertAsync(TestData.Random(size, seed))).Digest;
            TestData.SetAccessTime(layout.ChunkPath(d), atime);
            return d;
        }

        var referencedOld = await Put(1, 100, _longAgo);                        // the mark makes it in use
        var referencedRecent = await Put(2, 200, DateTime.UtcNow.AddMinutes(-1));
        var pending = await Put(3, 300, DateTime.UtcNow.AddMinutes(-30));       // inside the 1 h grace
        var removable = await Put(4, 400, _longAgo);
        var missingWithBad = ChunkDigest.Compute("referenced, only a bad copy"u8);
        Directory.CreateDirectory(layout.PrefixDirectory(missingWithBad));
        File.WriteAllBytes(layout.BadPath(missingWithBad, 0), [1]);
        TestData.SetAccessTime(layout.BadPath(missingWithBad, 0), _longAgo);   // the mark keeps it alive
        var oldBad = ChunkDigest.Compute("unreferenced bad copy"u8);
        Directory.CreateDirectory(layout.PrefixDirectory(oldBad));
        File.WriteAllBytes(layout.BadPath(oldBad, 0), [2]);
        TestData.SetAccessTime(layout.BadPath(oldBad, 0), _longAgo);
        string staleTemp = layout.ChunkPath(removable) + ".tmp-00000000000000aa";
        File.WriteAllBytes(staleTemp, [3]);
        File.SetLastWriteTimeUtc(staleTemp, _longAgo);
        string deadWriter = Path.Combine(layout.WritersDirectory, FormattableString.Invariant($"{DateTimeOffset.UtcNow.AddHours(-2).ToUnixTimeMilliseconds():D13}-999999-00000000000000bb.writer"));
        File.WriteAllBytes(deadWriter, []);                                     // nobody holds its lock: a dead process
        ChunkDigest[] referenced = [referencedOld, referencedRecent, missingWithBad, ChunkDigest.Compute("missing"u8)];
        var before = Times(store.Root);

        var dry = await store.Maintenance.GarbageCollectAsync(referenced, new GarbageCollectionOptions { GracePeriod = options.GracePeriod, DryRun = true });

        Assert.Equal(before, Times(store.Root));
        Assert.True(dry.DryRun);
        Assert.True(dry.Completed);
        var real = await store.Maintenance.GarbageCollectAsync(referenced, options);
        Assert.Equal(
            (real.ChunksMarked, real.MissingChunks, real.ChunksInUse, real.BytesInUse, real.ChunksPending, real.BytesPending, real.ChunksRemoved, real.BytesRemoved, real.BadRemoved, real.BadKept, real.TemporaryFilesRemoved, real.DeadWritersRemoved, real.UnknownEntries),
            (dry.ChunksMarked, dry.MissingChunks, dry.ChunksInUse, dry.BytesInUse, dry.ChunksPending, dry.BytesPending, dry.ChunksRemoved, dry.BytesRemoved, dry.BadRemoved, dry.BadKept, dry.TemporaryFilesRemoved, dry.DeadWritersRemoved, dry.UnknownEntries));
        Assert.Equal(real.MissingSample, dry.MissingSample);
        Assert.Equal((2, 2, 2, 300, 1, 300, 1, 400, 1, 1, 1, 1), (real.ChunksMarked, real.MissingChunks, real.ChunksInUse, real.BytesInUse, real.ChunksPending, real.BytesPending, real.ChunksRemoved, real.BytesRemoved, real.BadRemoved, real.BadKept, real.TemporaryFilesRemoved, real.DeadWritersRemoved));
        Assert.False(File.Exists(layout.ChunkPath(removable)));
        Assert.False(File.Exists(deadWriter));
        Assert.True(File.Exists(layout.ChunkPath(referencedOld)));
    }
}
