using ChunkStore.Native;
using ChunkStore.Tests.Infrastructure;

namespace ChunkStore.Tests.Native;

/// <summary>
/// The one lock-file type under the stripes, <c>.gc.lock</c>, the creation lock, writer entries and S3 delete
/// records: <c>flock</c> semantics per open file, unlock before close, and "is it still the file at this path".
/// </summary>
public sealed class LockFileTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string PathOf(string name) => _dir.Sub(name);

    private static LockFile Open(string path)
    {
        Assert.Equal(0, LockFile.TryOpen(path, Libc.O_RDWR | Libc.O_CREAT, 0b110_110_110, out var file));
        return file!;
    }

    [Fact]
    public void TryLock_ExcludesAnotherOpenOfTheSameFile_EvenInThisProcess()
    {
        string path = PathOf("a.lock");
        using var first = Open(path);
        using var second = Open(path);

        Assert.Equal(0, first.TryLock(exclusive: true));
        Assert.Equal(Libc.EWOULDBLOCK, second.TryLock(exclusive: true));
        Assert.Equal(Libc.EWOULDBLOCK, second.TryLock(exclusive: false));

        Assert.Equal(0, first.Unlock());
        Assert.Equal(0, first.TryLock(exclusive: false));
        Assert.Equal(0, second.TryLock(exclusive: false)); // shared locks share
        Assert.Equal(Libc.EWOULDBLOCK, second.TryLock(exclusive: true));
    }

    [Fact]
    public async Task Lock_WaitsUntilTheHolderReleases()
    {
        string path = PathOf("a.lock");
        using var holder = Open(path);
        using var waiter = Open(path);
        Assert.Equal(0, holder.TryLock(exclusive: true));

        var waiting = Task.Run(() => waiter.Lock(exclusive: true));
        await Task.Delay(100);
        Assert.False(waiting.IsCompleted, "Lock returned while another open file held the lock");

        holder.Dispose();
        Assert.Equal(0, await waiting.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public void Dispose_ReleasesTheLock_WhileACopyOfTheDescriptorLivesOn()
    {
        // A child forked by Process.Start holds a copy of every descriptor until its exec; a flock lives as long as
        // any copy does, so closing alone would leave the lock held by a process that does not know it has it.
        string path = PathOf("a.lock");
        var file = Open(path);
        Assert.Equal(0, file.TryLock(exclusive: true));
        int copy = Libc.Dup(file.Descriptor);
        Assert.True(copy >= 0);
        try
        {
            file.Dispose();

            using var next = Open(path);
            Assert.Equal(0, next.TryLock(exclusive: true));
        }
        finally
        {
            Libc.Close(copy);
        }
    }

    [Fact]
    public void IsStillAt_TrueForTheFileAtThePath_FalseOnceUnlinkedOrReplaced()
    {
        string path = PathOf("a.lock");
        using var file = Open(path);
        Assert.True(file.IsStillAt(path));

        string other = PathOf("other");
        File.WriteAllBytes(other, []);
        File.Move(other, path, overwrite: true);
        Assert.False(file.IsStillAt(path)); // another file at the path: our lock would exclude nobody

        using var replacement = Open(path);
        Assert.True(replacement.IsStillAt(path));
        File.Delete(path);
        Assert.False(replacement.IsStillAt(path));
    }

    [Fact]
    public void TryOpen_MissingFile_ReturnsTheErrnoAndNoFile()
    {
        Assert.Equal(Libc.ENOENT, LockFile.TryOpen(PathOf("missing"), Libc.O_RDONLY, 0, out var file));
        Assert.Null(file);
    }

    [Fact]
    public void Sync_AndAsFileHandle_WorkOnTheSameOpenFile()
    {
        string path = PathOf("record");
        using var file = Open(path);
        using (var handle = file.AsFileHandle())
        {
            RandomAccess.Write(handle, "abc"u8, 0);
        }

        Assert.Equal(0, file.Sync());
        Assert.False(file.IsClosed); // the borrowed handle did not close it
        Assert.Equal("abc", File.ReadAllText(path));
    }
}
