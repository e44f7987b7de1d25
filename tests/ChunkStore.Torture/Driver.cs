using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Amazon.Runtime;
using ChunkStore.FileSystem;
using ChunkStore.Tests.Infrastructure;

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

    /// <summary>Gets or sets the backend: <c>fs</c> (default) or <c>s3</c> (the server from <c>CHUNKSTORE_S3_*</c>).</summary>
    public string Backend { get; set; } = "fs";

    /// <summary>Gets or sets how long a published session stays referenced (then it is forgotten, like a pruned index).</summary>
    public int RetentionSeconds { get; set; } = 60;

    /// <summary>Gets or sets the fault proxy's per-request rates (S3): delay, connection reset, 503.</summary>
    public double ProxyDelay { get; set; } = 0.03;

    public double ProxyReset { get; set; } = 0.01;

    public double Proxy503 { get; set; } = 0.02;

    public double ProxyLate { get; set; } = 0.01;

    /// <summary>Gets or sets the share of object PUTs the proxy answers 409 Conflict itself.</summary>
    public double Proxy409 { get; set; } = 0.01;

    /// <summary>Gets or sets the share of DeleteObjects the proxy answers itself with per-key errors (nothing deleted).</summary>
    public double ProxyDeleteErrors { get; set; } = 0.05;

    /// <summary>Gets or sets the share of object PUTs whose 412/409 answer loses its body on the way back.</summary>
    public double ProxyStrip { get; set; } = 0.2;

    /// <summary>Gets or sets the mean seconds between radosgw kills (S3; 0 = never).</summary>
    public int RgwKillEvery { get; set; } = 30;
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
    private S3Server? _s3;
    private BucketView? _bucket;
    private FaultProxy? _proxy;
    private string? _bucketName;
    private int _rgwKills;
    private int _checksSkipped;
    private int _maxWriterEntries;
    private int _listingLag;
    private DateTime? _finalGcEnded;
    private Task _rgwRestart = Task.CompletedTask;
    private volatile bool _rgwDown;

    private bool IsS3 => _bucketName is not null;

    private long RetentionMs => _o.RetentionSeconds * 1000L;

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
        var storeOptions = new ChunkStoreOptions { Root = _store, LockStripes = LockStripes, SyncMode = SyncMode.Batch };
        if (_o.Backend == "s3")
        {
            // Not a skip: an S3 run without a server is an error (exit 2), so CI cannot pass without testing S3.
            _s3 = S3Server.FromEnvironment(out string? missing);
            if (_s3 is null)
            {
                Console.Error.WriteLine("torture: --backend s3: " + missing);
                return 2;
            }

            _bucketName = FormattableString.Invariant($"torture-{_o.Seed & 0xffffffff}-{Environment.ProcessId}");
            _bucket = new BucketView(_s3.CreateClient(), _bucketName);
            await _bucket.CreateAsync().ConfigureAwait(false);
            _proxy = FaultProxy.Random(_s3.Endpoint, new FaultRates(_o.ProxyDelay, _o.ProxyReset, _o.Proxy503, _o.ProxyLate, _o.Proxy409, _o.ProxyDeleteErrors, _o.ProxyStrip), _rng.Next());
            _proxy.Start();
            S3.S3ChunkStore.Create(storeOptions, _s3.Options(_bucketName, _s3.Endpoint)).Dispose();
        }
        else
        {
            ChunkRepository.Create(storeOptions).Dispose();
        }

        Console.WriteLine($"torture: seed={_o.Seed} seconds={_o.Seconds} backend={_o.Backend} inserters={_o.Inserters} retention={_o.RetentionSeconds}s disable={_o.Disable ?? "none"} dir={_dir} tmpfs={(mounted ? TmpfsMegabytes + "M" : "no")}");
        if (IsS3)
        {
            Console.WriteLine(FormattableString.Invariant($"torture: S3 {_s3!.Endpoint} bucket {_bucketName}; workers go through the fault proxy {_proxy!.Endpoint} (delay {_o.ProxyDelay:P1}, reset {_o.ProxyReset:P1}, 503 {_o.Proxy503:P1}, late delivery {_o.ProxyLate:P1} of requests; 409 {_o.Proxy409:P1} and error body stripped {_o.ProxyStrip:P1} of PUTs; per-key errors {_o.ProxyDeleteErrors:P1} of DeleteObjects); radosgw killed every ~{_o.RgwKillEvery}s{(_s3.RgwPidFile is null ? " [no CHUNKSTORE_S3_RGW_PIDFILE: kills disabled]" : "")}"));
        }

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
        var nextRgwKill = TimeSpan.FromSeconds(_o.RgwKillEvery > 0 ? _rng.Next(_o.RgwKillEvery / 2, _o.RgwKillEvery * 3 / 2) : int.MaxValue);
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

            if (IsS3 && _s3!.RgwPidFile is not null && _s3.RgwRestart is not null && now >= nextRgwKill && _rgwRestart.IsCompleted)
            {
                _rgwRestart = KillRadosgwAsync(TimeSpan.FromMilliseconds(_rng.Next(500, 4000)));
                nextRgwKill = now + TimeSpan.FromSeconds(_rng.Next(_o.RgwKillEvery / 2, _o.RgwKillEvery * 3 / 2));
            }

            if (now >= nextCheck)
            {
                await CheckAsync(journals, final: false, finalCutoff: null).ConfigureAwait(false);
                Console.WriteLine(FormattableString.Invariant($"torture: t={now.TotalSeconds:F0}s published={journals.Published.Count} recorded={journals.Recorded.Count} corrupted={journals.Corrupted.Count} crashes={_crashes.Values.Sum()} violations={_violations.Count}"));
                nextCheck = now + TimeSpan.FromSeconds(5);
            }
        }

        RemoveBallast();
        await StopAllAsync().ConfigureAwait(false);
        await _rgwRestart.ConfigureAwait(false);

        // The sweep never deletes an object younger (in server time) than the grace period: let the objects of the
        // last seconds' uploads age first, so that the final collection removes every object without local state.
        if (IsS3)
        {
            await Task.Delay(Worker.Grace + TimeSpan.FromSeconds(4)).ConfigureAwait(false);
        }

        // Final: one collection with every digest still referenced (straight to the server: no proxy), then every check.
        GarbageCollectionResult? final = null;
        await using (var repo = await OpenForFinalCheckAsync().ConfigureAwait(false))
        {
            try
            {
                var j = new JournalSet(_journals);
                j.Refresh();
                final = await repo.Maintenance.GarbageCollectAsync(j.PublishedSince(JournalWriter.NowMs - RetentionMs), new GarbageCollectionOptions { GracePeriod = Worker.Grace, WriterSafetyMargin = Worker.WriterMargin }).ConfigureAwait(false);
                _finalGcEnded = DateTime.UtcNow;
            }
            catch (Exception ex)
            {
                Violation("final-gc-failed", ex.GetType().Name + ": " + ex.Message);
            }

            if (repo.Backend is S3.S3ChunkBackend backend)
            {
                // In this process (which opened the store after every worker ended and ran the final GC): every digest in
                // the LRU has its full local file.
                foreach (var d in backend.Cache.Digests)
                {
                    var info = new FileInfo(backend.Layout.ChunkPath(d));
                    if (!info.Exists || info.Length == 0)
                    {
                        Violation("lru-without-file:" + d, $"chunk {d} is in the LRU but its full local file is {(info.Exists ? "a marker" : "missing")}");
                    }
                }
            }
        }

        await CheckAsync(journals, final: true, finalCutoff: final?.Cutoff).ConfigureAwait(false);
        foreach (var line in _unexpected)
        {
            Violation("unexpected-error:" + line, line);
        }

        PrintSummary(journals, final, mounted);
        if (_proxy is not null)
        {
            await _proxy.DisposeAsync().ConfigureAwait(false);
        }

        if (!_o.Keep && _bucket is not null && _violations.Count == 0)
        {
            await DeleteBucketQuietlyAsync(_bucket).ConfigureAwait(false);
        }

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

    private static int Run(string file, params string[] args) => ChildProcess.Run(ChildProcess.For(file, args)).ExitCode;

    /// <summary>
    /// Opens the store for the final collection and checks. The radosgw may still be coming up after the run's last
    /// kill (its restart script returns before the gateway accepts connections): a transient failure of the open is
    /// retried for up to a minute instead of ending the run without its summary.
    /// </summary>
    private async Task<ChunkRepository> OpenForFinalCheckAsync()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (true)
        {
            try
            {
                return Worker.OpenStore(_store, _s3, _bucketName);
            }
            catch (ChunkStorageException ex) when (ex.IsTransient && DateTime.UtcNow < deadline)
            {
                Console.WriteLine("torture: final open failed (" + ex.Message + "); retrying in 1 s");
                await Task.Delay(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
            }
        }
    }

    // ------------------------------------------------------------------ workers
    private void Start(string role)
    {
        string instance = FormattableString.Invariant($"{role}-{_nextInstance++}");
        var psi = ChildProcess.ForDotnet(typeof(Driver).Assembly.Location, []);
        psi.RedirectStandardInput = true;
        foreach (var a in new[] { "worker", role, "--store", _store, "--journals", _journals, "--instance", instance, "--seed", _o.Seed.ToString(CultureInfo.InvariantCulture), "--retention-ms", RetentionMs.ToString(CultureInfo.InvariantCulture) })
        {
            psi.ArgumentList.Add(a);
        }

        if (IsS3)
        {
            psi.ArgumentList.Add("--s3-bucket");
            psi.ArgumentList.Add(_bucketName!);
            psi.ArgumentList.Add("--s3-endpoint");
            psi.ArgumentList.Add(_proxy!.Endpoint.ToString());
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
                    // Half right at the start of the sweep, half anywhere in its first 1.5 s (deletes in flight).
                    delay = _rng.NextDouble() < 0.5 ? _rng.Next(0, 25) : _rng.Next(0, 1500);
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

    // ------------------------------------------------------------------ radosgw
    /// <summary>SIGKILLs radosgw, leaves it down for <paramref name="downFor"/>, then restarts it (scripts/s3-local.sh restart-rgw).</summary>
    private async Task KillRadosgwAsync(TimeSpan downFor)
    {
        try
        {
            int pid = int.Parse(File.ReadAllText(_s3!.RgwPidFile!).Trim(), CultureInfo.InvariantCulture);
            using (var rgw = Process.GetProcessById(pid))
            {
                rgw.Kill();
            }

            _rgwKills++;
            _rgwDown = true;
            Console.WriteLine(FormattableString.Invariant($"torture: t={_clock.Elapsed.TotalSeconds:F0}s radosgw (pid {pid}) killed; down for {downFor.TotalSeconds:F1}s"));
            await Task.Delay(downFor).ConfigureAwait(false);
            var (code, stdout, stderr) = await ChildProcess.RunAsync(ChildProcess.For("bash", "-c", _s3.RgwRestart!), TimeSpan.FromMinutes(5)).ConfigureAwait(false);
            string output = stdout + stderr;
            if (code != 0)
            {
                Violation("rgw-restart", $"radosgw restart failed (exit {code}): {output.ReplaceLineEndings(" ")}");
            }
            else
            {
                Console.WriteLine(FormattableString.Invariant($"torture: t={_clock.Elapsed.TotalSeconds:F0}s radosgw restarted"));
            }
        }
        catch (Exception ex) when (ex is IOException or FormatException or ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            Violation("rgw-kill", "could not kill/restart radosgw: " + ex.Message);
        }
        finally
        {
            _rgwDown = false;
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

    private async Task CheckAsync(JournalSet journals, bool final, DateTimeOffset? finalCutoff)
    {
        // Protected throughout the check: a session listing the digest was published in (t1 − retention + margin, t0].
        journals.Refresh();
        long t0 = JournalWriter.NowMs;
        var candidates = journals.PublishedSince(t0 - RetentionMs + Worker.Margin);
        var suspects = new List<(ChunkDigest Digest, string What)>();
        Dictionary<string, long>? listing = null;
        if (IsS3)
        {
            if (!final && _rgwDown)
            {
                _checksSkipped++;
                return;
            }

            try
            {
                listing = await CheckObjectsAsync(candidates, final, suspects).ConfigureAwait(false);
            }
            catch (Exception ex) when (!final && IsServerError(ex))
            {
                // radosgw is down (killed on purpose) or overloaded: this periodic check is skipped, the next one runs.
                _checksSkipped++;
                return;
            }
        }
        else
        {
            var layout = new ChunkLayout(_store);
            foreach (var d in candidates)
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
        }

        long t1 = JournalWriter.NowMs;

        // Corrupter records are written before the damage: re-read after looking at the files.
        journals.Refresh();
        foreach (var (d, what) in suspects)
        {
            if (!journals.Corrupted.ContainsKey(d) && journals.PublishTimes[d].Any(tp => tp <= t0 && tp > t1 - RetentionMs + Worker.Margin))
            {
                var rec = journals.Recorded.GetValueOrDefault(d);
                Violation("published-" + what + ":" + d, $"published chunk {d} (key {rec.Key}, recorded {Age(rec.Ms)}, last published {Age(journals.LastPublished[d])}) is {what} and the corrupter never touched it");
            }
        }

        for (; _observationsChecked < journals.Observations.Count; _observationsChecked++)
        {
            var (kind, d, ms, source) = journals.Observations[_observationsChecked];
            if (journals.Corrupted.TryGetValue(d, out long hit) && hit <= ms)
            {
                continue;
            }

            // Seen corrupt: never acceptable without a corrupter hit. Seen missing: only while some GC must have referenced it.
            if (kind == 'C' || journals.IsProtected(d, ms, RetentionMs, Worker.Margin))
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

        // Writer entries bounded: live inserters plus dead ones the next GC reaps (one is killed every ~10 s).
        int writerEntries = Directory.GetFiles(Path.Combine(_store, ".writers"), "*.writer").Length;
        _maxWriterEntries = Math.Max(_maxWriterEntries, writerEntries);
        if (writerEntries > (2 * _o.Inserters) + 8)
        {
            Violation("writer-entries", $"{writerEntries} writer entries with {_o.Inserters} inserters: dead sessions are not reaped");
        }

        CheckLocalEntries(journals, final, finalCutoff, listing);
        if (final)
        {
            CheckWritersAndRoot();
        }
    }

    /// <summary>
    /// S3: lists the bucket (every key must parse), then checks the protected digests: all present in the listing, and
    /// the bytes of a sample (all of them at the end) hash to the name. Returns the listing.
    /// </summary>
    private async Task<Dictionary<string, long>> CheckObjectsAsync(List<ChunkDigest> candidates, bool final, List<(ChunkDigest, string)> suspects)
    {
        var listing = await _bucket!.ListAsync().ConfigureAwait(false);

        // The store's identity object (ChunkStore.Remote.RemoteStoreIdentity) lives beside .chunks/: it must stay, and it is not a chunk.
        if (!listing.Remove(Remote.RemoteStoreIdentity.ObjectName))
        {
            Violation("identity-missing", "the store identity object " + Remote.RemoteStoreIdentity.ObjectName + " is missing from the bucket");
        }

        foreach (var key in listing.Keys)
        {
            if (!Remote.RemoteChunkKey.TryParse(key, "", out _))
            {
                Violation("unparseable-key:" + key, "unparseable object key in the bucket: " + key);
            }
        }

        var present = new List<ChunkDigest>();
        foreach (var d in candidates)
        {
            if (listing.ContainsKey(BucketView.Key(d)))
            {
                present.Add(d);
            }
            else if (await _bucket.GetAsync(BucketView.Key(d)).ConfigureAwait(false) is { } bytes && ChunkDigest.Compute(bytes) == d)
            {
                // The object is there, the listing did not show it (RGW updates its bucket index after answering):
                // not a lost chunk. Counted; the object itself is what the invariant is about.
                _listingLag++;
            }
            else
            {
                suspects.Add((d, "missing"));
            }
        }

        var sample = final ? present : present.OrderBy(_ => _rng.Next()).Take(150).ToList();
        await Parallel.ForEachAsync(sample, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (d, ct) =>
        {
            byte[]? bytes = await _bucket.GetAsync(BucketView.Key(d), ct).ConfigureAwait(false);
            string? what = bytes is null ? "missing" : ChunkDigest.Compute(bytes) != d ? "corrupt" : null;
            if (what is not null)
            {
                lock (suspects)
                {
                    suspects.Add((d, what));
                }
            }
        }).ConfigureAwait(false);
        return listing;
    }

    private static bool IsServerError(Exception ex) =>
        ex is Amazon.Runtime.AmazonServiceException or Amazon.Runtime.AmazonClientException or HttpRequestException or IOException or System.Net.Sockets.SocketException or TaskCanceledException;

    /// <summary>
    /// The local <c>.chunks</c> tree (the store itself, or the S3 cache): every name parses; at the end also no partial file
    /// under a final name, no stale temporary file, and on S3 no marker without its object, no <c>.using</c> left, and no
    /// object without a local entry (the final GC removes those).
    /// </summary>
    private void CheckLocalEntries(JournalSet journals, bool final, DateTimeOffset? finalCutoff, Dictionary<string, long>? listing)
    {
        var localKeys = new HashSet<string>(StringComparer.Ordinal);
        string chunks = Path.Combine(_store, ".chunks");
        foreach (var top in Directory.EnumerateFileSystemEntries(chunks))
        {
            string name = Path.GetFileName(top);
            if (!ChunkLayout.IsPrefixName(name) || !Directory.Exists(top))
            {
                // The GC's atime probe may exist while a GC runs, or after one was killed.
                if (final || name != ".gc-atime-probe")
                {
                    Violation("unparseable:" + top, "unexpected entry in .chunks: " + top);
                }

                continue;
            }

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

                if (parsed.Kind is ChunkEntryKind.Chunk or ChunkEntryKind.Bad)
                {
                    localKeys.Add(new Remote.RemoteChunkKey(parsed.Digest, parsed.Kind, parsed.BadIndex).ToKey(""));
                }

                if (parsed.Kind == ChunkEntryKind.Chunk)
                {
                    byte[] bytes = File.ReadAllBytes(entry);
                    bool damaged = IsS3 ? journals.LocalCorrupted.ContainsKey(parsed.Digest) : journals.Corrupted.ContainsKey(parsed.Digest);
                    if ((bytes.Length > 0 || !IsS3) && new ChunkDigest(SHA256.HashData(bytes)) != parsed.Digest && !damaged)
                    {
                        Violation("bad-final-file:" + parsed.Digest, $"{entry} ({bytes.Length} bytes) does not hash to its name and the corrupter never touched it (partial file under a final name?)");
                    }

                    if (listing is not null && !listing.ContainsKey(BucketView.Key(parsed.Digest)))
                    {
                        Violation("marker-without-object:" + parsed.Digest, $"local {(bytes.Length == 0 ? "marker" : "copy")} {entry} says the object exists, but the bucket has no {BucketView.Key(parsed.Digest)}");
                    }
                }
                else if (parsed.Kind == ChunkEntryKind.Temporary && finalCutoff is { } cutoff && File.GetLastWriteTimeUtc(entry) < cutoff.UtcDateTime)
                {
                    Violation("stale-temp:" + entry, $"temporary file {entry} from {File.GetLastWriteTimeUtc(entry):O} is older than the final GC's cutoff {cutoff:O} but was not removed");
                }
                else if (parsed.Kind == ChunkEntryKind.Using)
                {
                    Violation("using:" + entry, IsS3 ? "a .using marker left after the final GC: " + entry : "a .using marker in a filesystem store: " + entry);
                }
            }
        }

        if (final && listing is not null)
        {
            foreach (var key in listing.Keys.Where(k => !localKeys.Contains(k)).Take(20))
            {
                Violation("object-without-local:" + key, $"object {key} has no local marker or .bad file after the final GC (which removes such objects)");
            }
        }
    }

    private void CheckWritersAndRoot()
    {
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
        if (IsS3)
        {
            // Records of deletes whose sender died mid-request (Remote.PendingDeletes): the final GC removes the settled ones.
            allowed.Add(Remote.PendingDeletes.DirectoryName);
            allowed.Add(Remote.RemoteStoreIdentity.BindingFileName); // the local root's binding to its bucket prefix
            string pending = Path.Combine(_store, Remote.PendingDeletes.DirectoryName);
            foreach (var entry in Directory.Exists(pending) ? Directory.GetFiles(pending) : [])
            {
                // Stamped at its latest send or when its sender gave up (the file's mtime): settled at the final GC's end?
                if (_finalGcEnded is { } ended && File.GetLastWriteTimeUtc(entry) + S3Server.DeleteSettleTime < ended)
                {
                    Violation("pending-delete-left:" + entry, "a settled pending-delete record was not removed by the final GC: " + entry);
                }
            }
        }

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

    /// <summary>
    /// Removes the run's bucket after a clean run. This is tidying, not a check: the summary is printed and the RGW is
    /// stopped by run.sh anyway, so a server still slow after the last radosgw kill (seed 7001: DeleteObjects timed out
    /// right after a restart and the unhandled exception failed a clean run) gets three tries and then a note.
    /// </summary>
    private static async Task DeleteBucketQuietlyAsync(BucketView bucket)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                await bucket.DeleteBucketAsync().ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (ex is AmazonServiceException or TimeoutException or HttpRequestException or OperationCanceledException)
            {
                if (attempt == 3)
                {
                    Console.WriteLine($"torture: cleanup: the bucket was not removed ({ex.GetType().Name}: {ex.Message}); it goes with the RGW");
                    return;
                }

                await Task.Delay(TimeSpan.FromSeconds(5 * attempt)).ConfigureAwait(false);
            }
        }
    }

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

        long faults = totals.Where(kv => kv.Key.StartsWith("fault.diskfull.", StringComparison.Ordinal)).Sum(kv => kv.Value);
        if (_proxy is not null)
        {
            foreach (var (k, v) in _proxy.Counters)
            {
                totals["fault." + k] = v;
            }

            totals["fault.rgw-kills"] = _rgwKills;
            faults += _proxy.FaultsInjected + _rgwKills;
        }

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
            $"TORTURE SUMMARY backend={_o.Backend} seed={_o.Seed} seconds={_o.Seconds} disable={_o.Disable ?? "none"} | ops: {ops} published-sessions={journals.PublishedSessions} published-chunks={journals.Published.Count} | crashes={_crashes.Values.Sum()} ({crashes}) | faults={faults} (diskfull-phases={_diskFullPhases}{(mounted ? "" : " [no tmpfs: disk-full phase skipped]")} {faultDetail}) | corruptions={journals.Corrupted.Count + journals.LocalCorrupted.Count}{(IsS3 ? FormattableString.Invariant($" (objects {journals.Corrupted.Count}, local copies {journals.LocalCorrupted.Count})") : "")} | violations={_violations.Count} first-at={first} | max-writer-entries={_maxWriterEntries} lock-files<={LockStripes} | checks-skipped={_checksSkipped}{(IsS3 ? FormattableString.Invariant($" listing-lag={_listingLag}") : "")} | replay: --backend {_o.Backend} --seed {_o.Seed} --seconds {_o.Seconds}{(_o.Disable is null ? "" : " --disable " + _o.Disable)}"));
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
