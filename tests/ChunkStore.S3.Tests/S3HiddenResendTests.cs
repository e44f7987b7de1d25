using Amazon.S3.Model;
using ChunkStore.S3.Diagnostics;
using ChunkStore.S3.Tests.Infrastructure;
using ChunkStore.Tests.Infrastructure;
using ChunkStore.Remote;

namespace ChunkStore.S3.Tests;

/// <summary>
/// Every copy of a request that reaches the wire is an attempt the store counts. The pending-delete record
/// (<see cref="PendingDeletes"/>) is cleared only when "the first attempt was answered", which is sound only if no
/// layer below resends on its own: the AWS SDK retries a request whose connection was reset after it was sent
/// ("stale connection" retries, <c>MaxStaleConnectionRetries</c>, default 10) outside <c>MaxErrorRetry</c>. A server
/// that takes a request whole and then resets the connection counts the copies.
/// </summary>
public class S3HiddenResendTests
{
    public static TheoryData<string> Requests => new() { "DeleteObjects", "PutObject", "CopyObject" };

    [Theory]
    [MemberData(nameof(Requests))]
    public async Task ResetAfterTheRequestWasTaken_ReachesTheServerOnce_WithoutRetries(string request)
    {
        await using var server = new ResettingHttpServer(resets: int.MaxValue);
        using var requests = NewRequests(server, retryCount: 0);

        var ex = await Assert.ThrowsAnyAsync<Exception>(() => SendAsync(requests, request));

        Assert.True(S3Requests.IsTransient(ex), $"a reset is a transient failure, got {ex.GetType().Name}: {ex.Message}");
        Assert.Equal(1, server.Received);
        Assert.Equal(1, requests.Total);
    }

    [Theory]
    [MemberData(nameof(Requests))]
    public async Task ResetOfTheFirstCopy_EveryCopyOnTheWireIsACountedAttempt(string request)
    {
        await using var server = new ResettingHttpServer(resets: 1);
        using var requests = NewRequests(server, retryCount: 2);

        await SendAsync(requests, request);

        // Two copies reached the server (the first may have taken effect): the store must know it sent two.
        Assert.Equal(2, server.Received);
        Assert.Equal(server.Received, requests.Total);
    }

    [Fact]
    public async Task RecordedDelete_AnsweredAfterAResetCopy_IsNotCleared()
    {
        // The GC's and rename's path: a delete whose first copy was reset and whose second was answered leaves its
        // record, because the first copy may still land (a proxy or balancer holding it).
        await using var server = new ResettingHttpServer(resets: 1);
        using var requests = NewRequests(server, retryCount: 2);
        using var root = new TempDirectory();
        var deletes = new PendingDeletes(root.Path, TimeSpan.FromMinutes(2), "test", TimeProvider.System);
        string key = "p/.chunks/0000/" + new string('0', 64);

        using (var intent = deletes.Begin([key]))
        {
            await requests.SendAsync(
                S3RequestKind.DeleteObjects,
                ct =>
                {
                    intent.Sending();
                    return requests.DeleteClient.DeleteObjectsAsync(new DeleteObjectsRequest { BucketName = Bucket, Objects = [new KeyVersion { Key = key }] }, ct);
                },
                CancellationToken.None);
            intent.Answered();
        }

        Assert.Equal(2, server.Received);
        Assert.NotNull(deletes.Unsettled(key));
    }

    private const string Bucket = "resend-test";

    private static S3Requests NewRequests(ResettingHttpServer server, int retryCount) => new(
        new S3BackendOptions
        {
            Endpoint = server.Endpoint,
            Bucket = Bucket,
            AccessKey = "test",
            SecretKey = "test-secret",
            RetryCount = retryCount,
            RetryBaseDelay = TimeSpan.FromMilliseconds(10),
        },
        new S3Instrumentation(null));

    /// <summary>One request of the named kind on the client the store uses for it.</summary>
    private static Task SendAsync(S3Requests requests, string request) => request switch
    {
        "DeleteObjects" => requests.SendAsync(
            S3RequestKind.DeleteObjects,
            ct => requests.DeleteClient.DeleteObjectsAsync(new DeleteObjectsRequest { BucketName = Bucket, Objects = [new KeyVersion { Key = "a" }, new KeyVersion { Key = "b" }] }, ct),
            CancellationToken.None),
        "PutObject" => requests.SendAsync(
            S3RequestKind.Put,
            ct => requests.Client.PutObjectAsync(
                new PutObjectRequest { BucketName = Bucket, Key = "a", InputStream = new MemoryStream(new byte[4096]), UseChunkEncoding = false, IfNoneMatch = "*" },
                ct),
            CancellationToken.None),
        "CopyObject" => requests.SendAsync(
            S3RequestKind.Copy,
            ct => requests.Client.CopyObjectAsync(new CopyObjectRequest { SourceBucket = Bucket, SourceKey = "a", DestinationBucket = Bucket, DestinationKey = "a.0.bad" }, ct),
            CancellationToken.None),
        _ => throw new ArgumentOutOfRangeException(nameof(request)),
    };
}
