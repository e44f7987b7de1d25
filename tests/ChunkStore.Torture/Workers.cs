using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using ChunkStore.Diagnostics;
using ChunkStore.Tests.Infrastructure;

namespace ChunkStore.Torture;

/// <summary>Settings every worker process gets on its command line.</summary>
internal sealed record WorkerArgs(string Role, string Store, string Journals, string Instance, long Seed, string? Disable, string? Bucket, Uri? Endpoint, long RetentionMs)
{
    public static WorkerArgs Parse(string[] args)
    {
        string role = args[1];
        string? store = null, journals = null, instance = null, disable = null, bucket = null;
        Uri? endpoint = null;
        long seed = 0, retention = 0;
        for (int i = 2; i < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--store": store = args[i + 1]; break;
                case "--journals": journals = args[i + 1]; break;
                case "--instance": instance = args[i + 1]; break;
                case "--seed": seed = long.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                case "--disable": disable = args[i + 1]; break;
                case "--s3-bucket": bucket = args[i + 1]; break;
                case "--s3-endpoint": endpoint = new Uri(args[i + 1]); break;
                case "--retention-ms": retention = long.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                default: throw new ArgumentException("unknown worker option " + args[i]);
            }
        }

        return new WorkerArgs(role, store!, journals!, instance!, seed, disable, bucket, endpoint, retention);
    }
}

/// <summary>The worker processes: inserter, reader, verifier, corrupter, gc. Each stops cleanly when its stdin closes.</summary>
internal sealed class Worker
{
    public static readonly TimeSpan Grace = TimeSpan.FromSeconds(3);
    public static readonly TimeSpan WriterMargin = TimeSpan.FromSeconds(1);

    /// <summary>Slack (ms) between "a collection references it" and "a check insists on it" (see <see cref="JournalSet.IsProtected"/>).</summary>
    public const long Margin = 3000;

    private readonly WorkerArgs _args;
    private readonly ConcurrentDictionary<string, long> _stats = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly Random _rng;
    private readonly JournalWriter _journal;
    private S3Server? _s3;

    private Worker(WorkerArgs args)
    {
        _args = args;
        _rng = new Random(HashCode.Combine(args.Seed, args.Instance.GetHashCode(StringComparison.Ordinal), Environment.ProcessId));
        _journal = new JournalWriter(Path.Combine(args.Journals, args.Instance + ".log"));
    }

    public static async Task<int> RunAsync(string[] argv)
    {
        var args = WorkerArgs.Parse(argv);
        ApplyDisable(args.Disable);
        var worker = new Worker(args);
        return await worker.RunAsync().ConfigureAwait(false);
    }

    /// <summary>The protections <c>--disable</c> can switch off (the S3-only ones only affect S3 stores).</summary>
    public const string DisableNames = "dedup-touch, writer-registry, insert-marker (S3), gc-early-unlock (S3)";

    /// <summary>Turns the protection named <paramref name="disable"/> off in this process (null: none); off is the only setting the switches have outside the harness's own build.</summary>
    public static void ApplyDisable(string? disable) => SetSwitches(disable);

    /// <summary>Turns every protection back on (the driver's own final GC runs with all of them).</summary>
    public static void ResetSwitches() => SetSwitches(null);

    private static void SetSwitches(string? disable)
    {
        if (disable is not (null or "dedup-touch" or "writer-registry" or "insert-marker" or "gc-early-unlock"))
        {
            throw new ArgumentException("unknown protection to disable: " + disable + " (" + DisableNames + ")");
        }

#if CHUNKSTORE_FAULT_SWITCHES
        FaultSwitches.SkipDedupTouch = disable == "dedup-touch";
        FaultSwitches.IgnoreWriters = disable == "writer-registry";
        FaultSwitches.SkipInsertMarker = disable == "insert-marker";
        FaultSwitches.GcEarlyUnlock = disable == "gc-early-unlock";
#else
        if (disable is not null)
        {
            throw new InvalidOperationException("--disable needs the harness's own build, which has the fault switches: run tests/ChunkStore.Torture/run.sh (dotnet build -c Torture)");
        }
#endif
    }

