using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;

namespace ChunkStore.TestHost;

/// <summary>
/// A second process for the multi-process tests. Each command opens an existing store, does one thing and talks
/// to the test over a line protocol: it writes one status line per event on stdout (flushed at once) and waits
/// for commands on stdin where it has to hold something. End of stdin means "the test is gone": the host then
/// exits, so no child outlives a crashed test run.
/// </summary>
/// <remarks>
/// <para>Commands and their lines (timestamps are <see cref="DateTime.UtcNow"/> ticks, comparable across
/// processes of one host):</para>
/// <list type="bullet">
/// <item><c>hold-lock ROOT DIGEST [--try]</c>: <c>LOCKED</c> (or <c>BUSY</c>, exit 1); on stdin <c>release</c>:
/// <c>RELEASING ticks</c>, release, <c>RELEASED</c>, exit 0.</item>
/// <item><c>acquire ROOT DIGEST TIMEOUT_MS</c> (-1 = infinite): <c>WAITING</c>, then <c>ACQUIRED elapsed-ms ticks</c> (exit 0,
/// releasing on exit) or <c>TIMEOUT elapsed-ms</c> (exit 2).</item>
/// <item><c>writer ROOT</c>: <c>STARTED start-unix-ms pid</c>; on stdin <c>end</c>: complete, <c>ENDED</c>, exit 0.</item>
/// <item><c>insert-loop ROOT SEED SECONDS REPORT_FILE [--size N] [--paced]</c>: inside one write session inserts and
/// touches chunks of the working set SEED for SECONDS (at random as fast as it can, or with <c>--paced</c> each chunk
/// once, spread over the time), appending <c>digest ticks new|dup|touch</c> for every chunk the
/// store reported present; then <c>DONE count</c> and waits for <c>end</c> (the session stays live until
/// then), completes the session, <c>ENDED</c>.</item>
/// <item><c>gc ROOT GRACE_SECONDS [--referenced-file F] [--loop N] [--seconds S] [--margin-ms M]</c>: <c>READY</c>,
/// then one JSON line per collection; exit 4 with <c>IN-PROGRESS</c> when another collection runs.</item>
/// <item><c>gc-hold ROOT</c>: starts a collection whose reference list blocks: <c>MARKING</c>, then on any stdin
/// line the list ends and the collection finishes: one JSON line, exit 0.</item>
/// <item><c>probe ROOT OP...</c> with OP one of <c>open</c>, <c>open-or-create</c>, <c>create</c>, <c>list</c>,
/// <c>verify-all</c>, <c>gc</c> (the last three on the opened store; gc with nothing referenced and the default grace):
/// one line per OP, <c>OP OK detail</c> or <c>OP FAIL exception-type storage-kind message</c> (kind <c>-</c> when the
/// exception is not a <c>ChunkStorageException</c>); then <c>DONE</c>, exit 0.</item>
/// <item><c>create-race BASE ROUNDS create|open-or-create</c>: warms up on a scratch store, <c>READY</c>; on stdin
/// <c>go TICKS INTERVAL_MS</c> calls <c>Create</c> or <c>OpenOrCreate</c> on <c>BASE-r</c> for each round r at
/// <c>TICKS + r × INTERVAL_MS</c> (spinning to that instant, so that every process calls at once) and prints
/// <c>ROUND r OK digest</c> (it got a store and inserted a chunk of its own, whose digest follows), <c>ROUND r EXISTS</c>
/// (<c>StoreAlreadyExistsException</c>) or <c>ROUND r ERROR type message</c>; then <c>DONE</c>, exit 0.</item>
/// </list>
/// </remarks>
internal static class Program
{
    private const int ExitBusy = 1;
    private const int ExitTimeout = 2;
    private const int ExitGcInProgress = 4;
    private const int ExitUsage = 64;
    private const int ExitError = 70;

    public static async Task<int> Main(string[] args)
    {
        if (args.Length < 2)
        {
            return Usage("missing command or store root");
        }

        try
        {
            return args[0] switch
            {
                "hold-lock" => await HoldLockAsync(args),
                "acquire" => await AcquireAsync(args),
                "writer" => await WriterAsync(args),
                "insert-loop" => await InsertLoopAsync(args),
                "gc" => await GcAsync(args),
                "gc-hold" => await GcHoldAsync(args),
                "create-race" => await CreateRaceAsync(args),
                "probe" => await ProbeAsync(args),
                _ => Usage($"unknown command {args[0]}"),
            };
        }
        catch (GarbageCollectionInProgressException ex)
        {
            Say("IN-PROGRESS");
            Console.Error.WriteLine(ex.Message);
            return ExitGcInProgress;
        }
        catch (Exception ex)
        {
            Say("ERROR " + ex.GetType().Name);
            Console.Error.WriteLine(ex);
            return ExitError;
        }
    }

