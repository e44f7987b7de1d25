namespace ChunkStore.Backup.Engine;

/// <summary>A regular file found by the scan.</summary>
/// <param name="FullPath">Absolute path.</param>
/// <param name="RelativePath">Path below the scanned root, '/'-separated.</param>
/// <param name="Stat">The file's <c>lstat</c> at scan time.</param>
/// <param name="ScannedAtNs">The wall clock (ns since the epoch) just before the stat: the files cache's racy-file rule compares with it.</param>
internal sealed record ScannedFile(string FullPath, string RelativePath, FileStat Stat, long ScannedAtNs)
{
    public long Size => Stat.Size;

    public int Mode => Stat.Mode;

    public DateTimeOffset ModifiedAt => Stat.ModifiedAt;
}

/// <summary>What a directory walk found.</summary>
internal sealed class ScanResult
{
    public List<ScannedFile> Files { get; } = [];

    public List<string> Directories { get; } = [];

    public List<string> Warnings { get; } = [];

    public int SymlinksSkipped { get; set; }

    public int SpecialSkipped { get; set; }

    /// <summary>Gets or sets how many directories could not be listed and entries could not be stat'ed (each left out, with a warning).</summary>
    public int Unreadable { get; set; }

    public long TotalBytes { get; set; }
}

/// <summary>Walks a directory tree: regular files and directories, symlinks skipped (never followed), errors reported.</summary>
internal static class FileScanner
{
    /// <summary>Scans <paramref name="root"/>; paths under any of <paramref name="exclude"/> are left out.</summary>
    public static ScanResult Scan(string root, IReadOnlyCollection<string> exclude)
    {
        var result = new ScanResult();
        var excluded = exclude.Select(p => Path.TrimEndingDirectorySeparator(Path.GetFullPath(p))).ToHashSet(StringComparer.Ordinal);
        var pending = new Stack<(string Full, string Relative)>();
        pending.Push((Path.GetFullPath(root), ""));
        var options = new EnumerationOptions { RecurseSubdirectories = false, IgnoreInaccessible = false, AttributesToSkip = 0, ReturnSpecialDirectories = false };
        while (pending.Count > 0)
        {
            var (dir, rel) = pending.Pop();
            List<string> entries;
            try
            {
                entries = Directory.EnumerateFileSystemEntries(dir, "*", options).ToList();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                result.Unreadable++;
                result.Warnings.Add($"cannot list directory {dir}: {ex.Message}");
                continue;
            }

            // Sorted so that snapshots list files in a stable order.
            entries.Sort(string.CompareOrdinal);
            foreach (string full in entries)
            {
                string name = Path.GetFileName(full);
                string relative = rel.Length == 0 ? name : rel + "/" + name;
                if (excluded.Contains(full))
                {
                    continue;
                }

                long now = NowNs();
                FileStat? stat;
                try
                {
                    stat = FileKind.Stat(full);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    // It exists (the listing named it) but cannot be examined: left out, and said so.
                    result.Unreadable++;
                    result.Warnings.Add($"cannot stat {full}: {ex.Message} (left out)");
                    continue;
                }

                if (stat is not { } entry)
                {
                    continue; // vanished since the listing
                }

                switch (entry.Kind)
                {
                    case EntryKind.SymbolicLink:
                        result.SymlinksSkipped++;
                        break;
                    case EntryKind.Directory:
                        result.Directories.Add(relative);
                        pending.Push((full, relative));
                        break;
                    case EntryKind.Special:
                        // FIFOs, sockets and devices: reading them could block or never end.
                        result.SpecialSkipped++;
                        break;
                    default:
                        result.Files.Add(new ScannedFile(full, relative, entry, now));
                        result.TotalBytes += entry.Size;
                        break;
                }
            }
        }

        result.Directories.Sort(StringComparer.Ordinal);
        return result;
    }

    /// <summary>The wall clock in nanoseconds since the Unix epoch (the clock file timestamps come from).</summary>
    public static long NowNs() => (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100;
}
