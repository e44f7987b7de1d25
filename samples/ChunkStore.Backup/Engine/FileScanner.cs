namespace ChunkStore.Backup.Engine;

/// <summary>A regular file found by the scan.</summary>
internal sealed record ScannedFile(string FullPath, string RelativePath, long Size, int Mode, DateTimeOffset ModifiedAt);

/// <summary>What a directory walk found.</summary>
internal sealed class ScanResult
{
    public List<ScannedFile> Files { get; } = [];

    public List<string> Directories { get; } = [];

    public List<string> Warnings { get; } = [];

    public int SymlinksSkipped { get; set; }

    public int SpecialSkipped { get; set; }

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
            List<FileSystemInfo> entries;
            try
            {
                entries = new DirectoryInfo(dir).EnumerateFileSystemInfos("*", options).ToList();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                result.Unreadable++;
                result.Warnings.Add($"cannot list directory {dir}: {ex.Message}");
                continue;
            }

            // Sorted so that snapshots list files in a stable order.
            entries.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
            foreach (var entry in entries)
            {
                string relative = rel.Length == 0 ? entry.Name : rel + "/" + entry.Name;
                if (excluded.Contains(entry.FullName))
                {
                    continue;
                }

                if (entry.LinkTarget is not null)
                {
                    result.SymlinksSkipped++;
                    continue;
                }

                if (entry is DirectoryInfo)
                {
                    result.Directories.Add(relative);
                    pending.Push((entry.FullName, relative));
                }
                else if (entry is FileInfo file)
                {
                    if (!FileKind.IsRegularFile(file.FullName))
                    {
                        // FIFOs, sockets and devices: reading them could block or never end.
                        result.SpecialSkipped++;
                        continue;
                    }

                    result.Files.Add(new ScannedFile(file.FullName, relative, file.Length, (int)file.UnixFileMode, new DateTimeOffset(file.LastWriteTimeUtc, TimeSpan.Zero)));
                    result.TotalBytes += file.Length;
                }
            }
        }

        result.Directories.Sort(StringComparer.Ordinal);
        return result;
    }
}
