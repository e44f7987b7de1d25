using System.Net;
using System.Net.Sockets;
using Amazon.Runtime;
using Amazon.S3;
using ChunkStore.S3.Diagnostics;

namespace ChunkStore.S3;

/// <summary>The kinds of S3 request the backend makes, for counting.</summary>
internal enum S3RequestKind
{
    HeadBucket,
    Put,
    Get,
    Head,
    List,
    DeleteObjects,
    Copy,
    DeleteObject,
}

/// <summary>
/// Every request of the backend goes through here: a concurrency limit, bounded retries with backoff for transient
/// failures (transport errors, timeouts, 5xx, 429), a count per request kind (tests assert the request budget of
/// each operation), and the mapping of errors to <see cref="ChunkStorageException"/>.
/// </summary>
internal sealed class S3Requests : IDisposable
{
    private readonly long[] _counts = new long[Enum.GetValues<S3RequestKind>().Length];
    private readonly SemaphoreSlim _slots;
    private readonly int _retryCount;
    private readonly TimeSpan _retryBaseDelay;
    private readonly string _store;
    private readonly string _bucket;
    private readonly S3Instrumentation _instrumentation;

    public S3Requests(S3BackendOptions options, S3Instrumentation instrumentation)
    {
        _instrumentation = instrumentation;
        _bucket = options.Bucket;
        _slots = new SemaphoreSlim(options.MaxConcurrentRequests, options.MaxConcurrentRequests);
        _retryCount = options.RetryCount;
        _retryBaseDelay = options.RetryBaseDelay;
        _store = options.Description;
        var config = new AmazonS3Config
        {
            ServiceURL = options.Endpoint!.ToString(),
            ForcePathStyle = options.ForcePathStyle,
            AuthenticationRegion = options.Region,
            RequestChecksumCalculation = options.ChecksumMode == S3ChecksumMode.WhenRequired ? RequestChecksumCalculation.WHEN_REQUIRED : RequestChecksumCalculation.WHEN_SUPPORTED,
            ResponseChecksumValidation = options.ChecksumMode == S3ChecksumMode.WhenRequired ? ResponseChecksumValidation.WHEN_REQUIRED : ResponseChecksumValidation.WHEN_SUPPORTED,

            // Retries are ours (counted, with our backoff); the SDK's would hide requests from the count. That includes
            // its "stale connection" retries: when a connection is reset after the request went out (the server, a proxy
            // or a balancer may already have acted on it), the SDK sends it again, up to MaxStaleConnectionRetries
            // (default 10) more times, outside MaxErrorRetry. Each such copy is an attempt the store must know of: a
            // pending-delete record is cleared only when its one attempt was answered (PendingDeletes).
            MaxErrorRetry = 0,
            MaxStaleConnectionRetries = 0,
            Timeout = options.RequestTimeout,
            MaxConnectionsPerServer = options.MaxConcurrentRequests,
        };
        Client = new AmazonS3Client(new BasicAWSCredentials(options.AccessKey, options.SecretKey), config);

        // Deletes go out on a connection of their own that is never reused: HttpClient silently resends a request when a
        // reused keep-alive connection fails before any response byte. Such a hidden copy of a delete could arrive after
        // the answer we act on (PendingDeletes counts on "answered at the first attempt" meaning one copy was sent). The
        // SDK's own stale-connection resend is off here too (above): it fires on fresh connections alike.
        var deleteConfig = new AmazonS3Config
        {
            ServiceURL = config.ServiceURL,
            ForcePathStyle = config.ForcePathStyle,
            AuthenticationRegion = config.AuthenticationRegion,
            RequestChecksumCalculation = config.RequestChecksumCalculation,
            ResponseChecksumValidation = config.ResponseChecksumValidation,
            MaxErrorRetry = 0,
            MaxStaleConnectionRetries = 0,
            Timeout = options.RequestTimeout,
            HttpClientFactory = new FreshConnectionHttpClientFactory(options.RequestTimeout, options.MaxConcurrentRequests),
        };
        DeleteClient = new AmazonS3Client(new BasicAWSCredentials(options.AccessKey, options.SecretKey), deleteConfig);
    }

    public IAmazonS3 Client { get; }

    /// <summary>Gets the client for delete requests: one fresh connection per request and no resend by the SDK or HttpClient, so every copy on the wire is an attempt we counted.</summary>
    public IAmazonS3 DeleteClient { get; }

    /// <summary>Gets the number of requests sent so far of one kind (retries included).</summary>
    public long Count(S3RequestKind kind) => Interlocked.Read(ref _counts[(int)kind]);

