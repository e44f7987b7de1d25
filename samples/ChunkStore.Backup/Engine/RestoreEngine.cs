using System.Diagnostics;
using System.Security.Cryptography;
using ChunkStore.Backup.Snapshots;

namespace ChunkStore.Backup.Engine;

/// <summary>What a restore did.</summary>
internal sealed class RestoreResult
{
    private long _files;
    private long _bytes;
    private long _chunks;

    public long Files => Interlocked.Read(ref _files);

    public long Bytes => Interlocked.Read(ref _bytes);

    public long Chunks => Interlocked.Read(ref _chunks);

    /// <summary>Files whose bytes could not be restored correctly (missing or corrupt chunk, size or SHA-256 mismatch).</summary>
    public List<string> Failures { get; } = [];

    public TimeSpan Elapsed { get; set; }

    public void AddFile() => Interlocked.Increment(ref _files);

    public void AddChunk(long bytes)
    {
        Interlocked.Increment(ref _chunks);
        Interlocked.Add(ref _bytes, bytes);
    }
}

/// <summary>Writes a snapshot's files into a directory, checking every byte on the way.</summary>
internal static class RestoreEngine
{
    private const int ReadAhead = 3;
    private const int FileParallelism = 4;

    /// <summary>Restores <paramref name="snapshot"/> into <paramref name="target"/>.</summary>
    /// <remarks>
    /// Each chunk is verified by the store as it is read (a chunk that does not hash to its name is never returned),
    /// and each file's size (and, in v1 snapshots, its whole-file SHA-256) is checked against the snapshot as it is
    /// written. A file that
    /// fails is left as <c>&lt;name&gt;.partial</c> and reported; the others are still restored.
    /// </remarks>
    /// <exception cref="UsageException">The target is a non-empty directory and <paramref name="force"/> is false.</exception>
    public static async Task<RestoreResult> RunAsync(
        ChunkRepository repo, Snapshot snapshot, string target, bool force,
        Action<long>? bytesDone = null, CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        string root = Path.GetFullPath(target);
        if (File.Exists(root))
        {
            throw new UsageException($"restore target {root} is a file.");
        }

        if (Directory.Exists(root) && Directory.EnumerateFileSystemEntries(root).Any() && !force)
        {
            throw new UsageException($"restore target {root} is not empty; choose an empty directory or pass --force to overwrite.");
        }

        Directory.CreateDirectory(root);
        foreach (string dir in snapshot.Directories)
        {
            if (SnapshotStore.PathIsSafe(dir))
            {
                Directory.CreateDirectory(Path.Combine(root, dir));
            }
        }

        var result = new RestoreResult();
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();

        // Files in parallel: creating, renaming and stamping small files is latency-bound on many filesystems.
        await Parallel.ForEachAsync(
            snapshot.Files,
            new ParallelOptions { MaxDegreeOfParallelism = FileParallelism, CancellationToken = cancellationToken },
            async (file, ct) =>
            {
                string path = Path.Combine(root, file.Path);
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                string partial = path + ".partial";
                string? failure = await WriteFileAsync(repo, file, partial, result, bytesDone, ct).ConfigureAwait(false);
                if (failure is not null)
                {
                    failures.Enqueue($"{file.Path}: {failure}");
                    return;
                }

                File.Move(partial, path, overwrite: true);
                File.SetLastWriteTimeUtc(path, file.ModifiedAt.UtcDateTime);
                if (!OperatingSystem.IsWindows())
                {
                    File.SetUnixFileMode(path, (UnixFileMode)file.Mode);
                }

                result.AddFile();
            }).ConfigureAwait(false);
        result.Failures.AddRange(failures.Order(StringComparer.Ordinal));
        result.Elapsed = clock.Elapsed;
        return result;
    }

    private static async Task<string?> WriteFileAsync(
        ChunkRepository repo, SnapshotFile file, string path, RestoreResult result, Action<long>? bytesDone, CancellationToken cancellationToken)
    {
        // v1 snapshots carry a whole-file SHA-256; v2 rely on the store checking every chunk against its digest.
        using var hash = file.Sha256 is null ? null : IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long written = 0;
        var stream = new FileStream(path, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Share = FileShare.None, BufferSize = 0 });
        await using (stream.ConfigureAwait(false))
        {
            // Read a few chunks ahead so reading and hashing in the store overlap with writing here.
            var ahead = new Queue<Task<byte[]>>();
            int next = 0;
            try
            {
                while (next < file.Chunks.Count || ahead.Count > 0)
                {
                    while (next < file.Chunks.Count && ahead.Count < ReadAhead)
                    {
                        var digest = ChunkDigest.Parse(file.Chunks[next++]);
                        ahead.Enqueue(Task.Run(() => repo.ReadAsync(digest, cancellationToken).AsTask(), cancellationToken));
                    }

                    byte[] bytes = await ahead.Dequeue().ConfigureAwait(false);
                    hash?.AppendData(bytes);
                    await stream.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
                    written += bytes.Length;
                    result.AddChunk(bytes.Length);
                    bytesDone?.Invoke(bytes.Length);
                }
            }
            catch (Exception ex) when (ex is ChunkNotFoundException or ChunkCorruptException)
            {
                // Let the other reads finish before leaving, so none outlives the restore.
                foreach (var task in ahead)
                {
                    try
                    {
                        await task.ConfigureAwait(false);
                    }
                    catch (ChunkStoreException)
                    {
                    }
                }

                bytesDone?.Invoke(file.Size - written);
                return ex.Message;
            }
        }

        if (written != file.Size)
        {
            return $"restored {Sizes.Count(written)} bytes, the snapshot says {Sizes.Count(file.Size)}";
        }

        if (hash is null)
        {
            return null;
        }

        string actual = Convert.ToHexStringLower(hash.GetHashAndReset());
        return string.Equals(actual, file.Sha256, StringComparison.Ordinal) ? null : $"SHA-256 of the restored bytes is {actual}, the snapshot says {file.Sha256}";
    }
}
