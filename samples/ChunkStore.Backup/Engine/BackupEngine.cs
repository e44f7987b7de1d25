using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.ExceptionServices;
using System.Threading.Channels;
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

    /// <summary>Files taken from the files cache (not read; their chunks touched).</summary>
    public long FilesFromCache { get; set; }

    /// <summary>Bytes of the files taken from the files cache.</summary>
    public long BytesFromCache { get; set; }

    /// <summary>Files whose cache entry matched but one of whose chunks was no longer stored: read again.</summary>
    public long CacheEntriesStale { get; set; }

    /// <summary>Entries in the files cache this backup started with (0 when off, forced or absent).</summary>
    public int CacheEntriesLoaded { get; set; }

    /// <summary>Bytes read from the source files.</summary>
    public long BytesRead { get; set; }

    /// <summary>The most chunk buffers that were in use at once (at most <see cref="ChunkBufferLimit"/>).</summary>
    public int PeakChunkBuffers { get; set; }

    /// <summary>The pipeline's bound on chunk buffers (each <see cref="IChunker.MaxChunkSize"/> bytes).</summary>
    public int ChunkBufferLimit { get; set; }

    /// <summary>Files that could not be read (left out of the snapshot) or changed while read (kept as read).</summary>
    public List<string> Warnings { get; } = [];

    public int FilesFailed { get; set; }

    public TimeSpan Elapsed { get; set; }
}

/// <summary>Callbacks for progress display; every member optional. <see cref="BytesDone"/> is called from several threads.</summary>
internal sealed class BackupProgress
{
    public Action<ScanResult>? Scanned { get; init; }

    public Action<long>? BytesDone { get; init; }
}

/// <summary>How a backup runs: the files cache and the pipeline's size.</summary>
internal sealed class BackupOptions
{
    public const int DefaultReadBufferSize = 4 * 1024 * 1024;
    public const long DefaultChunkBufferBytes = 32 * 1024 * 1024;

    /// <summary>Gets a value telling whether to use the files cache at all (read it and write it). <c>--no-files-cache</c> turns it off.</summary>
    public bool UseFilesCache { get; init; } = true;

    /// <summary>Gets a value telling whether to read every file even when the files cache has it (<c>--force-read</c>); the cache is still rewritten.</summary>
    public bool ForceRead { get; init; }

    /// <summary>Gets how many files are read and chunked at once.</summary>
    public int Readers { get; init; } = Math.Max(2, Environment.ProcessorCount);

    /// <summary>Gets how many chunk inserts (hash + store) run at once.</summary>
    public int Inserters { get; init; } = Math.Max(8, 4 * Environment.ProcessorCount);

    /// <summary>Gets the memory for chunk buffers: <c>clamp(this / max chunk size, 4, 64)</c> buffers of the chunker's maximum chunk size.</summary>
    public long ChunkBufferBytes { get; init; } = DefaultChunkBufferBytes;

    /// <summary>Gets each reader's buffer size (at least twice the maximum chunk size).</summary>
    public int ReadBufferSize { get; init; } = DefaultReadBufferSize;

    /// <summary>Gets the racy-file window of the files cache (see <see cref="FilesCache"/>).</summary>
    public TimeSpan RacyWindow { get; init; } = FilesCache.DefaultRacyWindow;

    /// <summary>Gets a hook that may change what the scan saw (tests: timestamps of a coarse-grained filesystem).</summary>
    internal Func<ScannedFile, ScannedFile>? AdjustScan { get; init; }

    public int ChunkBuffers(int maxChunkSize) => (int)Math.Clamp(ChunkBufferBytes / maxChunkSize, 4, 64);
}