    /// <summary>Gets the number of requests sent so far, all kinds.</summary>
    public long Total
    {
        get
        {
            long total = 0;
            for (int i = 0; i < _counts.Length; i++)
            {
                total += Interlocked.Read(ref _counts[i]);
            }

            return total;
        }
    }

    /// <summary>Runs one request with the concurrency limit and retries; <paramref name="isRetryable"/> can add retryable conditions (409 on a conditional PUT).</summary>
    /// <remarks><paramref name="key"/> (object key or listing prefix) only names the request in its span.</remarks>
    public async Task<T> SendAsync<T>(S3RequestKind kind, Func<CancellationToken, Task<T>> request, CancellationToken cancellationToken, Func<AmazonS3Exception, bool>? isRetryable = null, string? key = null)
    {
        for (int attempt = 0; ; attempt++)
        {
            await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                Interlocked.Increment(ref _counts[(int)kind]);
                if (!_instrumentation.ObservesRequests)
                {
                    return await request(cancellationToken).ConfigureAwait(false);
                }

                return await ObservedAsync(kind, request, key, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (attempt < _retryCount && !cancellationToken.IsCancellationRequested
                && (IsTransient(ex) || (ex is AmazonS3Exception s3 && isRetryable?.Invoke(s3) == true)))
            {
                // Retry below, after releasing the slot.
            }
            finally
            {
                _slots.Release();
            }

            var delay = _retryBaseDelay * Math.Pow(3, attempt);
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>One attempt with its span, count and duration (only when someone listens).</summary>
    private async Task<T> ObservedAsync<T>(S3RequestKind kind, Func<CancellationToken, Task<T>> request, string? key, CancellationToken cancellationToken)
    {
        var activity = S3Instrumentation.StartRequest(kind, _bucket, key);
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            var result = await request(cancellationToken).ConfigureAwait(false);
            _instrumentation.RecordRequest(kind, start, null, activity);
            return result;
        }
        catch (Exception ex)
        {
            _instrumentation.RecordRequest(kind, start, ex, activity);
            throw;
        }
    }

    /// <summary>True for failures where a retry can help: transport errors, timeouts, 5xx, 429.</summary>
    public static bool IsTransient(Exception ex) => ex switch
    {
        AmazonServiceException { StatusCode: >= HttpStatusCode.InternalServerError } => true,
        AmazonServiceException { StatusCode: HttpStatusCode.TooManyRequests } => true,
        AmazonServiceException { StatusCode: 0 } => true,
        AmazonServiceException { InnerException: HttpRequestException or IOException or SocketException } => true,
        HttpRequestException or IOException or SocketException => true,
        TimeoutException => true,
        OperationCanceledException => true, // only reached for the SDK's own timeout (callers' cancellation is filtered out)
        AmazonClientException => true,
        _ => false,
    };

    public static bool IsNotFound(AmazonS3Exception ex) => ex.StatusCode == HttpStatusCode.NotFound;

    /// <summary>Wraps a request failure in a <see cref="ChunkStorageException"/> (kind Network) naming store, chunk, key and cause.</summary>
    public ChunkStorageException Wrap(string action, string? key, ChunkDigest? digest, Exception ex)
    {
        string chunk = digest is { } d ? $" for chunk {d}" : "";
        string status = ex is AmazonServiceException ase && ase.StatusCode != 0 ? $" (HTTP {(int)ase.StatusCode} {ase.ErrorCode})" : "";
        bool transient = IsTransient(ex);
        return new ChunkStorageException(
            $"Store {_store}: S3 {action}{(key is null ? "" : " of " + key)}{chunk} failed{status}: {ex.Message} ({(transient ? "a network or server error; retrying later can help" : "the server refused the request; check the bucket, credentials and permissions")}).",
            StorageErrorKind.Network,
            transient,
            ex)
        {
            Store = _store,
            Digest = digest,
        };
    }

    public void Dispose()
    {
        Client.Dispose();
        DeleteClient.Dispose();
        _slots.Dispose();
    }
}

/// <summary>HttpClients whose connections are closed after every request (<c>Connection: close</c>, pooled lifetime zero).</summary>
internal sealed class FreshConnectionHttpClientFactory(TimeSpan timeout, int maxConnections) : HttpClientFactory
{
    public override HttpClient CreateHttpClient(IClientConfig clientConfig)
    {
        var sockets = new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.Zero,
            MaxConnectionsPerServer = maxConnections,
            AllowAutoRedirect = false,
        };
        return new HttpClient(new ConnectionCloseHandler(sockets)) { Timeout = timeout };
    }

    private sealed class ConnectionCloseHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            request.Headers.ConnectionClose = true;
            return base.SendAsync(request, cancellationToken);
        }
    }
}
