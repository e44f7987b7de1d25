using System.Buffers;
using System.Net;
using System.Runtime.InteropServices;
using Amazon.S3;
using Amazon.S3.Model;
using ChunkStore.Remote;
using ChunkStore.S3.Diagnostics;

namespace ChunkStore.S3;

/// <summary>
/// <see cref="IRemoteStorage"/> on one S3 bucket through <c>AWSSDK.S3</c>: conditional PUT (<c>If-None-Match: *</c>),
/// GET straight into the caller's memory, HEAD, ListObjectsV2 pages, CopyObject, and DeleteObjects on connections that
/// are never reused. Every attempt goes through <see cref="S3Requests"/> (count, span, error mapping); the concurrency
/// limit and the retries are the decorators of <see cref="Stack"/>.
/// </summary>
/// <remarks>The requests for the store's identity object are counted and named apart
/// (<see cref="S3RequestKind.GetIdentity"/>, <see cref="S3RequestKind.PutIdentity"/>).</remarks>
internal sealed class S3ObjectStorage : IRemoteStorage
{
    /// <summary>
    /// How much younger an object may really be than the sweep computes: the skew estimate is at most half a second low
    /// (the Date header has whole seconds; a slow response only makes it high, the safe side), and a listing's
    /// LastModified may be cut to whole seconds (AWS does). Rounded up.
    /// </summary>
    private static readonly TimeSpan s_skewTolerance = TimeSpan.FromSeconds(2);

    private readonly S3Requests _requests;
    private readonly string _bucket;
    private readonly string _identityKey;

    public S3ObjectStorage(S3BackendOptions options, S3Instrumentation instrumentation)
    {
        _requests = new S3Requests(options, instrumentation);
        _bucket = options.Bucket;
        _identityKey = RemoteStoreIdentity.KeyFor(options.KeyPrefix);
        Description = options.Description;
        Capabilities = new RemoteStorageCapabilities(AtomicPutIfAbsent: options.UseConditionalWrites, s_skewTolerance);
    }

    public string Description { get; }

    public RemoteStorageCapabilities Capabilities { get; }

    /// <summary>Gets the request counters (tests assert the request budget of each operation).</summary>
    internal S3Requests Requests => _requests;

    /// <summary>The storage a store uses on a bucket: <paramref name="bucket"/> under a
    /// <see cref="ConcurrencyLimitedRemoteStorage"/> (<see cref="S3BackendOptions.MaxConcurrentRequests"/>) under a
    /// <see cref="RetryingRemoteStorage"/> (<see cref="S3BackendOptions.RetryCount"/> and the delays), so a retry waits
    /// without holding a slot.</summary>
    /// <param name="bucket">The bucket's adapter; disposed with the result.</param>
    /// <param name="options">The options it was made from.</param>
    /// <returns>The stack.</returns>
    public static IRemoteStorage Stack(S3ObjectStorage bucket, S3BackendOptions options) =>
        new RetryingRemoteStorage(
            new ConcurrencyLimitedRemoteStorage(bucket, options.MaxConcurrentRequests),
            new RemoteRetryPolicy(options.RetryCount, options.RetryBaseDelay, options.RetryMaxDelay));

    public async ValueTask<bool> PutAsync(string key, ReadOnlyMemory<byte> data, bool ifAbsent, ChunkDigest? digest, CancellationToken cancellationToken)
    {
        bool identity = key == _identityKey;
        try
        {
            await _requests.SendAsync(
                identity ? S3RequestKind.PutIdentity : S3RequestKind.Put,
                ct => _requests.Client.PutObjectAsync(
                    new PutObjectRequest
                    {
                        BucketName = _bucket,
                        Key = key,

                        // Every attempt gets a fresh stream over the same bytes: a retry re-reads the body from the start.
                        InputStream = AsStream(data),
                        AutoCloseStream = true,
                        UseChunkEncoding = false,
                        ContentType = identity ? "application/json" : null,
                        IfNoneMatch = ifAbsent ? "*" : null,
                    },
                    ct),
                key,
                cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (AmazonS3Exception ex) when (ifAbsent && ex.StatusCode == HttpStatusCode.PreconditionFailed)
        {
            return false;
        }
        catch (Exception ex) when (IsFailure(ex, cancellationToken))
        {
            throw _requests.Wrap(identity ? "store identity write" : "upload", key, digest, ex);
        }
    }

    public async ValueTask<bool> ExistsAsync(string key, ChunkDigest? digest, CancellationToken cancellationToken)
    {
        try
        {
            await _requests.SendAsync(
                S3RequestKind.Head,
                ct => _requests.Client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = _bucket, Key = key }, ct),
                key,
                cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound)
        {
            return false; // (a HEAD answer has no body: a missing bucket cannot be told from a missing object here)
        }
        catch (Exception ex) when (IsFailure(ex, cancellationToken))
        {
            throw _requests.Wrap("existence check (HEAD)", key, digest, ex);
        }
    }

    public async ValueTask<RemoteRead?> ReadAsync(string key, ChunkDigest? digest, IBufferWriter<byte> destination, CancellationToken cancellationToken)
    {
        bool identity = key == _identityKey;
        try
        {
            return await _requests.SendAsync(
                identity ? S3RequestKind.GetIdentity : S3RequestKind.Get,
                async ct =>
                {
                    using var response = await _requests.Client.GetObjectAsync(new GetObjectRequest { BucketName = _bucket, Key = key }, ct).ConfigureAwait(false);
                    long length = response.ContentLength;
                    if (length > ChunkStoreOptions.MaxChunkSizeLimit)
                    {
                        throw new ChunkCorruptException(Description, digest ?? default, default, length);
                    }

                    var modified = ToTime(response.LastModified) ?? DateTimeOffset.UtcNow;
                    if (length >= 0)
                    {
                        // One copy: straight from the response into the destination (a short body throws
                        // EndOfStreamException, an I/O error: transient).
                        var memory = destination.GetMemory((int)length)[..(int)length];
                        await response.ResponseStream.ReadExactlyAsync(memory, ct).ConfigureAwait(false);
                        return (RemoteRead?)new RemoteRead(memory, modified);
                    }

                    // No Content-Length (never from S3 or RGW for a GET): buffer, then copy once.
                    using var buffer = new MemoryStream();
                    await response.ResponseStream.CopyToAsync(buffer, ct).ConfigureAwait(false);
                    if (buffer.Length > ChunkStoreOptions.MaxChunkSizeLimit)
                    {
                        throw new ChunkCorruptException(Description, digest ?? default, default, buffer.Length);
                    }

                    var target = destination.GetMemory((int)buffer.Length)[..(int)buffer.Length];
                    buffer.GetBuffer().AsMemory(0, (int)buffer.Length).CopyTo(target);
                    return new RemoteRead(target, modified);
                },
                key,
                cancellationToken).ConfigureAwait(false);
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound && ex.ErrorCode != "NoSuchBucket")
        {
            return null;
        }
        catch (Exception ex) when (ex is not ChunkStoreException && IsFailure(ex, cancellationToken))
        {
            throw _requests.Wrap(identity ? "store identity check (is the endpoint up and the bucket there?)" : "download", key, digest, ex);
        }
    }

    public async ValueTask<RemoteListPage> ListPageAsync(string prefix, string? continuation, CancellationToken cancellationToken)
    {
        ListObjectsV2Response response;
        try
        {
            response = await _requests.SendAsync(
                S3RequestKind.List,
                ct => _requests.Client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = _bucket, Prefix = prefix, ContinuationToken = continuation, MaxKeys = 1000 }, ct),
                prefix,
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsFailure(ex, cancellationToken))
        {
            throw _requests.Wrap("listing", prefix, null, ex);
        }

        // SDK v4 collections can be null.
        var objects = response.S3Objects ?? [];
        var page = new RemoteObject[objects.Count];
        for (int i = 0; i < page.Length; i++)
        {
            page[i] = new RemoteObject(objects[i].Key, objects[i].Size ?? 0, ToTime(objects[i].LastModified));
        }

        return new RemoteListPage(page, response.IsTruncated == true ? response.NextContinuationToken : null);
    }

