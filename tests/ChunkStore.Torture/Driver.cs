using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using ChunkStore.FileSystem;

namespace ChunkStore.Torture;

internal sealed class DriverOptions
{
    public int Seconds { get; set; } = 150;

    public long Seed { get; set; } = 42;

    public string? Dir { get; set; }

    public int Inserters { get; set; } = 3;

    public string? Disable { get; set; }

    public bool Keep { get; set; }

    public bool NoTmpfs { get; set; }
}

/// <summary>Starts the worker processes, kills and replaces them, injects disk-full, checks the invariants.</summary>
internal sealed class Driver
{
    private const int LockStripes = 64;
    private const int TmpfsMegabytes = 1024;

    private readonly DriverOptions _o;
    private readonly Random _rng;
    private readonly List<WorkerProcess> _workers = [];
    private readonly List<WorkerProcess> _finished = [];
    private readonly ConcurrentQueue<string> _unexpected = new();
    private readonly Dictionary<string, (double At, string Detail)> _violations = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _crashes = new(StringComparer.Ordinal);
    private readonly Stopwatch _clock = new();
    private int _nextInstance;
    private int _observationsChecked;
    private int _diskFullPhases;
    private long _ballastBytes;
    private volatile bool _gcKillPending;
    private string _dir = "";
    private string _mnt = "";
    private string _store = "";
    private string _journals = "";
    private string _logs = "";

    public Driver(DriverOptions options)
    {
        _o = options;
        _rng = new Random((int)(options.Seed ^ (options.Seed >> 32)));
    }