    private static async Task<int> HoldLockAsync(string[] args)
    {
        using var repo = Open(args[1]);
        var digest = ChunkDigest.Parse(args[2]);
        bool tryOnly = args.Contains("--try");
        var chunkLock = tryOnly ? repo.Locks.TryAcquire(digest) : await repo.Locks.AcquireAsync(digest, TimeSpan.FromHours(1));
        if (chunkLock is null)
        {
            Say("BUSY");
            return ExitBusy;
        }

        Say("LOCKED");
        if (!await WaitForLineAsync("release"))
        {
            return 0; // The test is gone; exiting releases the lock.
        }

        Say("RELEASING " + Ticks());
        chunkLock.Dispose();
        Say("RELEASED");
        return 0;
    }

    private static async Task<int> AcquireAsync(string[] args)
    {
        using var repo = Open(args[1]);
        var digest = ChunkDigest.Parse(args[2]);
        var timeout = TimeSpan.FromMilliseconds(int.Parse(args[3], CultureInfo.InvariantCulture));
        Say("WAITING");
        var watch = Stopwatch.StartNew();
        try
        {
            using var chunkLock = await repo.Locks.AcquireAsync(digest, timeout);
            long ticks = Ticks();
            Say(FormattableString.Invariant($"ACQUIRED {watch.ElapsedMilliseconds} {ticks}"));
            return 0;
        }
        catch (ChunkLockTimeoutException)
        {
            Say(FormattableString.Invariant($"TIMEOUT {watch.ElapsedMilliseconds}"));
            return ExitTimeout;
        }
    }

    private static async Task<int> WriterAsync(string[] args)
    {
        using var repo = Open(args[1]);
        var session = await repo.BeginWriteSessionAsync();
        Say(FormattableString.Invariant($"STARTED {session.StartTime.ToUnixTimeMilliseconds()} {Environment.ProcessId}"));
        if (!await WaitForLineAsync("end"))
        {
            return 0;
        }

        await session.CompleteAsync();
        await session.DisposeAsync(); // completing keeps the session registered until the index is published
        Say("ENDED");
        return 0;
    }

