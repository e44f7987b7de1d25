using ChunkStore.Tests.Infrastructure;

namespace ChunkStore.Backup.Tests;

/// <summary>
/// Runs the sample's CLI in a child process that file permissions apply to: as the user <c>nobody</c> (through
/// <c>setpriv</c>) when the tests run as root, as CI does, and as the current user otherwise.
/// </summary>
internal static class UnprivilegedCli
{
    /// <summary>Runs <c>chunkstore-backup</c> with <paramref name="args"/>; <paramref name="scratch"/> is a directory the child may use as its home.</summary>
    public static async Task<(int Code, string Output, string Error)> RunAsync(string[] args, string scratch)
    {
        string home = Path.Combine(scratch, "child-home");
        Directory.CreateDirectory(home);
        File.SetUnixFileMode(home, (UnixFileMode)0x1FF);
        var start = ChildProcess.ForDotnet(Path.Combine(AppContext.BaseDirectory, "chunkstore-backup.dll"), args, unprivileged: true);
        start.Environment["HOME"] = home;
        start.Environment["DOTNET_CLI_HOME"] = home;
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["NO_COLOR"] = "1";
        return await ChildProcess.RunAsync(start);
    }
}
