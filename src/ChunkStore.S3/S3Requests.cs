using System.Net;
using System.Net.Sockets;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using ChunkStore.S3.Diagnostics;
using ChunkStore.Remote;

namespace ChunkStore.S3;

/// <summary>The kinds of S3 request the backend makes, for counting.</summary>
internal enum S3RequestKind
{
    GetIdentity,
    PutIdentity,
    Put,
    Get,
    Head,
    List,
    DeleteObjects,
    Copy,
}

/// <summary>
/// Every S3 request goes through here: the SDK clients, a count per request kind (every attempt: tests assert the
/// request budget of each operation), spans and durations, and the mapping of errors to
/// <see cref="ChunkStorageException"/> (transient or not). The concurrency limit and the retries are decorators above
/// the storage (<see cref="ConcurrencyLimitedRemoteStorage"/>, <see cref="RetryingRemoteStorage"/>).
/// </summary>
internal sealed class S3Requests : IDisposable
{
    private readonly long[] _counts = new long[Enum.GetValues<S3RequestKind>().Length];
    private readonly string _store;
    private readonly string _bucket;
    private readonly S3Instrumentation _instrumentation;

    public S3Requests(S3BackendOptions options, S3Instrumentation instrumentation)
    {
        _instrumentation = instrumentation;
        _bucket = options.Bucket;
        _store = options.Description;
        // Retries are ours (counted, with our backoff); the SDK's would hide requests from the count. That includes its
        // "stale connection" retries: when a connection is reset after the request went out (the server, a proxy or a
        // balancer may already have acted on it), the SDK sends it again, up to MaxStaleConnectionRetries (default 10)
        // more times, outside MaxErrorRetry. Each such copy is an attempt the store must know of: a pending-delete
        // record is cleared only when its one attempt was answered (PendingDeletes).
        AmazonS3Config Config(bool freshConnections) => new()
        {
            ServiceURL = options.Endpoint!.ToString(),
            ForcePathStyle = options.ForcePathStyle,
            AuthenticationRegion = options.Region,
            RequestChecksumCalculation = options.ChecksumMode == S3ChecksumMode.WhenRequired ? RequestChecksumCalculation.WHEN_REQUIRED : RequestChecksumCalculation.WHEN_SUPPORTED,
            ResponseChecksumValidation = options.ChecksumMode == S3ChecksumMode.WhenRequired ? ResponseChecksumValidation.WHEN_REQUIRED : ResponseChecksumValidation.WHEN_SUPPORTED,
            MaxErrorRetry = 0,
            MaxStaleConnectionRetries = 0,
            Timeout = options.RequestTimeout,
            HttpClientFactory = new ClockedHttpClientFactory(ServerClock, options.RequestTimeout, options.MaxConcurrentRequests, freshConnections),
        };

        var config = Config(freshConnections: false);
        config.MaxConnectionsPerServer = options.MaxConcurrentRequests;
        Client = new AmazonS3Client(new BasicAWSCredentials(options.AccessKey, options.SecretKey), config);

        // Deletes go out on a connection of their own that is never reused: HttpClient silently resends a request when a
        // reused keep-alive connection fails before any response byte. Such a hidden copy of a delete could arrive after
        // the answer we act on (PendingDeletes counts on "answered at the first attempt" meaning one copy was sent). The
        // SDK's own stale-connection resend is off here too (above): it fires on fresh connections alike.
        DeleteClient = new AmazonS3Client(new BasicAWSCredentials(options.AccessKey, options.SecretKey), Config(freshConnections: true));
    }

    public IAmazonS3 Client { get; }

    /// <summary>Gets the server's clock as seen in the <c>Date</c> header of the latest response.</summary>
    public ServerClock ServerClock { get; } = new();

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

    /// <summary>Sends one attempt of a request: counted, and observed when someone listens.</summary>
    /// <param name="kind">The request kind.</param>
    /// <param name="request">The attempt.</param>
    /// <param name="key">The object key or listing prefix; it only names the request in its span.</param>
    /// <param name="cancellationToken">Passed to the attempt.</param>
    /// <returns>The attempt's answer.</returns>
    public Task<T> SendAsync<T>(S3RequestKind kind, Func<CancellationToken, Task<T>> request, string? key, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _counts[(int)kind]);
        return _instrumentation.ObservesRequests ? ObservedAsync(kind, request, key, cancellationToken) : request(cancellationToken);
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

    /// <summary>
    /// True for failures where a retry can help: transport errors and timeouts, 5xx, 429, and the few 4xx answers that
    /// mean "try again" (408, 409 — a conflicting concurrent write —, S3's <c>RequestTimeout</c> and <c>SlowDown</c>). Every other answer from the server
    /// (403 wrong credentials or signature, 404 missing bucket, 400 bad request) and every SDK error that is not caused
    /// by the transport (configuration, signing, a bad endpoint) is permanent: a retry loop would never end.
    /// </summary>
    public static bool IsTransient(Exception ex) => ex switch
    {
        AmazonServiceException { StatusCode: >= HttpStatusCode.InternalServerError } => true,
        AmazonServiceException { StatusCode: HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout } => true,
        AmazonServiceException { ErrorCode: "RequestTimeout" or "SlowDown" } => true,
        AmazonServiceException { StatusCode: HttpStatusCode.Conflict } => true, // a concurrent (conditional) write: try again
        AmazonServiceException { StatusCode: not 0 } => false,
        HttpRequestException or IOException or SocketException => true,
        TimeoutException => true,
        OperationCanceledException => true, // only reached for the SDK's own timeout (callers' cancellation is filtered out)
        AmazonClientException => ex.InnerException is { } inner && IsTransient(inner), // (AmazonServiceException without a status too)
        _ => false,
    };

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
    }
}

/// <summary>
/// The S3 clients' HttpClients: every response's <c>Date</c> header goes to the <see cref="ServerClock"/>; with
/// <c>freshConnections</c> every request gets a connection of its own that is closed after it (<c>Connection: close</c>,
/// pooled lifetime zero), so HttpClient never resends a request on a reused connection behind our back.
/// </summary>
internal sealed class ClockedHttpClientFactory(ServerClock clock, TimeSpan timeout, int maxConnections, bool freshConnections) : HttpClientFactory
{
    public override HttpClient CreateHttpClient(IClientConfig clientConfig)
    {
        var sockets = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = maxConnections,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
        };
        if (freshConnections)
        {
            sockets.PooledConnectionLifetime = TimeSpan.Zero;
        }

        return new HttpClient(new Handler(sockets, clock, freshConnections)) { Timeout = timeout };
    }

    private sealed class Handler(HttpMessageHandler inner, ServerClock clock, bool connectionClose) : DelegatingHandler(inner)
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (connectionClose)
            {
                request.Headers.ConnectionClose = true;
            }

            var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (response.Headers.Date is { } date)
            {
                clock.Record(date);
            }

            return response;
        }
    }
}
