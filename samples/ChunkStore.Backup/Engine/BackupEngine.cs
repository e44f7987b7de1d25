using System.Buffers;
using System.Diagnostics;
using System.Security.Cryptography;
using ChunkStore.Backends;
using ChunkStore.Backup.Chunking;
using ChunkStore.Backup.Snapshots;

namespace ChunkStore.Backup.Engine;

/// <summary>What a backup did.</summary>
internal sealed class BackupResult
{
    public required Snapshot Snapshot { get; init; }

    public required ScanResult Scan { get; init; }

    public long Files { get; set; }

    public long Bytes { get; set; }

    public long Chunks { get; set; }

    public long NewChunks { get; set; }

    public long DuplicateChunks => Chunks - NewChunks;

    public long NewBytes { get; set; }

    /// <summary>Files that could not be read (left out of the snapshot) or changed while read (kept as read).</summary>
    public List<string> Warnings { get; } = [];

    public int FilesFailed { get; set; }

    public TimeSpan Elapsed { get; set; }
}

/// <summary>Callbacks for progress display; every member optional.</summary>
internal sealed class BackupProgress
{
    public Action<ScanResult>? Scanned { get; init; }

    public Action<long>? BytesDone { get; init; }
}

/// <summary>Backs a directory up into a store: scan, chunk, insert in one write session, publish a snapshot.</summary>
internal static class BackupEngine
{
    private const int InsertsPerCore = 4;
    private const long MaxWindowBytes = 16 * 1024 * 1024;