/// <summary>
/// Backs a directory up into a store: scan, then a pipeline — readers (read + chunk, one file each) hand chunks to
/// inserters (hash + store, through one write session) — then publish a snapshot and the files cache.
/// </summary>
/// <remarks>
/// <para>Memory is bounded by a fixed pool of chunk buffers (<see cref="BackupOptions.ChunkBuffers"/>, each the
/// maximum chunk size): a reader waits for a free buffer before it copies a chunk out of its read buffer, and an
/// inserter frees it when the chunk is stored. With the defaults that is 32 buffers of 1 MiB plus one 4 MiB read
/// buffer per reader, whatever the size of the files.</para>
/// <para>Every byte is hashed once, by the store's <c>InsertAsync</c>: the snapshot records each file's chunk
/// digests, and a restore checks every chunk against its digest and the file's size.</para>
/// </remarks>
internal static class BackupEngine
{
    public static async Task<BackupResult> RunAsync(
        ChunkRepository repo, SnapshotStore snapshots, string source, IChunker chunker,
        BackupProgress? progress = null, BackupOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new BackupOptions();
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
        if (options.AdjustScan is { } adjust)
        {
            for (int i = 0; i < scan.Files.Count; i++)
            {
                scan.Files[i] = adjust(scan.Files[i]);
            }
        }

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

        string cachePath = FilesCache.PathFor(repo.Root, sourceFull);
        var cache = FilesCache.Empty;
        if (options.UseFilesCache && !options.ForceRead)
        {
            cache = FilesCache.Load(cachePath, chunker.Spec, out string? cacheWarning);
            if (cacheWarning is not null)
            {
                result.Warnings.Add(cacheWarning);
            }

            result.CacheEntriesLoaded = cache.Count;
        }

        // Every chunk goes in (or is touched) through one session: a collection running meanwhile in any process keeps
        // it, although no snapshot references it yet.
        var session = await repo.BeginWriteSessionAsync(cancellationToken).ConfigureAwait(false);
        await using (session.ConfigureAwait(false))
        {
            var pipeline = new Pipeline(session, chunker, cache, options, progress);
            var outcomes = await pipeline.RunAsync(scan.Files, cancellationToken).ConfigureAwait(false);
            var cacheEntries = new List<(string, FilesCacheEntry)>();
            for (int i = 0; i < outcomes.Length; i++)
            {
                var file = scan.Files[i];
                var outcome = outcomes[i];
                if (outcome.Failure is not null)
                {
                    result.FilesFailed++;
                    result.Warnings.Add(outcome.Failure);
                    continue;
                }

                var digests = outcome.Digests;
                snapshot.Files.Add(new SnapshotFile
                {
                    Path = file.RelativePath, Mode = file.Mode, ModifiedAt = file.ModifiedAt, Size = outcome.Size,
                    Chunks = digests.Select(d => d.ToString()).ToList(),
                });
                result.Bytes += outcome.Size;
                result.Chunks += digests.Length;
                if (outcome.FromCache)
                {
                    result.FilesFromCache++;
                    result.BytesFromCache += outcome.Size;
                }

                if (outcome.Size != file.Size)
                {
                    result.Warnings.Add($"{file.FullPath} changed while it was read ({Sizes.Count(file.Size)} bytes when scanned, {Sizes.Count(outcome.Size)} read); saved as read.");
                }
                else if (file.Stat.ChangedNs is { } ctime)
                {
                    cacheEntries.Add((file.RelativePath, new FilesCacheEntry(file.Size, file.Stat.ModifiedNs, ctime, file.Stat.Inode, file.ScannedAtNs, digests)));
                }
            }

            pipeline.CopyCountersTo(result);
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

            // Only after the snapshot: every entry now names chunks a published snapshot references. The next backup
            // still touches them before it trusts an entry (a later forget + gc may remove them).
            if (options.UseFilesCache)
            {
                try
                {
                    FilesCache.Save(cachePath, chunker.Spec, cacheEntries);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    result.Warnings.Add($"cannot write the files cache {cachePath}: {ex.Message} (the next backup reads every file)");
                }
            }
        }

        result.Elapsed = clock.Elapsed;
        return result;
    }

    /// <summary>What became of one scanned file.</summary>
    private sealed class FileOutcome
    {
        public string? Failure { get; init; }

        public bool FromCache { get; init; }

        public long Size { get; init; }