    public async Task<int> RunAsync()
    {
        _dir = _o.Dir ?? Path.Combine(Path.GetTempPath(), FormattableString.Invariant($"chunkstore-torture-{_o.Seed}-{Environment.ProcessId}"));
        _mnt = Path.Combine(_dir, "mnt");
        _journals = Path.Combine(_dir, "journals");
        _logs = Path.Combine(_dir, "logs");
        Directory.CreateDirectory(_mnt);
        Directory.CreateDirectory(_journals);
        Directory.CreateDirectory(_logs);
        bool mounted = !_o.NoTmpfs && Mount();
        if (!mounted)
        {
            Console.WriteLine($"torture: no tmpfs ({(Environment.IsPrivilegedProcess ? "mount failed or --no-tmpfs" : "not root")}): running WITHOUT the disk-full phase");
        }

        _store = Path.Combine(_mnt, "store");
        ChunkRepository.Create(new ChunkStoreOptions { Root = _store, LockStripes = LockStripes, SyncMode = SyncMode.Batch }).Dispose();
        Console.WriteLine($"torture: seed={_o.Seed} seconds={_o.Seconds} inserters={_o.Inserters} disable={_o.Disable ?? "none"} dir={_dir} tmpfs={(mounted ? TmpfsMegabytes + "M" : "no")}");

        _clock.Start();
        for (int i = 0; i < _o.Inserters; i++)
        {
            Start("inserter");
        }

        Start("gc");
        Start("reader");
        Start("reader");
        Start("verifier");
        Start("corrupter");

        var deadline = TimeSpan.FromSeconds(_o.Seconds);
        var nextCrash = TimeSpan.FromSeconds(_rng.Next(2, 6));
        var nextCheck = TimeSpan.FromSeconds(5);
        var gcKillDeadline = TimeSpan.MaxValue;
        var diskFullStart = TimeSpan.FromSeconds(_o.Seconds * 0.45);
        var diskFullEnd = diskFullStart + TimeSpan.FromSeconds(12);
        bool diskFullOn = false;
        var journals = new JournalSet(_journals);
        while (_clock.Elapsed < deadline)
        {
            await Task.Delay(200).ConfigureAwait(false);
            var now = _clock.Elapsed;
            ReplaceExited();

            if (now >= nextCrash)
            {
                double r = _rng.NextDouble();
                if (r < 0.3)
                {
                    _gcKillPending = true; // killed right after it reports the start of its sweep
                    gcKillDeadline = now + TimeSpan.FromSeconds(8);
                }
                else
                {
                    string role = r < 0.7 ? "inserter" : new[] { "reader", "verifier", "corrupter" }[_rng.Next(3)];
                    var victims = _workers.Where(w => w.Role == role && !w.Killed).ToList();
                    if (victims.Count > 0)
                    {
                        Kill(victims[_rng.Next(victims.Count)], role);
                    }
                }

                nextCrash = now + TimeSpan.FromMilliseconds(_rng.Next(2000, 6000));
            }

            if (_gcKillPending && now > gcKillDeadline)
            {
                _gcKillPending = false;
                foreach (var gc in _workers.Where(w => w.Role == "gc" && !w.Killed))
                {
                    Kill(gc, "gc-outside-sweep");
                }
            }

            if (mounted && _o.Seconds >= 40)
            {
                if (!diskFullOn && now >= diskFullStart && now < diskFullEnd)
                {
                    diskFullOn = true;
                    _diskFullPhases++;
                    Console.WriteLine(FormattableString.Invariant($"torture: t={now.TotalSeconds:F0}s disk-full phase begins"));
                }

                if (diskFullOn)
                {
                    FillBallast();
                }

                if (diskFullOn && now >= diskFullEnd)
                {
                    diskFullOn = false;
                    RemoveBallast();
                    Console.WriteLine(FormattableString.Invariant($"torture: t={now.TotalSeconds:F0}s disk-full phase ends (ballast peak {_ballastBytes >> 20} MiB)"));
                }
            }

            if (now >= nextCheck)
            {
                Check(journals, final: false, finalCutoff: null);
                Console.WriteLine(FormattableString.Invariant($"torture: t={now.TotalSeconds:F0}s published={journals.Published.Count} recorded={journals.Recorded.Count} corrupted={journals.Corrupted.Count} crashes={_crashes.Values.Sum()} violations={_violations.Count}"));
                nextCheck = now + TimeSpan.FromSeconds(5);
            }
        }

        RemoveBallast();
        await StopAllAsync().ConfigureAwait(false);

        // Final: one collection with every published digest, then every check.
        GarbageCollectionResult? final = null;
        await using (var repo = Worker.OpenStore(_store))
        {
            try
            {
                var j = new JournalSet(_journals);
                j.Refresh();
                final = await repo.GarbageCollectAsync(j.PublishedList.ToArray(), new GarbageCollectionOptions { GracePeriod = Worker.Grace, WriterSafetyMargin = Worker.WriterMargin }).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                Violation("final-gc-failed", ex.GetType().Name + ": " + ex.Message);
            }
        }

        Check(journals, final: true, finalCutoff: final?.Cutoff);
        foreach (var line in _unexpected)
        {
            Violation("unexpected-error:" + line, line);
        }

        PrintSummary(journals, final, mounted);
        if (!_o.Keep)
        {
            if (mounted)
            {
                Run("umount", _mnt);
            }

            if (_violations.Count == 0)
            {
                Directory.Delete(_dir, recursive: true);
            }
            else
            {
                Console.WriteLine($"torture: journals and worker logs kept in {_dir}");
            }
        }

        return _violations.Count == 0 ? 0 : 1;
    }

    private bool Mount()
    {
        if (!Environment.IsPrivilegedProcess)
        {
            return false;
        }

        return Run("mount", "-t", "tmpfs", "-o", FormattableString.Invariant($"size={TmpfsMegabytes}m"), "tmpfs", _mnt) == 0;
    }