    /// <summary>Opens the filesystem store at <paramref name="root"/>, or the S3 store whose local root it is.</summary>
    public static ChunkRepository OpenStore(string root, S3Server? s3 = null, string? bucket = null, Uri? endpoint = null)
    {
        var options = new ChunkStoreOptions
        {
            Root = root,
            SyncMode = SyncMode.Batch,
            LockTimeout = TimeSpan.FromMinutes(2),
            LoggerFactory = StderrLoggerFactory.Instance,
        };
        return s3 is null || bucket is null
            ? ChunkRepository.Open(options)
            : S3.S3ChunkStore.Open(options, s3.Options(bucket, endpoint ?? s3.Endpoint));
    }

    private async Task<int> RunAsync()
    {
        _ = Task.Run(() =>
        {
            try
            {
                Console.In.ReadToEnd();
            }
            finally
            {
                _stop.Cancel();
            }
        });
        using var statsTimer = new Timer(_ => PrintStats(), null, 1000, 1000);
        if (_args.Bucket is not null)
        {
            _s3 = S3Server.FromEnvironment(out string? missing) ?? throw new InvalidOperationException(missing);
        }

        await using var repo = await OpenWithRetryAsync().ConfigureAwait(false);
        if (repo is null)
        {
            return 0; // told to stop while the server was unreachable
        }

        try
        {
            switch (_args.Role)
            {
                case "inserter": await InserterAsync(repo).ConfigureAwait(false); break;
                case "reader": await ReaderAsync(repo).ConfigureAwait(false); break;
                case "verifier": await VerifierAsync(repo).ConfigureAwait(false); break;
                case "corrupter": await CorrupterAsync(repo).ConfigureAwait(false); break;
                case "gc": await GcAsync(repo).ConfigureAwait(false); break;
                default: throw new ArgumentException("unknown role " + _args.Role);
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }

        PrintStats();
        _journal.Dispose();
        return 0;
    }

    /// <summary>Opening an S3 store GETs its identity object: while radosgw is down, wait for it (counted as a fault);
    /// null when told to stop meanwhile.</summary>
    private async Task<ChunkRepository?> OpenWithRetryAsync()
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                return OpenStore(_args.Store, _s3, _args.Bucket, _args.Endpoint);
            }
            catch (ChunkStorageException ex) when (ex.IsTransient && _stop.IsCancellationRequested)
            {
                Count("fault.transient.open");
                return null;
            }
            catch (ChunkStorageException ex) when (ex.IsTransient && attempt < 100)
            {
                Count("fault.transient.open");
                await Task.Delay(300).ConfigureAwait(false);
            }
        }
    }

    /// <summary>A transient storage error (S3: network, 5xx, server down after the retries) is a fault to count, not a bug.</summary>
    private bool Transient(Exception ex, string what)
    {
        if (ex is ChunkStoreException { IsTransient: true } && _args.Bucket is not null)
        {
            Count("fault.transient." + what);
            return true;
        }

        return false;
    }

    private long ProtectedSinceMs => JournalWriter.NowMs - _args.RetentionMs + Margin;

    private void Count(string key, long n = 1) => _stats.AddOrUpdate(key, n, (_, v) => v + n);

    private void PrintStats()
    {
        var sb = new StringBuilder("STATS");
        foreach (var (k, v) in _stats)
        {
            sb.Append(' ').Append(k).Append('=').Append(v.ToString(CultureInfo.InvariantCulture));
        }

        Console.Out.WriteLine(sb.ToString());
    }

    private void Unexpected(string what, Exception ex)
    {
        Count("unexpected");
        Console.Error.WriteLine($"UNEXPECTED {_args.Role} {_args.Instance} {what}: {ex.GetType().Name}: {ex.Message.ReplaceLineEndings(" ")}");
    }

    private Task Pause(int minMs, int maxMs) => Task.Delay(_rng.Next(minMs, maxMs), _stop.Token);

    private static string Ms() => JournalWriter.NowMs.ToString(CultureInfo.InvariantCulture);

    // ---------------------------------------------------------------- inserter
    private async Task InserterAsync(ChunkRepository repo)
    {
        var abandoned = new List<(string Key, long Ms)>();
        long unique = 0;
        int sessionNo = 0;
        while (!_stop.IsCancellationRequested)
        {
            var session = await repo.BeginWriteSessionAsync().ConfigureAwait(false);
            string sid = $"{_args.Instance}-{sessionNo++}";
            bool abandon = _rng.NextDouble() < 0.25;
            var until = DateTime.UtcNow.AddMilliseconds(_rng.Next(4000, 8000));
            var digests = new List<ChunkDigest>();
            var keys = new List<string>();
            Count("sessions");
            while (DateTime.UtcNow < until && !_stop.IsCancellationRequested)
            {
                double r = _rng.NextDouble();
                long now = JournalWriter.NowMs;
                string key;
                if (r < 0.15 && abandoned.Count > 0 && now - abandoned[0].Ms > 3000)
                {
                    // Revive garbage: a chunk only an abandoned session of ours stored, now old and unreferenced. Half
                    // the time one abandoned 6–20 s ago: past the grace period and the live sessions' writer cutoff,
                    // i.e. what a GC is deciding about (and deleting) right now.
                    int i = _rng.Next(abandoned.Count);
                    if (_rng.NextDouble() < 0.5)
                    {
                        int last = abandoned.FindLastIndex(a => now - a.Ms >= 6000);
                        int first = abandoned.FindIndex(a => now - a.Ms < 20000);
                        if (last >= 0 && first >= 0 && first <= last)
                        {
                            i = _rng.Next(first, last + 1);
                        }
                    }

                    if (now - abandoned[i].Ms < 3000)
                    {
                        i = 0;
                    }

                    key = abandoned[i].Key;
                    abandoned.RemoveAt(i);
                    Count("insert.revive");
                }
                else if (r < 0.35)
                {
                    key = FormattableString.Invariant($"u{_args.Instance}-{unique++}");
                }
                else
                {
                    key = "p" + _rng.Next(Content.PoolSize).ToString(CultureInfo.InvariantCulture);
                }

                byte[] data = Content.Generate(_args.Seed, key);
                try
                {
                    var result = await session.InsertAsync(data).ConfigureAwait(false);
                    _journal.Line($"I {Ms()} {sid} {result.Digest} {key} {(result.IsNew ? 'n' : 'd')}");
                    digests.Add(result.Digest);
                    keys.Add(key);
                    Count(result.IsNew ? "insert.new" : "insert.dup");
                    Count("insert.bytes", data.Length);
                }
                catch (ChunkStorageException ex) when (ex.Kind == StorageErrorKind.DiskFull)
                {
                    Count("fault.diskfull.insert");
                    await Pause(5, 30).ConfigureAwait(false);
                }
                catch (Exception ex) when (Transient(ex, "insert"))
                {
                    await Pause(20, 200).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Unexpected("insert " + key, ex);
                }

                await Task.Delay(_rng.Next(0, 6)).ConfigureAwait(false);
            }

            if (abandon)
            {
                _journal.Line($"A {Ms()} {sid}");
                await session.DisposeAsync().ConfigureAwait(false);
                long t = JournalWriter.NowMs;
                abandoned.AddRange(keys.Select(k => (k, t)));
                if (abandoned.Count > 5000)
                {
                    abandoned.RemoveRange(0, abandoned.Count - 5000);
                }

                Count("sessions.abandoned");
                continue;
            }

            try
            {
                // The documented protocol: complete (durable), publish the "index" while the session is still
                // registered and protects its chunks, then dispose (unregister).
                await session.CompleteAsync().ConfigureAwait(false);
                _journal.Line($"P {Ms()} {sid} {string.Join(',', digests.Distinct())}");
                await session.DisposeAsync().ConfigureAwait(false);
                Count("sessions.published");
            }
            catch (ChunkStorageException ex) when (ex.Kind == StorageErrorKind.DiskFull)
            {
                Count("fault.diskfull.flush");
                await session.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (Transient(ex, "flush"))
            {
                await session.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    // ---------------------------------------------------------------- reader
    private async Task ReaderAsync(ChunkRepository repo)
    {
        var journals = new JournalSet(_args.Journals);
        long refreshed = 0;
        List<ChunkDigest> recent = [];
        while (!_stop.IsCancellationRequested)
        {
            if (Environment.TickCount64 - refreshed > 2000)
            {
                journals.Refresh();
                recent = journals.PublishedSince(ProtectedSinceMs);
                refreshed = Environment.TickCount64;
            }

            if (journals.RecordedList.Count == 0)
            {
                await Pause(100, 200).ConfigureAwait(false);
                continue;
            }

            // 80 %: a digest of a session published within the retention (a GC references it: it must be there).
            bool fromPublished = recent.Count > 0 && _rng.NextDouble() < 0.8;
            var digest = fromPublished ? recent[_rng.Next(recent.Count)] : journals.RecordedList[_rng.Next(journals.RecordedList.Count)];
            try
            {
                byte[] bytes = await repo.ReadAsync(digest).ConfigureAwait(false);
                byte[] expected = Content.Generate(_args.Seed, journals.Recorded[digest].Key);
                if (!bytes.AsSpan().SequenceEqual(expected))
                {
                    _journal.Line($"C {Ms()} {digest} wrong-bytes");
                    Count("read.wrongbytes");
                }
                else
                {
                    Count("read.ok");
                }
            }
            catch (ChunkCorruptException)
            {
                _journal.Line($"C {Ms()} {digest} corrupt");
                Count("read.corrupt");
            }
            catch (ChunkNotFoundException)
            {
                if (fromPublished)
                {
                    _journal.Line($"M {Ms()} {digest} read");
                }

                Count("read.missing");
            }
            catch (Exception ex) when (Transient(ex, "read"))
            {
                await Pause(20, 200).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                Unexpected("read " + digest, ex);
            }

            await Task.Delay(_rng.Next(0, 3)).ConfigureAwait(false);
        }
    }

    // ---------------------------------------------------------------- verifier
    private async Task VerifierAsync(ChunkRepository repo)
    {
        var journals = new JournalSet(_args.Journals);
        while (!_stop.IsCancellationRequested)
        {
            journals.Refresh();
            if (journals.RecordedList.Count == 0)
            {
                await Pause(200, 400).ConfigureAwait(false);
                continue;
            }

            try
            {
                var recent = journals.PublishedSince(ProtectedSinceMs);
                if (_rng.NextDouble() < 0.6 && recent.Count > 0)
                {
                    // Bulk over protected published digests only: every bad one must be explained by the corrupter.
                    var subset = Enumerable.Range(0, _rng.Next(50, 300)).Select(_ => recent[_rng.Next(recent.Count)]).Distinct().ToList();
                    var result = await repo.Maintenance.VerifyAllAsync(ToAsync(subset), 2, null, _stop.Token).ConfigureAwait(false);
                    Count("verify.bulk");
                    Count("verify.ok", result.Ok);
                    Count("verify.corrupt", result.Corrupt);
                    Count("verify.missing", result.Missing);
                    foreach (var bad in result.BadSample)
                    {
                        _journal.Line($"M {Ms()} {bad} verify-all");
                    }

                    foreach (var error in result.ErrorSample)
                    {
                        if (_args.Bucket is not null)
                        {
                            // S3: requests fail under the proxy's faults and while radosgw is down; logged, counted.
                            Count("fault.transient.verify-all");
                            Console.Error.WriteLine("verify-all error (S3 fault): " + error.ReplaceLineEndings(" "));
                        }
                        else
                        {
                            Unexpected("verify-all", new IOException(error));
                        }
                    }
                }
                else
                {
                    for (int i = 0; i < 50 && !_stop.IsCancellationRequested; i++)
                    {
                        var digest = journals.RecordedList[_rng.Next(journals.RecordedList.Count)];
                        var r = await repo.VerifyAsync(digest).ConfigureAwait(false);
                        switch (r.Status)
                        {
                            case ChunkVerifyStatus.Ok: Count("verify.ok"); break;
                            case ChunkVerifyStatus.Corrupt:
                                _journal.Line($"C {Ms()} {digest} verify");
                                Count("verify.corrupt");
                                break;
                            default:
                                if (journals.Published.Contains(digest))
                                {
                                    _journal.Line($"M {Ms()} {digest} verify");
                                }

                                Count("verify.missing");
                                break;
                        }
                    }
                }
            }
            catch (Exception ex) when (Transient(ex, "verify"))
            {
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Unexpected("verify", ex);
            }

            await Pause(100, 600).ConfigureAwait(false);
        }
    }

    private static async IAsyncEnumerable<ChunkDigest> ToAsync(List<ChunkDigest> list)
    {
        foreach (var d in list)
        {
            yield return d;
        }

        await Task.CompletedTask.ConfigureAwait(false);
    }

    // ---------------------------------------------------------------- corrupter
    private async Task CorrupterAsync(ChunkRepository repo)
    {
        // On S3 the local root mirrors the bucket (a marker or full copy per known chunk): pick from there.
        string chunks = Path.Combine(repo.Root, ".chunks");
        var bucket = _s3 is null || _args.Bucket is null ? null : new BucketView(_s3.CreateClient(), _args.Bucket);
        while (!_stop.IsCancellationRequested)
        {
            await Pause(1000, 3000).ConfigureAwait(false);
            try
            {
                var dirs = Directory.GetDirectories(chunks);
                if (dirs.Length == 0)
                {
                    continue;
                }

                var files = Directory.GetFiles(dirs[_rng.Next(dirs.Length)]).Where(p => Path.GetFileName(p).Length == 64).ToArray();
                if (files.Length == 0)
                {
                    continue;
                }

                string path = files[_rng.Next(files.Length)];
                var digest = ChunkDigest.Parse(Path.GetFileName(path));
                bool truncate = _rng.NextDouble() < 0.2;
                if (bucket is not null && (_rng.NextDouble() < 0.7 || new FileInfo(path).Length == 0))
                {
                    await CorruptObjectAsync(bucket, digest, truncate).ConfigureAwait(false);
                    continue;
                }

                // Record first, then damage: an observer that sees the damage always finds the record.
                string kind = (bucket is null ? "" : "local-") + (truncate ? "trunc" : "flip");
                _journal.Line($"X {Ms()} {digest} {kind}");
                using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
                long length = RandomAccess.GetLength(handle);
                if (length == 0)
                {
                    Count("corrupt.raced"); // an eviction turned it into a marker meanwhile
                }
                else if (truncate && length > 1)
                {
                    RandomAccess.SetLength(handle, length - 1);
                    Count("corrupt." + kind);
                }
                else
                {
                    FlipBit(handle, length);
                    Count("corrupt." + (bucket is null ? "" : "local-") + "flip");
                }
            }
            catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
            {
                Count("corrupt.raced");
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Unexpected("corrupt", ex);
            }
        }
    }

    private void FlipBit(Microsoft.Win32.SafeHandles.SafeFileHandle handle, long length)
    {
        long offset = _rng.NextInt64(length);
        var b = new byte[1];
        RandomAccess.Read(handle, b, offset);
        b[0] ^= (byte)(1 << _rng.Next(8));
        RandomAccess.Write(handle, b, offset);
    }

    /// <summary>S3: GET the object, flip a bit or drop the last byte, PUT it back (straight to the server, not through the proxy).</summary>
    private async Task CorruptObjectAsync(BucketView bucket, ChunkDigest digest, bool truncate)
    {
        string key = BucketView.Key(digest);
        _journal.Line($"X {Ms()} {digest} obj-{(truncate ? "trunc" : "flip")}");
        try
        {
            byte[]? data = await bucket.GetAsync(key, _stop.Token).ConfigureAwait(false);
            if (data is null || data.Length == 0)
            {
                Count("corrupt.raced");
                return;
            }

            if (truncate && data.Length > 1)
            {
                data = data[..^1];
            }
            else
            {
                data[_rng.Next(data.Length)] ^= (byte)(1 << _rng.Next(8));
            }

            // A PUT after a GC deleted the object brings it back without a marker: foreign garbage the next GC removes.
            await bucket.PutAsync(key, data).ConfigureAwait(false);
            Count("corrupt.obj-" + (truncate ? "trunc" : "flip"));
        }
        catch (Exception ex) when (ex is Amazon.Runtime.AmazonServiceException or HttpRequestException or IOException or System.Net.Sockets.SocketException or TaskCanceledException && !_stop.IsCancellationRequested)
        {
            Count("corrupt.server-down");
        }
    }

    // ---------------------------------------------------------------- gc
    private async Task GcAsync(ChunkRepository repo)
    {
        var journals = new JournalSet(_args.Journals);
        repo.Hooks = new HookSet
        {
            GcMarked = r =>
            {
                // The driver kills a GC it has chosen as victim right after this line: in its sweep.
                Console.Out.WriteLine("SWEEP");
                return ValueTask.CompletedTask;
            },

            // S3 only: what DeleteObjects costs on a real, remote endpoint (here it is 127.0.0.1): the queued keys'
            // locks are held meanwhile (race R2), which is what this widens.
            S3DeletingBatch = keys =>
            {
                // Journaled (for post-mortems: which collection deleted what, when), then a remote endpoint's latency.
                _journal.Line($"D {Ms()} {keys.Count} {string.Join(',', keys.Select(k => k[(k.LastIndexOf('/') + 1)..]))}");
                return new ValueTask(Task.Delay(_rng.Next(50, 400)));
            },
        };

        var options = new GarbageCollectionOptions { GracePeriod = Grace, WriterSafetyMargin = WriterMargin };
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                _journal.Line($"G {Ms()} start");

                // The referenced set is read lazily, when marking begins — after the writer scan — so a session that
                // published and unregistered before the scan is among the references (see README).
                var result = await repo.Maintenance.GarbageCollectAsync(Published(journals, _args.RetentionMs), options).ConfigureAwait(false);
                _journal.Line(FormattableString.Invariant($"E {Ms()} cutoff={result.Cutoff.ToUnixTimeMilliseconds()} refs={result.ReferencesRead} removed={result.ChunksRemoved} pending={result.ChunksPending} inuse={result.ChunksInUse} missing={result.MissingChunks} busy={result.SkippedBusy} temps={result.TemporaryFilesRemoved} bad={result.BadRemoved} deadwriters={result.DeadWritersRemoved}"));
                Count("gc.runs");
                Count("gc.removed", result.ChunksRemoved);
                Count("gc.busy", result.SkippedBusy);
                Count("gc.temps", result.TemporaryFilesRemoved);
                Count("gc.missing", result.MissingChunks);
                Count("gc.deadwriters", result.DeadWritersRemoved);
                if (result.MissingChunks > 0)
                {
                    foreach (var d in result.MissingSample)
                    {
                        _journal.Line($"M {Ms()} {d} gc-mark");
                    }
                }
            }
            catch (ChunkStorageException ex) when (ex.Kind == StorageErrorKind.DiskFull)
            {
                Count("fault.diskfull.gc");
            }
            catch (Exception ex) when (Transient(ex, "gc"))
            {
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Unexpected("gc", ex);
            }

            await Pause(200, 1200).ConfigureAwait(false);
        }
    }

    /// <summary>The referenced set: every digest of a session published within the retention (older "indexes" are forgotten, like a prune).</summary>
    private static IEnumerable<ChunkDigest> Published(JournalSet journals, long retentionMs)
    {
        // An iterator: runs only when the collection starts marking (after its writer scan).
        journals.Refresh();
        foreach (var d in journals.PublishedSince(JournalWriter.NowMs - retentionMs))
        {
            yield return d;
        }
    }
}
