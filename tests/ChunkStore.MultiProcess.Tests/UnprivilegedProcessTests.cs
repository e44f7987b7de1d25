using ChunkStore.MultiProcess.Tests.Infrastructure;
using Xunit;

namespace ChunkStore.MultiProcess.Tests;

/// <summary>
/// A store the process may not read (issue 19.5 and 19.10), seen by a second process to which permission bits apply
/// (the tests run as root, which ignores them; the child runs as nobody): every entry point reports a typed
/// <see cref="ChunkStorageException"/> of kind <see cref="StorageErrorKind.PermissionDenied"/> that names the path, and
/// changes nothing.
/// </summary>
public sealed class UnprivilegedProcessTests : MultiProcessTestBase
{
    /// <summary>
    /// Takes every permission from <paramref name="path"/> (as root, from everyone but root: the directory is root's),
    /// runs the probes in an unprivileged child, restores the mode, and asserts that each probe failed with
    /// PermissionDenied naming <paramref name="path"/>.
    /// </summary>
    private async Task AssertPermissionDeniedAsync(string path, UnixFileMode lockedMode, params string[] ops)
    {
        File.SetUnixFileMode(path, lockedMode);
        IReadOnlyList<string> lines;
        try
        {
            var child = StartUnprivileged(["probe", Root, .. ops]);
            Assert.Equal(0, await child.WaitForExitAsync(TimeSpan.FromSeconds(60)));
            lines = child.AllLines;
        }
        finally
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        Assert.Equal("DONE", lines[^1]);
        foreach (string op in ops)
        {
            string line = Assert.Single(lines, l => l.StartsWith(op + " ", StringComparison.Ordinal));
            Assert.StartsWith($"{op} FAIL {nameof(ChunkStorageException)} {StorageErrorKind.PermissionDenied} ", line, StringComparison.Ordinal);
            Assert.Contains(path, line, StringComparison.Ordinal);
        }
    }

    private static List<string> Snapshot(string root) => Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories)
        .Where(p => !p.Contains("/.locks/", StringComparison.Ordinal))
        .Select(p => $"{Path.GetRelativePath(root, p)} {(File.Exists(p) ? new FileInfo(p).Length : -1)}")
        .Order(StringComparer.Ordinal)
        .ToList();

    [Fact]
    public async Task Open_StoreRootTheProcessMayNotRead_ReportsPermissionDeniedNamingThePath()
    {
        await Repo.InsertAsync(new byte[] { 1, 2, 3 });

        // The root is the test's (root's) own: rwx------ keeps nobody out; when the tests do not run as root, no bits.
        await AssertPermissionDeniedAsync(Root, HostProcess.IsRoot ? UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute : UnixFileMode.None, "open", "open-or-create", "create");
    }

    [Fact]
    public async Task ListVerifyAllAndGc_PrefixDirectoryTheProcessMayNotRead_ReportPermissionDeniedNamingItAndChangeNothing()
    {
        var inserted = new List<ChunkDigest>();
        for (int i = 0; i < 20; i++)
        {
            inserted.Add((await Repo.InsertAsync(BitConverter.GetBytes(i))).Digest);
        }

        string locked = Path.GetDirectoryName(ChunkPath(inserted[0]))!;
        if (HostProcess.IsRoot)
        {
            Shell("chown", "-R", "65534:65534", Root);
        }

        var before = Snapshot(Root);

        await AssertPermissionDeniedAsync(locked, UnixFileMode.None, "list", "verify-all", "gc");

        // The failed collection saved its status, not completed; nothing else changed.
        Assert.False(Repo.Maintenance.ReadLastGarbageCollection()!.Completed);
        Assert.Equal(before, Snapshot(Root).Where(e => !e.StartsWith(".gc-status ", StringComparison.Ordinal)));
        foreach (var d in inserted)
        {
            Assert.True(await Repo.ContainsAsync(d));
        }
    }

    private static void Shell(string file, params string[] args)
    {
        using var p = System.Diagnostics.Process.Start(file, args);
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }
}
