using System.Runtime.InteropServices;
using ChunkStore.FileSystem;

namespace ChunkStore.Tests.Infrastructure;

public static class TestData
{
    public static byte[] Random(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static ChunkRepository NewStore(string root, Action<ChunkStoreOptions>? configure = null)
    {
        var options = new ChunkStoreOptions { Root = root };
        configure?.Invoke(options);
        return ChunkRepository.Create(options);
    }

    public static string ChunkPath(ChunkRepository store, ChunkDigest digest) => new ChunkLayout(store.Root).ChunkPath(digest);

    public static string BadPath(ChunkRepository store, ChunkDigest digest, int n) => new ChunkLayout(store.Root).BadPath(digest, n);

    /// <summary>A sorted snapshot of every file under the root (relative path, size, content hash) to prove "unchanged".</summary>
    public static List<string> Snapshot(string root, bool includeLocks = false)
    {
        var list = new List<string>();
        foreach (var file in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories))
        {
            string rel = Path.GetRelativePath(root, file);
            if (!includeLocks && (rel.StartsWith(".locks", StringComparison.Ordinal) || rel.StartsWith(".gc", StringComparison.Ordinal)))
            {
                continue;
            }

            var info = new FileInfo(file);
            var atime = info.LastAccessTimeUtc;
            string hash = info.Length <= 64 * 1024 * 1024 ? ChunkDigest.Compute(File.ReadAllBytes(file)).ToShortString() : "large";
            try
            {
                File.SetLastAccessTimeUtc(file, atime); // reading moves atime on relatime mounts; put it back
            }
            catch (IOException)
            {
                // Read-only filesystem: nothing moved.
            }
            list.Add($"{rel} {info.Length} {hash}");
        }

        list.Sort(StringComparer.Ordinal);
        return list;
    }

    public static void SetAccessTime(string path, DateTime utc) => File.SetLastAccessTimeUtc(path, utc);

    public static bool IsRoot => geteuid() == 0;

    [DllImport("libc")]
    private static extern uint geteuid();
}
