using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Spectre.Console;

namespace ChunkStore.Backup.Tests;

/// <summary>The CLI against a real S3 server (the RGW that test.sh starts): backup, restore, verify, gc with --s3-bucket.</summary>
public sealed class S3BackupTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "chunkstore-backup-s3-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Fact]
    public async Task BackupRestoreVerifyGc_WithS3Bucket_RoundTripsThroughTheBucket()
    {
        string? endpoint = Environment.GetEnvironmentVariable("CHUNKSTORE_S3_ENDPOINT");
        if (string.IsNullOrEmpty(endpoint))
        {
            // Never skip silently in CI: test.sh starts an RGW and exports the endpoint.
            Assert.True(Environment.GetEnvironmentVariable("CI") != "true", "CHUNKSTORE_S3_ENDPOINT is not set; run ./test.sh, which starts a local RGW.");
            return;
        }

        string bucket = "cs-backup-" + Guid.NewGuid().ToString("N")[..16];
        using var client = new AmazonS3Client(
            new BasicAWSCredentials(Environment.GetEnvironmentVariable("CHUNKSTORE_S3_ACCESS_KEY"), Environment.GetEnvironmentVariable("CHUNKSTORE_S3_SECRET_KEY")),
            new AmazonS3Config
            {
                ServiceURL = endpoint,
                ForcePathStyle = true,
                AuthenticationRegion = Environment.GetEnvironmentVariable("CHUNKSTORE_S3_REGION") ?? "us-east-1",
                RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
                ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
            });
        await client.PutBucketAsync(bucket);
        string source = Path.Combine(_root, "source");
        Directory.CreateDirectory(source);
        var data = FastCdcChunkerTests.RandomBytes(3 * 1024 * 1024, seed: 77);
        File.WriteAllBytes(Path.Combine(source, "data.bin"), data);
        File.WriteAllText(Path.Combine(source, "note.txt"), "stored in a bucket\n");
        string store = Path.Combine(_root, "cache");
        string[] s3 = ["--store", store, "--s3-bucket", bucket];

        async Task<int> Run(params string[] args)
        {
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(TextWriter.Null) });
            return await BackupCli.RunAsync([.. args, .. s3], console, TextWriter.Null);
        }

        Assert.Equal(0, await Run("backup", source));
        var objects = await client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket });
        Assert.True(objects.S3Objects?.Count >= 2, "the chunks must be objects in the bucket");

        // Drop the local cache's full copies: the restore must fetch (and verify) from the bucket.
        foreach (var file in Directory.EnumerateFiles(Path.Combine(store, ".chunks"), "*", SearchOption.AllDirectories))
        {
            File.WriteAllBytes(file, []);
        }

        // stats counts the chunks' sizes from the listing (the objects'), not the local files (now all 0-byte markers).
        var s3Options = new ChunkStore.S3.S3BackendOptions
        {
            Endpoint = new Uri(endpoint),
            Bucket = bucket,
            Region = Environment.GetEnvironmentVariable("CHUNKSTORE_S3_REGION") ?? "us-east-1",
            AccessKey = Environment.GetEnvironmentVariable("CHUNKSTORE_S3_ACCESS_KEY") ?? "",
            SecretKey = Environment.GetEnvironmentVariable("CHUNKSTORE_S3_SECRET_KEY") ?? "",
        };
        await using (var repo = await ChunkStore.S3.S3ChunkStore.OpenAsync(new ChunkStoreOptions { Root = store }, s3Options))
        {
            var stats = await ChunkStore.Backup.Commands.StoreStats.ComputeAsync(repo, CancellationToken.None);
            Assert.Equal(data.Length + "stored in a bucket\n".Length, stats.StoredBytes);
        }

        string target = Path.Combine(_root, "restore");
        Assert.Equal(0, await Run("restore", "latest", target));
        Assert.Equal(data, File.ReadAllBytes(Path.Combine(target, "data.bin")));
        Assert.Equal("stored in a bucket\n", File.ReadAllText(Path.Combine(target, "note.txt")));
        Assert.Equal(0, await Run("verify"));
        Assert.Equal(0, await Run("gc", "--dry-run"));
    }
}