        /// <summary>The chunk slots, filled by the inserters; read only after the pipeline has finished.</summary>
        public ChunkSlot[] Slots { get; init; } = [];

        public ChunkDigest[]? Cached { get; init; }

        public ChunkDigest[] Digests => Cached ?? Array.ConvertAll(Slots, s => s.Digest);
    }

    /// <summary>Where an inserter puts a chunk's digest.</summary>
    private sealed class ChunkSlot
    {
        public ChunkDigest Digest;
    }

    private readonly record struct ChunkJob(ChunkSlot Slot, byte[] Buffer, int Length);

    /// <summary>The readers, the inserters and the bounded buffer pool between them.</summary>
    private sealed class Pipeline(WriteSession session, IChunker chunker, FilesCache cache, BackupOptions options, BackupProgress? progress)
    {
        private readonly ChunkBufferPool _buffers = new(options.ChunkBuffers(chunker.MaxChunkSize), chunker.MaxChunkSize);

        // Unbounded: the buffer pool bounds what can be queued (a chunk is queued only in a rented buffer).
        private readonly Channel<ChunkJob> _jobs = Channel.CreateUnbounded<ChunkJob>(new UnboundedChannelOptions { SingleReader = false, SingleWriter = false });
        private long _newChunks;
        private long _newBytes;
        private long _stale;
        private long _bytesRead;
        private Exception? _failure;

        public async Task<FileOutcome[]> RunAsync(List<ScannedFile> files, CancellationToken cancellationToken)
        {
            var outcomes = new FileOutcome[files.Count];

            // Largest files first: a big file is chunked by one reader, so starting it early keeps the end of the run
            // from waiting on it alone. The snapshot keeps the scan's order.
            int[] order = Enumerable.Range(0, files.Count).OrderByDescending(i => files[i].Size).ThenBy(i => i).ToArray();
            int next = -1;
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var inserters = Enumerable.Range(0, options.Inserters).Select(_ => Guard(() => InsertLoopAsync(stop.Token), stop)).ToArray();
            var readers = Enumerable.Range(0, options.Readers).Select(_ => Guard(
                async () =>
                {
                    var reader = new ChunkingReader(Stream.Null, chunker, Math.Max(options.ReadBufferSize, 2 * chunker.MaxChunkSize));
                    for (int n = Interlocked.Increment(ref next); n < order.Length; n = Interlocked.Increment(ref next))
                    {
                        outcomes[order[n]] = await BackupFileAsync(files[order[n]], reader, stop.Token).ConfigureAwait(false);
                    }
                },
                stop)).ToArray();
            try
            {
                await Task.WhenAll(readers).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Recorded by Guard (or a cancellation, rethrown below).
            }
            finally
            {
                _jobs.Writer.TryComplete();
            }

            try
            {
                await Task.WhenAll(inserters).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // As above: every task has finished, so no insert outlives the session.
            }

            if (_failure is not null)
            {
                ExceptionDispatchInfo.Throw(_failure);
            }

            cancellationToken.ThrowIfCancellationRequested();
            return outcomes;
        }

        public void CopyCountersTo(BackupResult result)
        {
            result.NewChunks = _newChunks;
            result.NewBytes = _newBytes;
            result.CacheEntriesStale = _stale;
            result.BytesRead = _bytesRead;
            result.PeakChunkBuffers = _buffers.Peak;
            result.ChunkBufferLimit = _buffers.Capacity;
        }

        /// <summary>Runs a stage; its first real failure stops the others.</summary>
        private Task Guard(Func<Task> stage, CancellationTokenSource stop) => Task.Run(async () =>
        {
            try
            {
                await stage().ConfigureAwait(false);
            }
            catch (Exception ex) when (!(ex is OperationCanceledException && stop.IsCancellationRequested))
            {
                Interlocked.CompareExchange(ref _failure, ex, null);
                await stop.CancelAsync().ConfigureAwait(false);
                throw;
            }
        });

