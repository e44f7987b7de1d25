using ChunkStore.FileSystem;
using ChunkStore.Tests.Infrastructure;

namespace ChunkStore.Tests;

/// <summary>The local-entry operations the S3 cache reaches the file system through (so it makes no OS call itself).</summary>
public sealed class LocalEntriesTests : IDisposable
{
    private static readonly ChunkDigest D = ChunkDigest.Compute([1, 2, 3]);
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Stat_AbsentIsNull_AFileHasItsSizeAndTimes_ADirectoryIsNotARegularFile()
    {
        string file = _dir.Sub("f");
        Assert.Null(LocalEntries.Stat("s", D, file));
        Assert.Null(LocalEntries.Stat("s", D, Path.Combine(file, "under-a-missing-file"))); // under a missing name: ENOENT, absent
        File.WriteAllBytes(file, new byte[5]);
        var when = new DateTimeOffset(2020, 5, 6, 7, 8, 9, TimeSpan.Zero);
        LocalEntries.TrySetAccessTime(file, when);

        var st = LocalEntries.Stat("s", D, file);

        Assert.Equal(5, st!.Value.Size);
        Assert.Equal(when, st.Value.LastAccess);
        Assert.True(st.Value.IsRegularFile);
        Assert.Null(LocalEntries.Stat("s", D, Path.Combine(file, "x"))); // a file as a directory: ENOTDIR, absent
        Assert.False(LocalEntries.Stat("s", D, _dir.Path)!.Value.IsRegularFile);
        Assert.Throws<InvalidChunkEntryException>(() => LocalEntries.StatRegular("s", D, _dir.Path));
    }

    [Fact]
    public void TouchAndRemove_AbsentIsFalseOrFine()
    {
        string file = _dir.Sub("f");
        Assert.False(LocalEntries.Touch("s", D, file));
        Assert.False(LocalEntries.TryTouch(file));
        LocalEntries.Remove("s", D, file);
        Assert.False(LocalEntries.TryRemove(file));

        File.WriteAllBytes(file, []);
        LocalEntries.TrySetAccessTime(file, DateTimeOffset.UnixEpoch);
        Assert.True(LocalEntries.Touch("s", D, file));
        Assert.True(LocalEntries.TryStat(file)!.Value.LastAccess > DateTimeOffset.UtcNow.AddMinutes(-5));
        Assert.True(LocalEntries.TryRemove(file));
        Assert.False(LocalEntries.Exists(file));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Replace_CarriesALaterTouchOfTheOldFile_OnlyWhenAsked(bool keepLaterTouch)
    {
        // The old file was touched (a GC mark in another process) after the new one got its time.
        string path = _dir.Sub("chunk");
        string temp = _dir.Sub("chunk.tmp");
        File.WriteAllBytes(path, new byte[3]);
        File.WriteAllBytes(temp, []);
        var older = new DateTimeOffset(2021, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var touched = new DateTimeOffset(2022, 1, 1, 0, 0, 0, TimeSpan.Zero);
        LocalEntries.TrySetAccessTime(temp, older);
        LocalEntries.TrySetAccessTime(path, touched);

        LocalEntries.Replace(temp, path, keepLaterTouch);

        var now = LocalEntries.TryStat(path)!.Value;
        Assert.Equal(0, now.Size); // the new file
        Assert.False(File.Exists(temp));
        Assert.Equal(keepLaterTouch ? touched : older, now.LastAccess);
    }
}
