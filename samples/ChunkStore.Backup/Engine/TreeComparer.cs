namespace ChunkStore.Backup.Engine;

/// <summary>Compares two directory trees file by file, byte by byte (the demo's independent check of a restore).</summary>
internal static class TreeComparer
{
    /// <summary>Returns the differences between the listed files of <paramref name="expectedRoot"/> and <paramref name="actualRoot"/>, plus any extra file in the latter.</summary>
    public static List<string> Compare(string expectedRoot, string actualRoot, IEnumerable<string> relativePaths, int maxDifferences = 20)
    {
        var differences = new List<string>();
        var expected = new HashSet<string>(StringComparer.Ordinal);
        byte[] a = new byte[1 << 20];
        byte[] b = new byte[1 << 20];
        foreach (string rel in relativePaths)
        {
            expected.Add(rel);
            string left = Path.Combine(expectedRoot, rel);
            string right = Path.Combine(actualRoot, rel);
            if (!File.Exists(right))
            {
                differences.Add($"{rel}: missing in the restore");
            }
            else if (!SameBytes(left, right, a, b))
            {
                differences.Add($"{rel}: content differs");
            }

            if (differences.Count >= maxDifferences)
            {
                return differences;
            }
        }

        foreach (string file in Directory.EnumerateFiles(actualRoot, "*", SearchOption.AllDirectories))
        {
            string rel = Path.GetRelativePath(actualRoot, file).Replace(Path.DirectorySeparatorChar, '/');
            if (!expected.Contains(rel))
            {
                differences.Add($"{rel}: extra file in the restore");
            }
        }

        return differences;
    }

    private static bool SameBytes(string left, string right, byte[] a, byte[] b)
    {
        using var l = new FileStream(left, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 0);
        using var r = new FileStream(right, FileMode.Open, FileAccess.Read, FileShare.Read, 0);
        if (l.Length != r.Length)
        {
            return false;
        }

        while (true)
        {
            int n = l.ReadAtLeast(a, a.Length, throwOnEndOfStream: false);
            int m = r.ReadAtLeast(b.AsSpan(0, n), n, throwOnEndOfStream: false);
            if (n != m || !a.AsSpan(0, n).SequenceEqual(b.AsSpan(0, m)))
            {
                return false;
            }

            if (n == 0)
            {
                return true;
            }
        }
    }
}