    private static async Task<int> InsertLoopAsync(string[] args)
    {
        using var repo = Open(args[1]);
        int seed = int.Parse(args[2], CultureInfo.InvariantCulture);
        double seconds = double.Parse(args[3], CultureInfo.InvariantCulture);
        string reportFile = args[4];
        int size = int.Parse(Option(args, "--size") ?? "400", CultureInfo.InvariantCulture);

        var chunks = new byte[size][];
        var digests = new ChunkDigest[size];
        for (int i = 0; i < size; i++)
        {
            chunks[i] = WorkingSet.Chunk(seed, i);
            digests[i] = ChunkDigest.Compute(chunks[i]);
        }

        await using var report = new StreamWriter(new FileStream(reportFile, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
        var random = new Random(seed);
        var session = await repo.BeginWriteSessionAsync();
        Say(FormattableString.Invariant($"STARTED {session.StartTime.ToUnixTimeMilliseconds()} {Environment.ProcessId}"));
        var watch = Stopwatch.StartNew();
        long count = 0;
        bool paced = args.Contains("--paced");
        if (paced)
        {
            count = await InsertPacedAsync(session, chunks, digests, random, seconds, report);
        }

        while (!paced && watch.Elapsed.TotalSeconds < seconds)
        {
            int i = random.Next(size);
            if (random.Next(10) < 7)
            {
                var result = await session.InsertAsync(chunks[i]);
                if (result.Digest != digests[i])
                {
                    throw new InvalidOperationException($"insert of chunk {i} reported digest {result.Digest}, expected {digests[i]}");
                }

                await report.WriteLineAsync(FormattableString.Invariant($"{result.Digest} {Ticks()} {(result.IsNew ? "new" : "dup")}"));
                count++;
            }
            else if (await session.TouchAsync(digests[i]))
            {
                await report.WriteLineAsync(FormattableString.Invariant($"{digests[i]} {Ticks()} touch"));
                count++;
            }
        }

        Say(FormattableString.Invariant($"DONE {count}"));
        if (!await WaitForLineAsync("end"))
        {
            return 0;
        }

        await session.CompleteAsync();
        await session.DisposeAsync(); // completing keeps the session registered until the index is published
        Say("ENDED");
        return 0;
    }

    /// <summary>
    /// Stores each working-set chunk once, in a seeded random order, spread evenly over <paramref name="seconds"/>
    /// (a touch first for 30 % of them, an insert when the touch finds nothing). A chunk stored early is then not
    /// touched again for seconds: only the writer registry protects it from a collection with a short grace.
    /// </summary>
    private static async Task<long> InsertPacedAsync(WriteSession session, byte[][] chunks, ChunkDigest[] digests, Random random, double seconds, StreamWriter report)
    {
        int[] order = Enumerable.Range(0, chunks.Length).ToArray();
        random.Shuffle(order);
        var watch = Stopwatch.StartNew();
        long count = 0;
        for (int step = 0; step < order.Length; step++)
        {
            var due = TimeSpan.FromSeconds(seconds * step / order.Length);
            if (due > watch.Elapsed)
            {
                await Task.Delay(due - watch.Elapsed);
            }

            int i = order[step];
            if (random.Next(10) < 3 && await session.TouchAsync(digests[i]))
            {
                await report.WriteLineAsync(FormattableString.Invariant($"{digests[i]} {Ticks()} touch"));
            }
            else
            {
                var result = await session.InsertAsync(chunks[i]);
                await report.WriteLineAsync(FormattableString.Invariant($"{result.Digest} {Ticks()} {(result.IsNew ? "new" : "dup")}"));
            }

            count++;
        }

        return count;
    }

    private static async Task<int> GcAsync(string[] args)
    {
        using var repo = Open(args[1]);
        var options = new GarbageCollectionOptions
        {
            GracePeriod = TimeSpan.FromSeconds(double.Parse(args[2], CultureInfo.InvariantCulture)),
            WriterSafetyMargin = TimeSpan.FromMilliseconds(int.Parse(Option(args, "--margin-ms") ?? "1000", CultureInfo.InvariantCulture)),
        };
        string? referencedFile = Option(args, "--referenced-file");
        int loops = int.Parse(Option(args, "--loop") ?? "1", CultureInfo.InvariantCulture);
        double seconds = double.Parse(Option(args, "--seconds") ?? "1e9", CultureInfo.InvariantCulture);
        Say("READY");
        var watch = Stopwatch.StartNew();
        for (int run = 1; run <= loops && (run == 1 || watch.Elapsed.TotalSeconds < seconds); run++)
        {
            var referenced = referencedFile is null
                ? []
                : File.ReadLines(referencedFile).Where(l => l.Length > 0).Select(l => ChunkDigest.Parse(l.Trim()));
            var result = await repo.Maintenance.GarbageCollectAsync(referenced, options);
            Say(ToJson(run, result));
        }

        return 0;
    }

    private static async Task<int> GcHoldAsync(string[] args)
    {
        using var repo = Open(args[1]);
        var result = await repo.Maintenance.GarbageCollectAsync(BlockingReferences(), new GarbageCollectionOptions { GracePeriod = TimeSpan.FromDays(1) });
        Say(ToJson(1, result));
        return 0;
    }

    private static async IAsyncEnumerable<ChunkDigest> BlockingReferences([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        Say("MARKING");
        await Console.In.ReadLineAsync(cancellationToken);
        yield break;
    }

    private static async Task<int> ProbeAsync(string[] args)
    {
        var options = new ChunkStoreOptions { Root = args[1] };
        foreach (string op in args.Skip(2))
        {
            try
            {
                string detail;
                switch (op)
                {
                    case "open" or "open-or-create" or "create":
                        using (var repo = op == "open" ? ChunkRepository.Open(options) : op == "create" ? ChunkRepository.Create(options) : ChunkRepository.OpenOrCreate(options))
                        {
                            detail = repo.Root;
                        }

                        break;
                    case "list":
                        using (var repo = ChunkRepository.Open(options))
                        {
                            long n = 0;
                            await foreach (var _ in repo.ListAsync())
                            {
                                n++;
                            }

                            detail = n.ToString(CultureInfo.InvariantCulture);
                        }

                        break;
                    case "verify-all":
                        using (var repo = ChunkRepository.Open(options))
                        {
                            var r = await repo.Maintenance.VerifyAllAsync();
                            detail = FormattableString.Invariant($"checked {r.Checked} ok {r.Ok}");
                        }

                        break;
                    case "gc":
                        using (var repo = ChunkRepository.Open(options))
                        {
                            var r = await repo.Maintenance.GarbageCollectAsync([]);
                            detail = FormattableString.Invariant($"removed {r.ChunksRemoved}");
                        }

                        break;
                    default:
                        return Usage($"unknown probe {op}");
                }

                Say($"{op} OK {detail}");
            }
            catch (Exception ex)
            {
                string kind = ex is ChunkStorageException storage ? storage.Kind.ToString() : "-";
                Say($"{op} FAIL {ex.GetType().Name} {kind} {ex.Message}");
            }
        }

        Say("DONE");
        return 0;
    }

    private static async Task<int> CreateRaceAsync(string[] args)
    {
        string baseRoot = args[1];
        int rounds = int.Parse(args[2], CultureInfo.InvariantCulture);
        Func<ChunkStoreOptions, ChunkRepository> open = args[3] == "create" ? ChunkRepository.Create : ChunkRepository.OpenOrCreate;

        // Warm up (JIT, file system caches) so that the timed calls below are as close together as the processes are.
        string scratch = $"{baseRoot}-warmup-{Environment.ProcessId}";
        using (var warm = ChunkRepository.OpenOrCreate(new ChunkStoreOptions { Root = scratch }))
        {
            await warm.InsertAsync(new byte[] { 1 });
        }

        Directory.Delete(scratch, recursive: true);
        Say("READY");
        string[] go = ((await Console.In.ReadLineAsync()) ?? "").Split(' ');
        if (go.Length != 3 || go[0] != "go")
        {
            return Usage("create-race expects 'go TICKS INTERVAL_MS' on stdin");
        }

        long start = long.Parse(go[1], CultureInfo.InvariantCulture);
        long interval = TimeSpan.FromMilliseconds(int.Parse(go[2], CultureInfo.InvariantCulture)).Ticks;
        for (int round = 0; round < rounds; round++)
        {
            while (Ticks() < start + (round * interval))
            {
                Thread.SpinWait(20);
            }

            string root = FormattableString.Invariant($"{baseRoot}-{round}");
            try
            {
                using var repo = open(new ChunkStoreOptions { Root = root });
                var inserted = await repo.InsertAsync(System.Text.Encoding.UTF8.GetBytes(FormattableString.Invariant($"{root} process {Environment.ProcessId}")));
                Say(FormattableString.Invariant($"ROUND {round} OK {inserted.Digest}"));
            }
            catch (StoreAlreadyExistsException)
            {
                Say(FormattableString.Invariant($"ROUND {round} EXISTS"));
            }
            catch (ChunkStoreException ex)
            {
                Say(FormattableString.Invariant($"ROUND {round} ERROR {ex.GetType().Name} {ex.Message}"));
            }
        }

        Say("DONE");
        return 0;
    }

    private static string ToJson(int run, GarbageCollectionResult r) => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["run"] = run,
        ["completed"] = r.Completed,
        ["removed"] = r.ChunksRemoved,
        ["pending"] = r.ChunksPending,
        ["inUse"] = r.ChunksInUse,
        ["marked"] = r.ChunksMarked,
        ["missing"] = r.MissingChunks,
        ["skippedBusy"] = r.SkippedBusy,
        ["tempRemoved"] = r.TemporaryFilesRemoved,
        ["deadWritersRemoved"] = r.DeadWritersRemoved,
        ["startedAtMs"] = r.StartedAt.ToUnixTimeMilliseconds(),
        ["oldestWriterMs"] = r.OldestWriter.ToUnixTimeMilliseconds(),
        ["cutoffMs"] = r.Cutoff.ToUnixTimeMilliseconds(),
    });

    private static ChunkRepository Open(string root) => ChunkRepository.Open(new ChunkStoreOptions { Root = root });

    private static long Ticks() => DateTime.UtcNow.Ticks;

    private static string? Option(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    /// <summary>Reads stdin until <paramref name="command"/>; false at end of input.</summary>
    private static async Task<bool> WaitForLineAsync(string command)
    {
        while (await Console.In.ReadLineAsync() is { } line)
        {
            if (line.Trim() == command)
            {
                return true;
            }
        }

        return false;
    }

    private static void Say(string line)
    {
        Console.Out.WriteLine(line);
        Console.Out.Flush();
    }

    private static int Usage(string problem)
    {
        Console.Error.WriteLine($"ChunkStore.TestHost: {problem}. See the remarks of Program in tests/ChunkStore.TestHost/Program.cs.");
        return ExitUsage;
    }
}
