using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;

namespace ChunkStore.S3.Tests.Infrastructure;

/// <summary>One fresh bucket per test class on the real server, emptied and deleted at the end; plus a raw client for
/// checking and tampering with objects behind the store's back.</summary>
public sealed class S3BucketFixture : IAsyncLifetime
{
    private readonly List<string> _roots = [];
    private AmazonS3Client? _client;

    public string Bucket { get; } = "cs-test-" + Guid.NewGuid().ToString("N")[..20];

    public IAmazonS3 Client => _client ?? throw new InvalidOperationException(S3TestEnvironment.MissingMessage);

    public async Task InitializeAsync()
    {
        if (S3TestEnvironment.Endpoint is null)
        {
            return; // Tests are skipped (outside CI) or fail with the message (in CI).
        }

        _client = new AmazonS3Client(
            new BasicAWSCredentials(S3TestEnvironment.AccessKey, S3TestEnvironment.SecretKey),
            new AmazonS3Config
            {
                ServiceURL = S3TestEnvironment.Endpoint,
                ForcePathStyle = true,
                AuthenticationRegion = S3TestEnvironment.Region,
                RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
                ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
            });
        await _client.PutBucketAsync(new PutBucketRequest { BucketName = Bucket });
    }

    public async Task DisposeAsync()
    {
        foreach (var root in _roots)
        {
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
            }
        }

        if (_client is null)
        {
            return;
        }

        var keys = await ListKeysAsync("");
        for (int i = 0; i < keys.Count; i += 1000)
        {
            await _client.DeleteObjectsAsync(new DeleteObjectsRequest
            {
                BucketName = Bucket,
                Objects = keys.Skip(i).Take(1000).Select(k => new KeyVersion { Key = k }).ToList(),
            });
        }

        await _client.DeleteBucketAsync(Bucket);
        _client.Dispose();
    }

    /// <summary>Options for a store with its own key prefix in this bucket.</summary>
    public S3BackendOptions Options(string prefix, long cacheCapacityBytes = 64 << 20) => new()
    {
        Endpoint = new Uri(S3TestEnvironment.RequireEndpoint()),
        Region = S3TestEnvironment.Region,
        AccessKey = S3TestEnvironment.AccessKey,
        SecretKey = S3TestEnvironment.SecretKey,
        Bucket = Bucket,
        KeyPrefix = prefix,
        CacheCapacityBytes = cacheCapacityBytes,
        RetryBaseDelay = TimeSpan.FromMilliseconds(50),

        // Most tests look at full local copies right after an insert; S3InsertCacheTests cover the default (marker only).
        CacheOnInsert = true,
    };

    public string NewRoot()
    {
        string root = Path.Combine(Path.GetTempPath(), "chunkstore-s3-tests", Guid.NewGuid().ToString("N"));
        lock (_roots)
        {
            _roots.Add(root);
        }

        return root;
    }

    /// <summary>Creates a store with a fresh local root and key prefix.</summary>
    internal S3TestStore CreateStore(Action<S3BackendOptions>? configure = null, long cacheCapacityBytes = 64 << 20)
    {
        string prefix = "store-" + Guid.NewGuid().ToString("N")[..12];
        var s3 = Options(prefix, cacheCapacityBytes);
        configure?.Invoke(s3);
        string root = NewRoot();
        var repo = S3ChunkStore.Create(new ChunkStoreOptions { Root = root, LockTimeout = TimeSpan.FromSeconds(30) }, s3);
        return new S3TestStore(this, repo, s3, root);
    }

    /// <summary>
    /// Waits until every object under <paramref name="keyPrefix"/> is older, in server time, than
    /// <see cref="S3TestStore.TestGrace"/> plus the sweep's skew tolerance and a margin, so that a collection with
    /// <see cref="S3TestStore.GcOptions"/> started now decides by local state alone (the sweep never deletes an object
    /// whose LastModified is inside the grace period). The server's clock is real: nothing makes an object old faster.
    /// </summary>
    public async Task WaitForServerAgeAsync(string keyPrefix)
    {
        var newest = (await ListObjectsAsync(keyPrefix + "/")).Select(o => o.LastModified ?? DateTime.MinValue).DefaultIfEmpty(DateTime.MinValue).Max();
        var due = DateTime.SpecifyKind(newest, DateTimeKind.Utc) + S3TestStore.TestGrace + TimeSpan.FromSeconds(5);
        var wait = due - DateTime.UtcNow;
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait);
        }
    }

    /// <summary>The keys of a store's chunks and .bad copies (its identity object is not among them).</summary>
    public Task<List<string>> ChunkKeysAsync(string keyPrefix) => ListKeysAsync(keyPrefix + "/.chunks/");

    public async Task<List<string>> ListKeysAsync(string prefix) => (await ListObjectsAsync(prefix)).Select(o => o.Key).ToList();

    public async Task<List<S3Object>> ListObjectsAsync(string prefix)
    {
        var objects = new List<S3Object>();
        string? token = null;
        do
        {
            var page = await Client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = Bucket, Prefix = prefix, ContinuationToken = token });
            objects.AddRange(page.S3Objects ?? []);
            token = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (token is not null);
        return objects;
    }

    public async Task<bool> ExistsAsync(string key)
    {
        try
        {
            await Client.GetObjectMetadataAsync(Bucket, key);
            return true;
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return false;
        }
    }

    public async Task<byte[]> GetAsync(string key)
    {
        using var response = await Client.GetObjectAsync(Bucket, key);
        using var ms = new MemoryStream();
        await response.ResponseStream.CopyToAsync(ms);
        return ms.ToArray();
    }

    public Task PutRawAsync(string key, byte[] data) =>
        Client.PutObjectAsync(new PutObjectRequest { BucketName = Bucket, Key = key, InputStream = new MemoryStream(data), UseChunkEncoding = false });
}
