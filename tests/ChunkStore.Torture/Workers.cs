using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using ChunkStore.Diagnostics;

namespace ChunkStore.Torture;

/// <summary>Settings every worker process gets on its command line.</summary>
internal sealed record WorkerArgs(string Role, string Store, string Journals, string Instance, long Seed, string? Disable)
{
    public static WorkerArgs Parse(string[] args)
    {
        string role = args[1];
        string? store = null, journals = null, instance = null, disable = null;
        long seed = 0;
        for (int i = 2; i < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--store": store = args[i + 1]; break;
                case "--journals": journals = args[i + 1]; break;
                case "--instance": instance = args[i + 1]; break;
                case "--seed": seed = long.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                case "--disable": disable = args[i + 1]; break;
                default: throw new ArgumentException("unknown worker option " + args[i]);
            }
        }

        return new WorkerArgs(role, store!, journals!, instance!, seed, disable);
    }
}

/// <summary>The worker processes: inserter, reader, verifier, corrupter, gc. Each stops cleanly when its stdin closes.</summary>
internal sealed class Worker
{
    public static readonly TimeSpan Grace = TimeSpan.FromSeconds(3);
    public static readonly TimeSpan WriterMargin = TimeSpan.FromSeconds(1);

    private readonly WorkerArgs _args;
    private readonly ConcurrentDictionary<string, long> _stats = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly Random _rng;
    private readonly JournalWriter _journal;

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

    public static void ApplyDisable(string? disable)
    {
        switch (disable)
        {
            case null: break;
            case "dedup-touch": FaultSwitches.SkipDedupTouch = true; break;
            case "writer-registry": FaultSwitches.IgnoreWriters = true; break;
            default: throw new ArgumentException("unknown protection to disable: " + disable + " (dedup-touch, writer-registry)");
        }
    }

    public static ChunkRepository OpenStore(string root) => ChunkRepository.Open(new ChunkStoreOptions
    {
        Root = root,
        SyncMode = SyncMode.Batch,
        LockTimeout = TimeSpan.FromMinutes(2),
    });

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
        await using var repo = OpenStore(_args.Store);
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
                    // Revive garbage: a chunk only an abandoned session of ours stored, now old and unreferenced.
                    int i = _rng.Next(abandoned.Count);
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
        }
    }

    // ---------------------------------------------------------------- reader
    private async Task ReaderAsync(ChunkRepository repo)
    {
        var journals = new JournalSet(_args.Journals);
        long refreshed = 0;
        while (!_stop.IsCancellationRequested)
        {
            if (Environment.TickCount64 - refreshed > 2000)
            {
                journals.Refresh();
                refreshed = Environment.TickCount64;
            }

            if (journals.RecordedList.Count == 0)
            {
                await Pause(100, 200).ConfigureAwait(false);
                continue;
            }

            bool fromPublished = journals.PublishedList.Count > 0 && _rng.NextDouble() < 0.8;
            var digest = fromPublished ? journals.PublishedList[_rng.Next(journals.PublishedList.Count)] : journals.RecordedList[_rng.Next(journals.RecordedList.Count)];
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
                if (_rng.NextDouble() < 0.6 && journals.PublishedList.Count > 0)
                {
                    // Bulk over published digests only: every bad one must be explained by the corrupter.
                    var subset = Enumerable.Range(0, _rng.Next(50, 300)).Select(_ => journals.PublishedList[_rng.Next(journals.PublishedList.Count)]).Distinct().ToList();
                    var result = await repo.VerifyAllAsync(ToAsync(subset), 2, null, _stop.Token).ConfigureAwait(false);
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
                        Unexpected("verify-all", new IOException(error));
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
        string chunks = Path.Combine(repo.Root, ".chunks");
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

                // Record first, then damage: an observer that sees the damage always finds the record.
                _journal.Line($"X {Ms()} {digest} {(truncate ? "trunc" : "flip")}");
                using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
                long length = RandomAccess.GetLength(handle);
                if (truncate && length > 1)
                {
                    RandomAccess.SetLength(handle, length - 1);
                    Count("corrupt.truncate");
                }
                else
                {
                    long offset = _rng.NextInt64(length);
                    var b = new byte[1];
                    RandomAccess.Read(handle, b, offset);
                    b[0] ^= (byte)(1 << _rng.Next(8));
                    RandomAccess.Write(handle, b, offset);
                    Count("corrupt.flip");
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

    // ---------------------------------------------------------------- gc
    private async Task GcAsync(ChunkRepository repo)
    {
        var journals = new JournalSet(_args.Journals);
        repo.GcHooks = new GcTestHooks
        {
            AfterMark = r =>
            {
                // The driver kills a GC it has chosen as victim right after this line: in its sweep.
                Console.Out.WriteLine("SWEEP");
                return ValueTask.CompletedTask;
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
                var result = await repo.GarbageCollectAsync(Published(journals), options).ConfigureAwait(false);
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
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Unexpected("gc", ex);
            }

            await Pause(200, 1200).ConfigureAwait(false);
        }
    }

    private static IEnumerable<ChunkDigest> Published(JournalSet journals)
    {
        // An iterator: runs only when the collection starts marking.
        journals.Refresh();
        foreach (var d in journals.PublishedList.ToArray())
        {
            yield return d;
        }
    }
}
