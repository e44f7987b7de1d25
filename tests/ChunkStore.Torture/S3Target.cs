using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using ChunkStore.S3;

namespace ChunkStore.Torture;

/// <summary>
/// The S3 server the harness runs against, from the variables <c>scripts/s3-local.sh start</c> writes to its
/// <c>s3.env</c>: <c>CHUNKSTORE_S3_ENDPOINT</c>, <c>_ACCESS_KEY</c>, <c>_SECRET_KEY</c>, <c>_REGION</c>, and for the
/// radosgw kill/restart fault <c>_RGW_PIDFILE</c> and <c>_RGW_RESTART</c>.
/// </summary>
internal sealed record S3Server(Uri Endpoint, string AccessKey, string SecretKey, string Region, string? RgwPidFile, string? RgwRestart)
{
    /// <summary>Reads the server from the environment; null (with the reason) when it is not set.</summary>
    public static S3Server? FromEnvironment(out string? missing)
    {
        string? Get(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;
        missing = null;
        string? endpoint = Get("CHUNKSTORE_S3_ENDPOINT");
        string? access = Get("CHUNKSTORE_S3_ACCESS_KEY");
        string? secret = Get("CHUNKSTORE_S3_SECRET_KEY");
        if (endpoint is null || access is null || secret is null)
        {
            missing = "CHUNKSTORE_S3_ENDPOINT, CHUNKSTORE_S3_ACCESS_KEY and CHUNKSTORE_S3_SECRET_KEY must be set (source the s3.env of scripts/s3-local.sh start, or use run.sh --s3)";
            return null;
        }

        return new S3Server(new Uri(endpoint), access, secret, Get("CHUNKSTORE_S3_REGION") ?? "us-east-1", Get("CHUNKSTORE_S3_RGW_PIDFILE"), Get("CHUNKSTORE_S3_RGW_RESTART"));
    }

    /// <summary>How long a delete may land after its latest send here (the proxy's longest hold plus slack).</summary>
    public static readonly TimeSpan DeleteSettleTime = TimeSpan.FromSeconds(5);

    /// <summary>The store's S3 settings, reaching the server at <paramref name="endpoint"/> (the fault proxy, for workers).</summary>
    public S3BackendOptions Options(string bucket, Uri endpoint) => new()
    {
        Endpoint = endpoint,
        Region = Region,
        AccessKey = AccessKey,
        SecretKey = SecretKey,
        Bucket = bucket,

        // Small: evictions (full file → marker, under a try-lock) happen all the time.
        CacheCapacityBytes = 24L << 20,

        // Deletes leave in batches of 25, so a GC killed mid-sweep often has locks held for queued keys.
        DeleteBatchSize = 25,
        RequestTimeout = TimeSpan.FromSeconds(30),
        RetryBaseDelay = TimeSpan.FromMilliseconds(100),

        // The proxy holds a request at most 1.5 s (delay) or 3 s (late delivery) after its send: 5 s covers a late delete.
        DeleteSettleTime = DeleteSettleTime,
    };

    /// <summary>A plain SDK client for the harness's own requests (checks, corrupter): straight to the server, never through the proxy.</summary>
    public AmazonS3Client CreateClient() => new(
        new BasicAWSCredentials(AccessKey, SecretKey),
        new AmazonS3Config
        {
            ServiceURL = Endpoint.ToString(),
            ForcePathStyle = true,
            AuthenticationRegion = Region,
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
            MaxErrorRetry = 5,
            Timeout = TimeSpan.FromSeconds(30),
        });
}

/// <summary>The harness's direct view of the bucket: list, get, put (the corrupter), create and empty.</summary>
internal sealed class BucketView(AmazonS3Client client, string bucket)
{
    public AmazonS3Client Client => client;

    public string Bucket => bucket;

    public static string Key(ChunkDigest digest) => ChunkStore.Remote.RemoteChunkKey.ForChunk(digest).ToKey("");

    public async Task CreateAsync() => await client.PutBucketAsync(new PutBucketRequest { BucketName = bucket }).ConfigureAwait(false);

    /// <summary>Every key in the bucket with its size.</summary>
    public async Task<Dictionary<string, long>> ListAsync(CancellationToken cancellationToken = default)
    {
        var keys = new Dictionary<string, long>(StringComparer.Ordinal);
        string? token = null;
        do
        {
            var page = await client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, ContinuationToken = token, MaxKeys = 1000 }, cancellationToken).ConfigureAwait(false);
            foreach (var o in page.S3Objects ?? [])
            {
                keys[o.Key] = o.Size ?? 0;
            }

            token = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (token is not null);
        return keys;
    }

    /// <summary>The object's bytes, or null when it does not exist.</summary>
    public async Task<byte[]?> GetAsync(string key, CancellationToken cancellationToken = default)
    {
        try
        {
            using var response = await client.GetObjectAsync(bucket, key, cancellationToken).ConfigureAwait(false);
            using var buffer = new MemoryStream();
            await response.ResponseStream.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
            return buffer.ToArray();
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    public async Task PutAsync(string key, byte[] data) =>
        await client.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = key, InputStream = new MemoryStream(data), UseChunkEncoding = false }).ConfigureAwait(false);

    /// <summary>Deletes every object, then the bucket.</summary>
    public async Task DeleteBucketAsync()
    {
        var keys = (await ListAsync().ConfigureAwait(false)).Keys.ToList();
        for (int i = 0; i < keys.Count; i += 1000)
        {
            var batch = keys.Skip(i).Take(1000).Select(k => new KeyVersion { Key = k }).ToList();
            await client.DeleteObjectsAsync(new DeleteObjectsRequest { BucketName = bucket, Objects = batch, Quiet = true }).ConfigureAwait(false);
        }

        await client.DeleteBucketAsync(bucket).ConfigureAwait(false);
    }
}
