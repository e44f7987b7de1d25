using System.Runtime.InteropServices;
using ChunkStore.Native;
using ChunkStore.Tests.Infrastructure;

namespace ChunkStore.Tests.Native;

/// <summary>
/// The open flags whose values differ between architectures do what the store relies on, on the architecture the
/// tests run on: <c>O_NOFOLLOW</c> refuses a symbolic link (chunk reads), <c>O_DIRECTORY</c> refuses a file (the
/// directory syncs). With x86-64's values on arm64 neither would hold (there they are <c>O_DIRECT</c> and
/// <c>O_LARGEFILE</c>).
/// </summary>
public sealed class OpenFlagTests : IDisposable
{
    private const int ELOOP = 40;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Flags_AreThisArchitecturesValues()
    {
        var expected = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? (0x4000, 0x8000) : (0x10000, 0x20000);
        Assert.Equal(expected, (Libc.O_DIRECTORY, Libc.O_NOFOLLOW));
    }

    [Fact]
    public void NoFollow_RefusesASymbolicLink_AndOpensAFile()
    {
        string file = Path.Combine(_dir.Path, "file");
        File.WriteAllText(file, "x");
        string link = Path.Combine(_dir.Path, "link");
        File.CreateSymbolicLink(link, file);

        Assert.Equal(-1, Libc.Open(link, Libc.O_RDONLY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0));
        Assert.Equal(ELOOP, Marshal.GetLastPInvokeError());
        int fd = Libc.Open(file, Libc.O_RDONLY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0);
        Assert.True(fd >= 0);
        Libc.Close(fd);
    }

    [Fact]
    public void Directory_RefusesAFile_AndOpensADirectory()
    {
        string file = Path.Combine(_dir.Path, "file");
        File.WriteAllText(file, "x");

        Assert.Equal(-1, Libc.Open(file, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0));
        Assert.Equal(Libc.ENOTDIR, Marshal.GetLastPInvokeError());
        int fd = Libc.Open(_dir.Path, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        Assert.True(fd >= 0);
        Libc.Close(fd);
    }
}