    private static int Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        p.WaitForExit();
        return p.ExitCode;
    }

    // ------------------------------------------------------------------ workers
    private void Start(string role)
    {
        string instance = FormattableString.Invariant($"{role}-{_nextInstance++}");
        string dll = typeof(Driver).Assembly.Location;
        string host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH")
            ?? (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet" ? Environment.ProcessPath! : "dotnet");
        var psi = new ProcessStartInfo(host)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in new[] { dll, "worker", role, "--store", _store, "--journals", _journals, "--instance", instance, "--seed", _o.Seed.ToString(CultureInfo.InvariantCulture) })
        {
            psi.ArgumentList.Add(a);
        }

        if (_o.Disable is not null)
        {
            psi.ArgumentList.Add("--disable");
            psi.ArgumentList.Add(_o.Disable);
        }

        var w = new WorkerProcess(role, instance, Path.Combine(_logs, instance + ".err"));
        w.Process = Process.Start(psi)!;
        w.Process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            if (e.Data == "SWEEP" && role == "gc" && _gcKillPending)
            {
                _gcKillPending = false;
                int delay;
                lock (_rng)
                {
                    delay = _rng.Next(0, 25);
                }

                _ = Task.Run(async () =>
                {
                    await Task.Delay(delay).ConfigureAwait(false);
                    lock (_workers)
                    {
                        Kill(w, "gc-in-sweep");
                    }
                });
            }
            else if (e.Data.StartsWith("STATS", StringComparison.Ordinal))
            {
                var stats = new Dictionary<string, long>(StringComparer.Ordinal);
                foreach (var kv in e.Data.Split(' ').Skip(1))
                {
                    int eq = kv.IndexOf('=', StringComparison.Ordinal);
                    stats[kv[..eq]] = long.Parse(kv[(eq + 1)..], CultureInfo.InvariantCulture);
                }

                w.Stats = stats;
            }
        };
        w.Process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            lock (w)
            {
                File.AppendAllText(w.ErrorLog, e.Data + "\n");
            }

            if (e.Data.StartsWith("UNEXPECTED", StringComparison.Ordinal))
            {
                _unexpected.Enqueue(e.Data);
            }
        };
        w.Process.BeginOutputReadLine();
        w.Process.BeginErrorReadLine();
        lock (_workers)
        {
            _workers.Add(w);
        }
    }

    private void Kill(WorkerProcess w, string kind)
    {
        if (w.Killed || w.Stopping)
        {
            return;
        }

        w.Killed = true;
        try
        {
            w.Process.Kill(); // SIGKILL
            lock (_crashes)
            {
                _crashes[kind] = _crashes.GetValueOrDefault(kind) + 1;
            }
        }
        catch (InvalidOperationException)
        {
        }
    }

    private void ReplaceExited()
    {
        List<WorkerProcess> exited;
        lock (_workers)
        {
            exited = _workers.Where(w => w.Process.HasExited).ToList();
            foreach (var w in exited)
            {
                _workers.Remove(w);
                _finished.Add(w);
            }
        }

        foreach (var w in exited)
        {
            w.Process.WaitForExit();
            if (!w.Killed)
            {
                Violation("worker-died:" + w.Instance, $"{w.Instance} exited with code {w.Process.ExitCode} without being killed; see {w.ErrorLog}");
            }

            Start(w.Role);
        }
    }

    private async Task StopAllAsync()
    {
        ReplaceExited();
        List<WorkerProcess> all;
        lock (_workers)
        {
            all = [.. _workers];
            foreach (var w in all)
            {
                w.Stopping = true;
            }
        }

        foreach (var w in all)
        {
            try
            {
                w.Process.StandardInput.Close();
            }
            catch (IOException)
            {
            }
        }

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(25));
        foreach (var w in all)
        {
            try
            {
                await w.Process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
                if (w.Process.ExitCode != 0 && !w.Killed)
                {
                    Violation("worker-failed:" + w.Instance, $"{w.Instance} exited with code {w.Process.ExitCode}; see {w.ErrorLog}");
                }
            }
            catch (OperationCanceledException)
            {
                w.Process.Kill();
                Violation("worker-hung:" + w.Instance, $"{w.Instance} did not stop within 25 s of its stop request");
            }

            w.Process.WaitForExit();
        }

        lock (_workers)
        {
            _finished.AddRange(all);
            _workers.Clear();
        }
    }

    // ------------------------------------------------------------------ disk full
    private void FillBallast()
    {
        long avail = new DriveInfo(_mnt).AvailableFreeSpace;
        long want = avail - (32 * 1024);
        if (want < 256 * 1024)
        {
            return;
        }

        string path = Path.Combine(_mnt, FormattableString.Invariant($"ballast-{Guid.NewGuid():N}"));
        // tmpfs refuses a fallocate of nearly all free space; back off geometrically, later ticks top up the rest.
        for (int attempt = 0; attempt < 6 && want >= 256 * 1024; attempt++, want /= 2)
        {
            try
            {
                using (File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, FileOptions.None, want))
                {
                }

                _ballastBytes += want;
                return;
            }
            catch (IOException)
            {
                File.Delete(path);
            }
        }
    }

    private void RemoveBallast()
    {
        foreach (var f in Directory.GetFiles(_mnt, "ballast-*"))
        {
            File.Delete(f);
        }
    }

    // ------------------------------------------------------------------ invariants
    private void Violation(string key, string detail)
    {
        lock (_violations)
        {
            if (_violations.TryAdd(key, (_clock.Elapsed.TotalSeconds, detail)) && _violations.Count <= 10)
            {
                Console.WriteLine(FormattableString.Invariant($"torture: VIOLATION at t={_clock.Elapsed.TotalSeconds:F1}s: {detail}"));
            }
        }
    }

    private void Check(JournalSet journals, bool final, DateTimeOffset? finalCutoff)
    {
        var layout = new ChunkLayout(_store);
        journals.Refresh();
        var published = journals.PublishedList.ToArray();
        var suspects = new List<(ChunkDigest Digest, string What)>();
        foreach (var d in published)
        {
            try
            {
                byte[] bytes = File.ReadAllBytes(layout.ChunkPath(d));
                if (new ChunkDigest(SHA256.HashData(bytes)) != d)
                {
                    suspects.Add((d, "corrupt"));
                }
            }
            catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
            {
                suspects.Add((d, "missing"));
            }
        }

        // Corrupter records are written before the damage: re-read after looking at the files.
        journals.Refresh();
        foreach (var (d, what) in suspects)
        {
            if (!journals.Corrupted.ContainsKey(d))
            {
                var rec = journals.Recorded.GetValueOrDefault(d);
                Violation("published-" + what + ":" + d, $"published chunk {d} (key {rec.Key}, recorded {Age(rec.Ms)}) is {what} and the corrupter never touched it");
            }
        }

        for (; _observationsChecked < journals.Observations.Count; _observationsChecked++)
        {
            var (kind, d, ms, source) = journals.Observations[_observationsChecked];
            if (!journals.Corrupted.TryGetValue(d, out long hit) || hit > ms)
            {
                string what = kind == 'C' ? "seen corrupt" : "seen missing although published";
                Violation($"observed-{kind}:{d}", $"{source}: chunk {d} {what} at {Age(ms)} without a prior corrupter hit");
            }
        }

        // Lock files bounded by the stripe count.
        string locks = Path.Combine(_store, ".locks");
        int lockFiles = Directory.Exists(locks) ? Directory.GetFiles(locks, "*", SearchOption.AllDirectories).Length : 0;
        if (lockFiles > LockStripes)
        {
            Violation("lock-files", $"{lockFiles} lock files > {LockStripes} stripes");
        }

        // Every name in .chunks parses (the GC's atime probe may exist while a GC runs, or after one was killed).
        string chunks = Path.Combine(_store, ".chunks");
        foreach (var top in Directory.EnumerateFileSystemEntries(chunks))
        {
            string name = Path.GetFileName(top);
            if (ChunkLayout.IsPrefixName(name) && Directory.Exists(top))
            {
                foreach (var entry in Directory.EnumerateFileSystemEntries(top))
                {
                    if (!ChunkEntryName.TryParse(Path.GetFileName(entry.AsSpan()), out var parsed))
                    {
                        Violation("unparseable:" + entry, "unparseable entry " + entry);
                        continue;
                    }

                    if (!final)
                    {
                        continue;
                    }

                    if (parsed.Kind == ChunkEntryKind.Chunk)
                    {
                        byte[] bytes = File.ReadAllBytes(entry);
                        if (new ChunkDigest(SHA256.HashData(bytes)) != parsed.Digest && !journals.Corrupted.ContainsKey(parsed.Digest))
                        {
                            Violation("bad-final-file:" + parsed.Digest, $"{entry} ({bytes.Length} bytes) does not hash to its name and the corrupter never touched it (partial file under a final name?)");
                        }
                    }
                    else if (parsed.Kind == ChunkEntryKind.Temporary && finalCutoff is { } cutoff && File.GetLastWriteTimeUtc(entry) < cutoff.UtcDateTime)
                    {
                        Violation("stale-temp:" + entry, $"temporary file {entry} from {File.GetLastWriteTimeUtc(entry):O} is older than the final GC's cutoff {cutoff:O} but was not removed");
                    }
                    else if (parsed.Kind == ChunkEntryKind.Using)
                    {
                        Violation("using:" + entry, "a .using marker in a filesystem store: " + entry);
                    }
                }
            }
            else if (final || name != ".gc-atime-probe")
            {
                Violation("unparseable:" + top, "unexpected entry in .chunks: " + top);
            }
        }

        if (!final)
        {
            return;
        }

        string writers = Path.Combine(_store, ".writers");
        foreach (var entry in Directory.GetFiles(writers))
        {
            string name = Path.GetFileName(entry);
            if (name.EndsWith(".writer", StringComparison.Ordinal))
            {
                Violation("writer-left:" + name, $"writer entry {name} left after every worker ended and a final GC ran");
            }
            else if (!name.StartsWith(".tmp-", StringComparison.Ordinal) || File.GetLastWriteTimeUtc(entry) < DateTime.UtcNow.AddMinutes(-1))
            {
                Violation("writer-junk:" + name, $"leftover in .writers: {name}");
            }
        }

        var allowed = new HashSet<string>(StringComparer.Ordinal) { ".chunkstore.json", ".chunks", ".locks", ".writers", ".gc.lock", ".gc-status" };
        foreach (var entry in Directory.EnumerateFileSystemEntries(_store))
        {
            if (!allowed.Contains(Path.GetFileName(entry)))
            {
                Violation("root-leftover:" + Path.GetFileName(entry), "leftover in the store root: " + entry);
            }
        }
    }

    private string Age(long ms) =>
        ms == 0 ? "never" : FormattableString.Invariant($"t={(DateTimeOffset.FromUnixTimeMilliseconds(ms) - (DateTimeOffset.UtcNow - _clock.Elapsed)).TotalSeconds:F1}s");

    private void PrintSummary(JournalSet journals, GarbageCollectionResult? final, bool mounted)
    {
        var totals = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var w in _finished)
        {
            foreach (var (k, v) in w.Stats)
            {
                totals[k] = totals.GetValueOrDefault(k) + v;
            }
        }

        long faults = totals.Where(kv => kv.Key.StartsWith("fault.", StringComparison.Ordinal)).Sum(kv => kv.Value);
        string ops = string.Join(' ', totals.Where(kv => !kv.Key.StartsWith("fault.", StringComparison.Ordinal)).Select(kv => $"{kv.Key}={kv.Value}"));
        string faultDetail = string.Join(' ', totals.Where(kv => kv.Key.StartsWith("fault.", StringComparison.Ordinal)).Select(kv => $"{kv.Key}={kv.Value}"));
        string crashes = string.Join(' ', _crashes.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}"));
        if (final is not null)
        {
            Console.WriteLine(FormattableString.Invariant($"torture: final GC: refs={final.ReferencesRead} removed={final.ChunksRemoved} inuse={final.ChunksInUse} pending={final.ChunksPending} missing={final.MissingChunks} temps={final.TemporaryFilesRemoved} bad-kept={final.BadKept} dead-writers={final.DeadWritersRemoved}"));
        }

        foreach (var (key, (at, detail)) in _violations.OrderBy(v => v.Value.At).Take(25))
        {
            Console.WriteLine(FormattableString.Invariant($"torture: violation t={at:F1}s {detail}"));
        }

        string first = _violations.Count == 0 ? "-" : FormattableString.Invariant($"{_violations.Values.Min(v => v.At):F1}s");
        Console.WriteLine(FormattableString.Invariant(
            $"TORTURE SUMMARY seed={_o.Seed} seconds={_o.Seconds} disable={_o.Disable ?? "none"} | ops: {ops} published-sessions={journals.PublishedSessions} published-chunks={journals.Published.Count} | crashes={_crashes.Values.Sum()} ({crashes}) | faults={faults} (diskfull-phases={_diskFullPhases}{(mounted ? "" : " [no tmpfs: disk-full phase skipped]")} {faultDetail}) | corruptions={journals.Corrupted.Count} | violations={_violations.Count} first-at={first} | replay: --seed {_o.Seed} --seconds {_o.Seconds}{(_o.Disable is null ? "" : " --disable " + _o.Disable)}"));
    }

    private sealed class WorkerProcess(string role, string instance, string errorLog)
    {
        public string Role { get; } = role;

        public string Instance { get; } = instance;

        public string ErrorLog { get; } = errorLog;

        public Process Process { get; set; } = null!;

        public volatile bool Killed;

        public volatile bool Stopping;

        public Dictionary<string, long> Stats { get; set; } = [];
    }
}
