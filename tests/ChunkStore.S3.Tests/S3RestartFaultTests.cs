using System.Diagnostics;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using ChunkStore.FileSystem;
using ChunkStore.S3.Tests.Infrastructure;
using ChunkStore.Tests.Infrastructure;

namespace ChunkStore.S3.Tests;

/// <summary>
/// A bluestore Ceph cluster of the test's own (separate ports and directory, started with scripts/s3-local.sh), whose
/// radosgw the tests kill with SIGKILL and restart: objects survive, the store sees typed transient errors.
/// </summary>
public sealed class RestartableRgwFixture : IAsyncLifetime
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "chunkstore-rgw-fault-" + Guid.NewGuid().ToString("N")[..8]);
    private Dictionary<string, string> _env = [];

    public string? Unavailable { get; private set; }

    public string Endpoint => _env["CHUNKSTORE_S3_ENDPOINT"];

    public string AccessKey => _env["CHUNKSTORE_S3_ACCESS_KEY"];

    public string SecretKey => _env["CHUNKSTORE_S3_SECRET_KEY"];

    public static string Script
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "scripts", "s3-local.sh")))
            {
                dir = dir.Parent;
            }

            return dir is null ? "" : Path.Combine(dir.FullName, "scripts", "s3-local.sh");
        }
    }

    public async Task InitializeAsync()
    {
        if (S3TestEnvironment.Endpoint is null)
        {
            // Same rule as every S3 test: outside CI without a server these tests are skipped, in CI they fail.
            Unavailable = S3TestEnvironment.MissingMessage;
            return;
        }

        var (code, output) = await RunScriptAsync("start", "--store", "bluestore", "--dir", _dir);
        if (code != 0)
        {
            throw new InvalidOperationException($"could not start a bluestore RGW: {output}");
        }

        string envFile = output.Trim().Split('\n')[^1].Trim();
        _env = File.ReadAllLines(envFile)
            .Where(l => l.StartsWith("export ", StringComparison.Ordinal))
            .Select(l => l["export ".Length..].Split('=', 2))
            .ToDictionary(p => p[0], p => p[1].Trim('\'', '"'));
    }

    public async Task DisposeAsync()
    {
        if (Directory.Exists(_dir))
        {
            await RunScriptAsync("stop", "--dir", _dir);
            try
            {
                Directory.Delete(_dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    public void KillRadosgw()
    {
        int pid = int.Parse(File.ReadAllText(_env["CHUNKSTORE_S3_RGW_PIDFILE"]).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Process.GetProcessById(pid).Kill();
    }

    public async Task RestartRadosgwAsync()
    {
        var (code, output) = await RunScriptAsync("restart-rgw", "--dir", _dir);
        Assert.True(code == 0, output);
    }

    public AmazonS3Client NewClient() => new(
        new BasicAWSCredentials(AccessKey, SecretKey),
        new AmazonS3Config
        {
            ServiceURL = Endpoint,
            ForcePathStyle = true,
            AuthenticationRegion = "us-east-1",
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        });

    private static async Task<(int Code, string Output)> RunScriptAsync(params string[] args)
    {
        var psi = ChildProcess.For("bash", [Script, .. args]);

        // Ports of their own, so the cluster of the other S3 tests keeps running.
        psi.Environment["CHUNKSTORE_S3_PORT"] = "7561";
        psi.Environment["CHUNKSTORE_S3_MON_PORT"] = "7562"; // outside 6800+, where Ceph OSDs take their ports
        var (code, stdout, stderr) = await ChildProcess.RunAsync(psi, TimeSpan.FromMinutes(10));
        return (code, stdout + (code == 0 ? "" : stderr));
    }
}

public sealed class S3RestartFaultTests(RestartableRgwFixture rgw) : IClassFixture<RestartableRgwFixture>, IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "chunkstore-s3-fault-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    private S3BackendOptions Options(string bucket) => new()
    {
        Endpoint = new Uri(rgw.Endpoint),
        Bucket = bucket,
        AccessKey = rgw.AccessKey,
        SecretKey = rgw.SecretKey,
        RetryCount = 1,
        RetryBaseDelay = TimeSpan.FromMilliseconds(50),
        RequestTimeout = TimeSpan.FromSeconds(10),
    };

    [S3Fact]
    public async Task RadosgwKilledMidInsert_GivesTypedTransientErrors_NoMarkerWithoutObject_RetriesSucceedAfterRestart()
    {
        Assert.Null(rgw.Unavailable);
        using var client = rgw.NewClient();
        string bucket = "fault-" + Guid.NewGuid().ToString("N")[..12];
        await client.PutBucketAsync(bucket);
        var options = new ChunkStoreOptions { Root = _root };
        var chunks = Enumerable.Range(0, 160).Select(i =>
        {
            var b = new byte[64 * 1024];
            new Random(i).NextBytes(b);
            return b;
        }).ToArray();
        var failed = new System.Collections.Concurrent.ConcurrentBag<int>();
        var unexpected = new System.Collections.Concurrent.ConcurrentBag<Exception>();
        int done = 0;

        await using (var store = S3ChunkStore.Create(options, Options(bucket)))
        {
            var workers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
            {
                for (int i = w; i < chunks.Length; i += 4)
                {
                    try
                    {
                        await store.InsertAsync(chunks[i]);
                    }
                    catch (ChunkStorageException ex) when (ex.IsTransient && ex.Kind == StorageErrorKind.Network)
                    {
                        failed.Add(i);
                    }
                    catch (Exception ex)
                    {
                        unexpected.Add(ex);
                        failed.Add(i);
                    }

                    Interlocked.Increment(ref done);
                }
            })).ToArray();

            while (Volatile.Read(ref done) < 30)
            {
                await Task.Delay(5);
            }

            rgw.KillRadosgw();
            int atKill = Volatile.Read(ref done);
            await Task.Delay(1500);
            await rgw.RestartRadosgwAsync();
            await Task.WhenAll(workers);

            Assert.Empty(unexpected);
            Assert.NotEmpty(failed); // the outage was seen

            // (Inserts during the outage fail within their short back-off: the rest may all have failed by the restart.)
            Assert.True(atKill < chunks.Length, "the kill must land while inserts are still running");

            // No local marker or full copy without its object (invariant S1).
            var layout = new ChunkLayout(_root);
            foreach (var file in Directory.EnumerateFiles(layout.ChunksDirectory, "*", SearchOption.AllDirectories))
            {
                if (ChunkEntryName.TryParse(Path.GetFileName(file), out var name) && name.Kind == ChunkEntryKind.Chunk)
                {
                    var head = await client.GetObjectMetadataAsync(bucket, $".chunks/{name.Digest.ToString()[..4]}/{name.Digest}");
                    Assert.Equal(64 * 1024, head.ContentLength);
                }
            }

            // Retrying the failed inserts succeeds, and everything reads back.
            foreach (int i in failed)
            {
                await store.InsertAsync(chunks[i]);
            }

            foreach (var chunk in chunks)
            {
                Assert.Equal(chunk, await store.ReadAsync(ChunkDigest.Compute(chunk)));
            }
        }

        // A fresh cache (a rebuilt machine, or a lost cache directory) takes the store over and reads every chunk from
        // the bucket.
        var takeOver = Options(bucket);
        takeOver.TakeOverStore = true;
        await using var fresh = S3ChunkStore.Create(new ChunkStoreOptions { Root = _root + "-fresh" }, takeOver);
        foreach (var chunk in chunks.Take(20))
        {
            Assert.Equal(chunk, await fresh.ReadAsync(ChunkDigest.Compute(chunk)));
        }

        Directory.Delete(_root + "-fresh", recursive: true);
    }

    [S3Fact]
    public async Task ServerDown_OpenAndReadFailTypedAndTransient_RenameNothing_WorkAgainAfterRestart()
    {
        Assert.Null(rgw.Unavailable);
        using var client = rgw.NewClient();
        string bucket = "down-" + Guid.NewGuid().ToString("N")[..12];
        await client.PutBucketAsync(bucket);
        var data = new byte[10_000];
        new Random(5).NextBytes(data);
        ChunkDigest digest;
        await using (var store = S3ChunkStore.Create(new ChunkStoreOptions { Root = _root }, Options(bucket)))
        {
            digest = (await store.InsertAsync(data)).Digest;
        }

        rgw.KillRadosgw();
        await Task.Delay(500);
        try
        {
            var open = Assert.Throws<ChunkStorageException>(() => S3ChunkStore.Open(new ChunkStoreOptions { Root = _root }, Options(bucket)));
            Assert.True(open.IsTransient);
            Assert.Equal(StorageErrorKind.Network, open.Kind);
            Assert.DoesNotContain(rgw.SecretKey, open.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            await rgw.RestartRadosgwAsync();
        }

        await using var reopened = S3ChunkStore.Open(new ChunkStoreOptions { Root = _root }, Options(bucket));
        rgw.KillRadosgw();
        await Task.Delay(500);
        try
        {
            var verify = await Assert.ThrowsAsync<ChunkStorageException>(async () => await reopened.VerifyAsync(digest));
            Assert.True(verify.IsTransient);
            Assert.Empty(Directory.EnumerateFiles(_root, "*.bad", SearchOption.AllDirectories));
        }
        finally
        {
            await rgw.RestartRadosgwAsync();
        }

        Assert.Equal(ChunkVerifyStatus.Ok, (await reopened.VerifyAsync(digest)).Status);
        Assert.Equal(data, await reopened.ReadAsync(digest));
    }
}