        private async Task InsertLoopAsync(CancellationToken cancellationToken)
        {
            await foreach (var job in _jobs.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    var inserted = await session.InsertAsync(job.Buffer.AsMemory(0, job.Length), cancellationToken).ConfigureAwait(false);
                    job.Slot.Digest = inserted.Digest;
                    if (inserted.IsNew)
                    {
                        Interlocked.Increment(ref _newChunks);
                        Interlocked.Add(ref _newBytes, inserted.Size);
                    }
                }
                finally
                {
                    _buffers.Return(job.Buffer);
                }
            }
        }

        private async Task<FileOutcome> BackupFileAsync(ScannedFile file, ChunkingReader reader, CancellationToken cancellationToken)
        {
            if (cache.Lookup(file, options.RacyWindow) is { } hit)
            {
                // The entry is a hint, not a reference: its chunks may have been collected since (a forget + gc), and
                // nothing protects them from a collection running now until this session touches them. A touch that
                // finds a chunk refreshes it atomically with respect to a sweep, and the session keeps it from here on;
                // one that does not find it sends the file back to be read and stored again.
                bool present = true;
                foreach (var digest in hit.Chunks)
                {
                    if (!await session.TouchAsync(digest, cancellationToken).ConfigureAwait(false))
                    {
                        present = false;
                        break;
                    }
                }

                if (present)
                {
                    progress?.BytesDone?.Invoke(file.Size);
                    return new FileOutcome { FromCache = true, Size = file.Size, Cached = hit.Chunks };
                }

                Interlocked.Increment(ref _stale);
            }

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
                return new FileOutcome { Failure = $"cannot read {file.FullPath}: {ex.Message} (left out of the snapshot)" };
            }

            await using (stream.ConfigureAwait(false))
            {
                reader.Reset(stream);
                var slots = new List<ChunkSlot>();
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

                        byte[] buffer = await _buffers.RentAsync(cancellationToken).ConfigureAwait(false);
                        chunk.CopyTo(buffer);
                        var slot = new ChunkSlot();
                        slots.Add(slot);
                        size += chunk.Length;
                        _jobs.Writer.TryWrite(new ChunkJob(slot, buffer, chunk.Length));
                        progress?.BytesDone?.Invoke(chunk.Length);
                    }
                }
                catch (IOException ex)
                {
                    // The chunks already queued are stored and harmless; the file is left out.
                    Interlocked.Add(ref _bytesRead, size);
                    return new FileOutcome { Failure = $"cannot read {file.FullPath}: {ex.Message} (left out of the snapshot)" };
                }

                if (size != file.Size)
                {
                    progress?.BytesDone?.Invoke(file.Size - size);
                }

                Interlocked.Add(ref _bytesRead, size);
                return new FileOutcome { Size = size, Slots = [.. slots] };
            }
        }
    }
}

/// <summary>A fixed number of equal buffers: renting waits while all are in use, which bounds the pipeline's memory.</summary>
internal sealed class ChunkBufferPool(int capacity, int bufferSize)
{
    private readonly SemaphoreSlim _available = new(capacity, capacity);
    private readonly ConcurrentBag<byte[]> _free = [];
    private int _inUse;
    private int _peak;

    public int Capacity => capacity;

    /// <summary>Gets the most buffers that were rented at once.</summary>
    public int Peak => Volatile.Read(ref _peak);

    public async ValueTask<byte[]> RentAsync(CancellationToken cancellationToken)
    {
        await _available.WaitAsync(cancellationToken).ConfigureAwait(false);
        int inUse = Interlocked.Increment(ref _inUse);
        for (int peak = Volatile.Read(ref _peak); inUse > peak; peak = Volatile.Read(ref _peak))
        {
            if (Interlocked.CompareExchange(ref _peak, inUse, peak) == peak)
            {
                break;
            }
        }

        return _free.TryTake(out byte[]? buffer) ? buffer : new byte[bufferSize];
    }

    public void Return(byte[] buffer)
    {
        _free.Add(buffer);
        Interlocked.Decrement(ref _inUse);
        _available.Release();
    }
}
