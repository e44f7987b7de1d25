namespace ChunkStore.S3;

/// <summary>Settings of the S3 backend: where the bucket is, how to talk to it, and how much to cache locally.</summary>
/// <remarks>
/// Setters validate their value. The secret key is never logged, and <see cref="ToString"/> redacts both keys.
/// The defaults suit S3-compatible servers that are not AWS (Ceph RGW, MinIO): path-style addressing, and checksums
/// only when an operation requires them.
/// </remarks>
public sealed class S3BackendOptions
{
    /// <summary>The largest number of keys one DeleteObjects request accepts (S3 limit).</summary>
    public const int MaxDeleteBatchSize = 1000;

    private Uri? _endpoint;
    private string _region = "us-east-1";
    private string _bucket = "";
    private string _keyPrefix = "";
    private string _accessKey = "";
    private string _secretKey = "";
    private int _maxConcurrentRequests = 16;
    private int _retryCount = 3;
    private TimeSpan _retryBaseDelay = TimeSpan.FromMilliseconds(200);
    private int _deleteBatchSize = 100;
    private TimeSpan _deleteBatchMaxAge = TimeSpan.FromMinutes(5);
    private long _cacheCapacityBytes = 1L << 30;
    private TimeSpan _requestTimeout = TimeSpan.FromMinutes(30);
    private TimeSpan _deleteSettleTime = TimeSpan.FromMinutes(2);
    private TimeSpan _retryMaxDelay = TimeSpan.FromSeconds(20);
    private TimeSpan _maxClockSkew = TimeSpan.FromMinutes(5);

    /// <summary>Gets or sets the endpoint URL, e.g. <c>http://127.0.0.1:7480</c>; required.</summary>
    /// <exception cref="ArgumentException">The URI is not absolute http(s).</exception>
    public Uri? Endpoint
    {
        get => _endpoint;
        set
        {
            if (value is not null && (!value.IsAbsoluteUri || (value.Scheme != Uri.UriSchemeHttp && value.Scheme != Uri.UriSchemeHttps)))
            {
                throw new ArgumentException($"The S3 endpoint must be an absolute http or https URI; got '{value}'.", nameof(value));
            }

            _endpoint = value;
        }
    }

