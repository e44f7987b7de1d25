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
/// that takes a request whole and then resets the connection counts the copies. The requests go through the store's
/// own stack (<see cref="S3ObjectStorage.Stack"/>: retries, concurrency limit, the bucket adapter).
/// </summary>
public class S3HiddenResendTests
{
    public static TheoryData<string> Requests => new() { "DeleteObjects", "PutObject", "CopyObject" };

    [Theory]
    [MemberData(nameof(Requests))]
    public async Task ResetAfterTheRequestWasTaken_ReachesTheServerOnce_WithoutRetries(string request)
    {
        await using var server = new ResettingHttpServer(resets: int.MaxValue);
        var (storage, requests) = NewStorage(server, retryCount: 0);
        using var _ = storage;

        var ex = await Assert.ThrowsAnyAsync<Exception>(() => SendAsync(storage, request));

        Assert.True(ex is ChunkStorageException { IsTransient: true }, $"a reset is a transient failure, got {ex.GetType().Name}: {ex.Message}");
        Assert.Equal(1, server.Received);
        Assert.Equal(1, requests.Total);
    }

    [Theory]
    [MemberData(nameof(Requests))]
    public async Task ResetOfTheFirstCopy_EveryCopyOnTheWireIsACountedAttempt(string request)
    {
        await using var server = new ResettingHttpServer(resets: 1);
        var (storage, requests) = NewStorage(server, retryCount: 2);
        using var _ = storage;

        await SendAsync(storage, request);

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
        var (storage, _) = NewStorage(server, retryCount: 2);
        using var disposeStorage = storage;
        using var root = new TempDirectory();
        var deletes = new PendingDeletes(root.Path, TimeSpan.FromMinutes(2), "test", TimeProvider.System);
        string key = "p/.chunks/0000/" + new string('0', 64);

        using (var intent = deletes.Begin([key]))
        {
            await storage.DeleteAsync([key], intent.Sending);
            intent.Answered();
        }

        Assert.Equal(2, server.Received);
        Assert.NotNull(deletes.Unsettled(key));
    }

    private const string Bucket = "resend-test";

    private static (IRemoteStorage Storage, S3Requests Requests) NewStorage(ResettingHttpServer server, int retryCount)
    {
        var options = new S3BackendOptions
        {
            Endpoint = server.Endpoint,
            Bucket = Bucket,
            AccessKey = "test",
            SecretKey = "test-secret",
            RetryCount = retryCount,
            RetryBaseDelay = TimeSpan.FromMilliseconds(10),
        };
        var bucket = new S3ObjectStorage(options, new S3Instrumentation(null));
        return (S3ObjectStorage.Stack(bucket, options), bucket.Requests);
    }

    /// <summary>One request of the named kind, as the store sends it.</summary>
    private static Task SendAsync(IRemoteStorage storage, string request) => request switch
    {
        "DeleteObjects" => storage.DeleteAsync(["a", "b"], () => { }).AsTask(),
        "PutObject" => storage.PutAsync("a", new byte[4096], ifAbsent: true, null, CancellationToken.None).AsTask(),
        "CopyObject" => storage.CopyAsync("a", "a.0.bad", null).AsTask(),
        _ => throw new ArgumentOutOfRangeException(nameof(request)),
    };
}