    public async ValueTask<bool> CopyAsync(string source, string target, ChunkDigest? digest)
    {
        try
        {
            await _requests.SendAsync(
                S3RequestKind.Copy,
                ct => _requests.Client.CopyObjectAsync(
                    new CopyObjectRequest { SourceBucket = _bucket, SourceKey = source, DestinationBucket = _bucket, DestinationKey = target },
                    ct),
                source,
                CancellationToken.None).ConfigureAwait(false);
            return true;
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound && ex.ErrorCode != "NoSuchBucket")
        {
            return false;
        }
        catch (Exception ex)
        {
            throw _requests.Wrap("copy to " + target, source, digest, ex);
        }
    }

    /// <remarks>On the delete client: one fresh connection per attempt, and no resend by the SDK or HttpClient
    /// (<see cref="S3Requests.DeleteClient"/>). A DeleteObjects is a POST with a body, which HttpClient never resends by
    /// itself either (it may resend a bodiless DELETE on a reused connection). An answer with per-key errors is an answer
    /// (the SDK throws <see cref="DeleteObjectsException"/> for it): returned, not retried whole.</remarks>
    public async ValueTask<IReadOnlyList<RemoteDeleteError>> DeleteAsync(IReadOnlyList<string> keys, Action beforeAttempt)
    {
        ArgumentOutOfRangeException.ThrowIfZero(keys.Count);
        DeleteObjectsResponse response;
        try
        {
            response = await _requests.SendAsync(
                S3RequestKind.DeleteObjects,
                async ct =>
                {
                    beforeAttempt();
                    try
                    {
                        return await _requests.DeleteClient.DeleteObjectsAsync(
                            new DeleteObjectsRequest { BucketName = _bucket, Quiet = true, Objects = keys.Select(k => new KeyVersion { Key = k }).ToList() },
                            ct).ConfigureAwait(false);
                    }
                    catch (DeleteObjectsException ex) when (ex.Response is { } answered)
                    {
                        return answered;
                    }
                },
                keys[0],
                CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            throw _requests.Wrap(keys.Count == 1 ? "delete" : $"batch delete of {keys.Count} objects", keys[0], null, ex);
        }

        if (response.DeleteErrors is not { Count: > 0 } errors)
        {
            return [];
        }

        return errors.Select(e => new RemoteDeleteError(e.Key, e.Code ?? "", e.Message ?? "")).ToList();
    }

    public TimeSpan? ClockSkew(TimeProvider localClock) => _requests.ServerClock.Skew(localClock);

    public void Dispose() => _requests.Dispose();

    private static DateTimeOffset? ToTime(DateTime? utc) => utc is { } t ? new DateTimeOffset(DateTime.SpecifyKind(t, DateTimeKind.Utc)) : null;

    /// <summary>A failure to wrap: anything but the caller's own cancellation.</summary>
    private static bool IsFailure(Exception ex, CancellationToken cancellationToken) =>
        ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested;

    private static MemoryStream AsStream(ReadOnlyMemory<byte> data) =>
        MemoryMarshal.TryGetArray(data, out var segment) && segment.Array is not null
            ? new MemoryStream(segment.Array, segment.Offset, segment.Count, writable: false)
            : new MemoryStream(data.ToArray(), writable: false);
}