    /// <summary>Gets or sets the signing region. Default <c>us-east-1</c> (what most non-AWS servers expect).</summary>
    public string Region
    {
        get => _region;
        set
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(value);
            _region = value;
        }
    }

    /// <summary>Gets or sets the bucket name (3–63 characters: lowercase letters, digits, dots and hyphens); required.</summary>
    /// <exception cref="ArgumentException">Not a valid bucket name.</exception>
    public string Bucket
    {
        get => _bucket;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            if (value.Length is < 3 or > 63 || !value.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '.' or '-')
                || !char.IsAsciiLetterOrDigit(value[0]) || !char.IsAsciiLetterOrDigit(value[^1]))
            {
                throw new ArgumentException($"'{value}' is not a valid S3 bucket name (3-63 characters of a-z, 0-9, '.', '-', starting and ending with a letter or digit).", nameof(value));
            }

            _bucket = value;
        }
    }

    /// <summary>Gets or sets the key prefix under which the store lives (objects are <c>&lt;prefix&gt;/.chunks/&lt;4hex&gt;/&lt;64hex&gt;</c>). Default empty.</summary>
    /// <remarks>Leading and trailing slashes are removed. Several stores can share a bucket with different prefixes.</remarks>
    public string KeyPrefix
    {
        get => _keyPrefix;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            string trimmed = value.Trim('/');
            if (trimmed.Length > 900 || trimmed.Contains("//", StringComparison.Ordinal) || trimmed.Any(char.IsControl))
            {
                throw new ArgumentException($"'{value}' is not a usable key prefix (at most 900 characters, no empty segments, no control characters).", nameof(value));
            }

            _keyPrefix = trimmed;
        }
    }

    /// <summary>Gets or sets the access key id.</summary>
    public string AccessKey
    {
        get => _accessKey;
        set => _accessKey = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>Gets or sets the secret access key. Never logged; <see cref="ToString"/> redacts it.</summary>
    public string SecretKey
    {
        get => _secretKey;
        set => _secretKey = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>Gets or sets whether to address buckets by path (<c>http://host/bucket/key</c>). Default <see langword="true"/>, which every S3-compatible server accepts.</summary>
    public bool ForcePathStyle { get; set; } = true;

    /// <summary>Gets or sets when request and response checksums are computed. Default <see cref="S3ChecksumMode.WhenRequired"/>: the SDK's "when supported" mode sends a streaming trailer that Ceph RGW rejects.</summary>
    public S3ChecksumMode ChecksumMode { get; set; } = S3ChecksumMode.WhenRequired;

    /// <summary>
    /// Gets or sets whether inserts use a conditional PUT (<c>If-None-Match: *</c>). Default <see langword="true"/>.
    /// Set <see langword="false"/> for providers that reject the header: inserts then HEAD and PUT under the chunk's lock.
    /// </summary>
    public bool UseConditionalWrites { get; set; } = true;

    /// <summary>Gets or sets the most requests this backend has in flight at once. Default 16.</summary>
    public int MaxConcurrentRequests
    {
        get => _maxConcurrentRequests;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, 1024);
            _maxConcurrentRequests = value;
        }
    }

    /// <summary>Gets or sets how often a failed request is retried (transport errors, 5xx, 409 on a conditional PUT). Default 3; 0–10.</summary>
    public int RetryCount
    {
        get => _retryCount;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, 10);
            _retryCount = value;
        }
    }

    /// <summary>
    /// Gets or sets the first retry's delay bound. Retry <c>n</c> (from 0) waits a random time between zero and
    /// <c>min(RetryMaxDelay, RetryBaseDelay × 3ⁿ)</c> ("full jitter": clients that failed together do not retry
    /// together). Default 200 ms.
    /// </summary>
    public TimeSpan RetryBaseDelay
    {
        get => _retryBaseDelay;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.Zero);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, TimeSpan.FromMinutes(1));
            _retryBaseDelay = value;
        }
    }

    /// <summary>Gets or sets the longest a retry waits (the cap of the exponential back-off). Default 20 seconds.</summary>
    public TimeSpan RetryMaxDelay
    {
        get => _retryMaxDelay;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.Zero);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, TimeSpan.FromMinutes(10));
            _retryMaxDelay = value;
        }
    }

    /// <summary>
    /// Gets or sets how far this host's clock may be from the server's before garbage collection refuses to run.
    /// Default 5 minutes. The sweep compares local access times and the store's clock with the objects'
    /// <c>LastModified</c> (server time); each collection measures the skew from the server's <c>Date</c> header and
    /// fails with <see cref="S3ClockSkewException"/> beyond this bound.
    /// </summary>
    public TimeSpan MaxClockSkew
    {
        get => _maxClockSkew;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.FromSeconds(5));
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, TimeSpan.FromHours(1));
            _maxClockSkew = value;
        }
    }

    /// <summary>
    /// Gets or sets whether opening makes this local root the store's one local root although the store's identity
    /// object names another one. Default <see langword="false"/>: such an open fails with
    /// <see cref="S3StoreIdentityException"/>.
    /// </summary>
    /// <remarks>
    /// Set it only when the old local root is gone for good (a lost disk, a rebuilt host): the old root's markers and
    /// access times are what garbage collection trusted, and a store has exactly one local root. After a take-over
    /// the old root, if it still exists, is refused at its next open and at its next garbage collection. The new root
    /// starts with an empty cache; garbage collection rebuilds its markers from the referenced digests, and objects
    /// that no longer have local state are kept until their <c>LastModified</c> is older than the cutoff.
    /// </remarks>
    public bool TakeOverStore { get; set; }

    /// <summary>Gets or sets the timeout of one request. Default 30 minutes (large chunks on slow links).</summary>
    public TimeSpan RequestTimeout
    {
        get => _requestTimeout;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.FromSeconds(1));
            _requestTimeout = value;
        }
    }

    /// <summary>
    /// Gets or sets how many keys garbage collection deletes per DeleteObjects request. Default 100, at most
    /// <see cref="MaxDeleteBatchSize"/>. The chunk locks of a batch's keys are held only while that batch executes:
    /// from the re-check of each key until its DeleteObjects request returns.
    /// </summary>
    public int DeleteBatchSize
    {
        get => _deleteBatchSize;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, MaxDeleteBatchSize);
            _deleteBatchSize = value;
        }
    }

    /// <summary>
    /// Gets or sets how long a delete request whose outcome is unknown — its sender died, or the connection failed after
    /// the request went out — may still reach the server and take effect. Default 2 minutes. Until then, an insert that
    /// finds no local marker but an existing object (HTTP 412) for such a key does not trust the object: it waits for
    /// the remaining time, then uploads again. Only happens after a crash or network error during a delete; raise it
    /// when requests can sit longer in proxies or load balancers between this host and the server.
    /// </summary>
    public TimeSpan DeleteSettleTime
    {
        get => _deleteSettleTime;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.Zero);
            _deleteSettleTime = value;
        }
    }

    /// <summary>Gets or sets how long garbage collection lets planned deletes wait before executing them even when the batch is not full. Default 5 minutes.</summary>
    public TimeSpan DeleteBatchMaxAge
    {
        get => _deleteBatchMaxAge;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.Zero);
            _deleteBatchMaxAge = value;
        }
    }

    /// <summary>
    /// Gets or sets how many bytes of full chunks the local cache keeps (least recently used ones become empty
    /// markers). Default 1 GiB; 0 keeps markers only. The bound holds across restarts.
    /// </summary>
    public long CacheCapacityBytes
    {
        get => _cacheCapacityBytes;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _cacheCapacityBytes = value;
        }
    }

    /// <summary>
    /// Gets or sets whether an insert that uploads a chunk keeps its full copy in the local cache. Default
    /// <see langword="false"/>: the insert keeps only the empty marker (what the object's safety needs) and the full
    /// copy is cached by the first read; backups write far more than they read back soon. Either file is written while
    /// the upload is in flight and put in place, under the chunk's lock, only once the object exists.
    /// </summary>
    public bool CacheOnInsert { get; set; }

    /// <summary>Returns a description without secrets.</summary>
    /// <returns>Endpoint, bucket and prefix, with the keys redacted.</returns>
    public override string ToString() =>
        $"S3BackendOptions {{ Endpoint = {_endpoint}, Region = {_region}, Bucket = {_bucket}, KeyPrefix = {_keyPrefix}, AccessKey = {(_accessKey.Length == 0 ? "" : "***")}, SecretKey = {(_secretKey.Length == 0 ? "" : "***")} }}";

    /// <summary>Gets the store description used in messages: <c>s3://bucket/prefix</c>.</summary>
    internal string Description => _keyPrefix.Length == 0 ? $"s3://{_bucket}" : $"s3://{_bucket}/{_keyPrefix}";

    /// <summary>Checks the settings that have no default.</summary>
    /// <exception cref="ArgumentException">Endpoint or bucket missing.</exception>
    internal void Validate()
    {
        if (_endpoint is null)
        {
            throw new ArgumentException("S3BackendOptions.Endpoint is required.", "s3");
        }

        if (_bucket.Length == 0)
        {
            throw new ArgumentException("S3BackendOptions.Bucket is required.", "s3");
        }
    }

    /// <summary>Copies the options so later changes by the caller do not affect an open store.</summary>
    internal S3BackendOptions Clone() => (S3BackendOptions)MemberwiseClone();
}

/// <summary>When the S3 client computes and validates checksums.</summary>
public enum S3ChecksumMode
{
    /// <summary>Only when the operation requires it (works with Ceph RGW, MinIO, AWS).</summary>
    WhenRequired,

    /// <summary>Whenever the operation supports it (the AWS SDK's default; rejected by some non-AWS servers).</summary>
    WhenSupported,
}
