using System.Net;
using System.Text.Json;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using ChunkStore.Server.Tests.Infrastructure;
using ChunkStore.S3.Tests.Infrastructure;

namespace ChunkStore.Server.Tests;

/// <summary>The server with <c>ChunkServer:Backend = S3</c> against the real S3 server of the test run (a local Ceph RGW).</summary>
public sealed class S3ServerTests
{
    [S3Fact]
    public async Task S3Backend_RoundTripHealthAndStatistics_GoThroughTheBucket()
    {
        string endpoint = S3TestEnvironment.RequireEndpoint();
        string bucket = "cs-server-" + Guid.NewGuid().ToString("N")[..16];
        using var s3 = new AmazonS3Client(
            new BasicAWSCredentials(S3TestEnvironment.AccessKey, S3TestEnvironment.SecretKey),
            new AmazonS3Config
            {
                ServiceURL = endpoint,
                ForcePathStyle = true,
                AuthenticationRegion = S3TestEnvironment.Region,
                RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
                ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
            });
        await s3.PutBucketAsync(bucket);
        try
        {
            await using (var server = await TestServer.StartAsync(
                ("ChunkServer:Backend", "S3"), ("S3:Endpoint", endpoint), ("S3:Bucket", bucket), ("S3:KeyPrefix", "server"),
                ("S3:Region", S3TestEnvironment.Region), ("S3:AccessKey", S3TestEnvironment.AccessKey), ("S3:SecretKey", S3TestEnvironment.SecretKey)))
            {
                var chunks = Enumerable.Range(0, 3).Select(i => Api.RandomChunk(10_000 * (i + 1), seed: i)).ToArray();
                foreach (var chunk in chunks)
                {
                    Assert.True((await server.Writer.PutAsync(chunk)).IsNew);
                }

                // The chunks are objects in the bucket, and they come back verified.
                var objects = await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, Prefix = "server/.chunks/" });
                Assert.Equal(chunks.Select(Api.Hex).Order(), (objects.S3Objects ?? []).Select(o => o.Key[(o.Key.LastIndexOf('/') + 1)..]).Order());
                foreach (var chunk in chunks)
                {
                    Assert.Equal(chunk, await server.Reader.GetByteArrayAsync($"/chunks/{Api.Hex(chunk)}"));
                }

                var health = JsonDocument.Parse(await server.Anonymous.GetStringAsync("/healthz")).RootElement;
                Assert.Equal("Healthy", health.GetProperty("checks").GetProperty("s3").GetProperty("status").GetString());

                // Listed: three chunks and their bytes (the objects' sizes: the local root may hold only markers).
                var size = JsonDocument.Parse(await (await server.Writer.PostAsync("/admin/statistics", null)).Content.ReadAsStringAsync()).RootElement;
                Assert.Equal(3, size.GetProperty("chunks").GetInt64());
                Assert.Equal(chunks.Sum(c => (long)c.Length), size.GetProperty("bytes").GetInt64());

                using var dry = await server.Writer.PostAsync("/admin/gc?dryRun=true", null);
                Assert.Equal(HttpStatusCode.OK, dry.StatusCode);
            }
        }
        finally
        {
            var left = await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket });
            if (left.S3Objects is { Count: > 0 } keys)
            {
                await s3.DeleteObjectsAsync(new DeleteObjectsRequest { BucketName = bucket, Objects = keys.Select(o => new KeyVersion { Key = o.Key }).ToList() });
            }

            await s3.DeleteBucketAsync(bucket);
        }
    }
}