    public static async Task<BackupResult> RunAsync(
        ChunkRepository repo, SnapshotStore snapshots, string source, IChunker chunker,
        BackupProgress? progress = null, CancellationToken cancellationToken = default)
    {
        if (chunker.MaxChunkSize > repo.Options.MaxChunkSize)
        {
            throw new UsageException($"chunks of up to {Sizes.Format(chunker.MaxChunkSize)} exceed the store's limit of {Sizes.Format(repo.Options.MaxChunkSize)}.");
        }

        var clock = Stopwatch.StartNew();
        string sourceFull = Path.GetFullPath(source);
        if (!Directory.Exists(sourceFull))
        {
            throw new UsageException($"{sourceFull} is not a directory.");
        }

        string storeRoot = Path.TrimEndingDirectorySeparator(repo.Root);
        if (sourceFull == storeRoot || sourceFull.StartsWith(storeRoot + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw new UsageException($"{sourceFull} is inside the store {storeRoot}; back up something else or use another store.");
        }

        // Never back the store up into itself (a store inside the source is left out).
        var scan = FileScanner.Scan(sourceFull, [repo.Root]);
        progress?.Scanned?.Invoke(scan);
        var snapshot = new Snapshot
        {
            Id = SnapshotStore.NewId(DateTimeOffset.UtcNow),
            CreatedAt = DateTimeOffset.UtcNow,
            Source = sourceFull,
            Host = Environment.MachineName,
            Chunker = chunker.Spec,
            Directories = scan.Directories,
        };
        var result = new BackupResult { Snapshot = snapshot, Scan = scan };
        result.Warnings.AddRange(scan.Warnings);

        // Every chunk goes in through one session: a collection running meanwhile in any process keeps what we
        // insert or deduplicate, although no snapshot references it yet.
        var session = await repo.BeginWriteSessionAsync(cancellationToken).ConfigureAwait(false);
        await using (session.ConfigureAwait(false))
        {
            // Inserts of new chunks wait on the filesystem (create, write, rename) more than on the CPU, so keep more
            // in flight than there are cores; the window is bounded in count and in bytes (chunks are copied).
            int windowSize = Math.Max(4, Environment.ProcessorCount * InsertsPerCore);
            var window = new InsertWindow();
            var reader = new ChunkingReader(Stream.Null, chunker);
            foreach (var file in scan.Files)
            {
                var entry = await ReadFileAsync(session, file, reader, window, windowSize, result, progress, cancellationToken).ConfigureAwait(false);
                if (entry is not null)
                {
                    snapshot.Files.Add(entry);
                }
            }

            while (window.Count > 0)
            {
                await window.CompleteOldestAsync(result).ConfigureAwait(false);
            }

            result.Files = snapshot.Files.Count;
            snapshot.Summary = new SnapshotSummary
            {
                Files = result.Files, Bytes = result.Bytes, Chunks = result.Chunks, NewChunks = result.NewChunks, NewBytes = result.NewBytes,
            };

            // Order matters: chunks durable (CompleteAsync syncs in Batch mode), then the snapshot published while the
            // session is still registered, then the session ends (the using block disposes it). A collection that
            // runs in between sees either the live session or the snapshot, so no chunk of this backup can go.
            await session.CompleteAsync(cancellationToken).ConfigureAwait(false);
            snapshots.Save(snapshot);
        }

        result.Elapsed = clock.Elapsed;
        return result;
    }

    private static async Task<SnapshotFile?> ReadFileAsync(
        WriteSession session, ScannedFile file, ChunkingReader reader, InsertWindow window, int windowSize,
        BackupResult result, BackupProgress? progress, CancellationToken cancellationToken)
    {
        var entry = new SnapshotFile { Path = file.RelativePath, Mode = file.Mode, ModifiedAt = file.ModifiedAt };
        FileStream stream;
        try
        {
            stream = new FileStream(file.FullPath, new FileStreamOptions
            {
                Mode = FileMode.Open, Access = FileAccess.Read, Share = FileShare.ReadWrite | FileShare.Delete, BufferSize = 0, Options = FileOptions.SequentialScan,
            });
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            result.FilesFailed++;
            result.Warnings.Add($"cannot read {file.FullPath}: {ex.Message} (left out of the snapshot)");
            return null;
        }

        await using (stream.ConfigureAwait(false))
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            reader.Reset(stream);
            long size = 0;
            try
            {
                while (true)
                {
                    var chunk = await reader.NextAsync(cancellationToken).ConfigureAwait(false);
                    if (chunk.IsEmpty)
                    {
                        break;
                    }

                    hash.AppendData(chunk.Span);
                    size += chunk.Length;
                    byte[] copy = ArrayPool<byte>.Shared.Rent(chunk.Length);
                    chunk.CopyTo(copy);
                    int length = chunk.Length;
                    entry.Chunks.Add("");
                    int index = entry.Chunks.Count - 1;
                    var task = Task.Run(() => session.InsertAsync(copy.AsMemory(0, length), cancellationToken).AsTask(), cancellationToken);
                    window.Enqueue(new PendingInsert(entry, index, copy, length, task));
                    while (window.Count >= windowSize || window.Bytes > MaxWindowBytes)
                    {
                        await window.CompleteOldestAsync(result).ConfigureAwait(false);
                    }

                    progress?.BytesDone?.Invoke(length);
                }
            }
            catch (IOException ex)
            {
                // Drain this file's inserts (their chunks are stored and harmless) and leave the file out.
                while (window.Count > 0)
                {
                    await window.CompleteOldestAsync(result).ConfigureAwait(false);
                }

                result.FilesFailed++;
                result.Warnings.Add($"cannot read {file.FullPath}: {ex.Message} (left out of the snapshot)");
                return null;
            }

            if (size != file.Size)
            {
                result.Warnings.Add($"{file.FullPath} changed while it was read ({Sizes.Count(file.Size)} bytes when scanned, {Sizes.Count(size)} read); saved as read.");
                progress?.BytesDone?.Invoke(file.Size - size);
            }

            entry.Size = size;
            entry.Sha256 = Convert.ToHexStringLower(hash.GetHashAndReset());
            result.Bytes += size;
            return entry;
        }
    }

    private sealed record PendingInsert(SnapshotFile File, int Index, byte[] Buffer, int Length, Task<ChunkInsertResult> Task);

    /// <summary>The inserts in flight, oldest first, with the bytes they hold.</summary>
    private sealed class InsertWindow
    {
        private readonly Queue<PendingInsert> _queue = new();

        public int Count => _queue.Count;

        public long Bytes { get; private set; }

        public void Enqueue(PendingInsert pending)
        {
            _queue.Enqueue(pending);
            Bytes += pending.Length;
        }

        /// <summary>Waits for the oldest insert and records its digest in its file's chunk list.</summary>
        public async Task CompleteOldestAsync(BackupResult result)
        {
            var pending = _queue.Dequeue();
            Bytes -= pending.Length;
            try
            {
                var inserted = await pending.Task.ConfigureAwait(false);
                pending.File.Chunks[pending.Index] = inserted.Digest.ToString();
                result.Chunks++;
                if (inserted.IsNew)
                {
                    result.NewChunks++;
                    result.NewBytes += inserted.Size;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(pending.Buffer);
            }
        }
    }
}
