using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using Amazon.S3;
using ChunkStore.Remote;

namespace ChunkStore.S3.Diagnostics;

/// <summary>
/// The S3 package's <see cref="Meter"/> and <see cref="ActivitySource"/>, both named <c>ChunkStore.S3</c>, with
/// OpenTelemetry-style instrument names and units. Every recording checks <c>Enabled</c> / <c>HasListeners()</c> first,
/// so nothing is allocated or timed when nobody listens.
/// </summary>
/// <remarks>
/// <para>Instruments: <c>chunkstore.s3.requests</c> ({request}; tags <c>chunkstore.s3.request</c> = get_identity | put_identity | put |
/// get | head | list | delete_objects | copy, and <c>chunkstore.s3.result</c> = ok | not_found |
/// precondition_failed | error; every attempt counts, retries included), <c>chunkstore.s3.request.duration</c> (s; same
/// tags), <c>chunkstore.s3.cache.hits</c> and <c>chunkstore.s3.cache.misses</c> ({chunk}; reads served from a full local
/// file, and reads that had to fetch the object), <c>chunkstore.s3.cache.evictions</c> ({chunk}; full local files the LRU
/// evicted for capacity).</para>
/// <para>Spans: <c>chunkstore.s3.&lt;request&gt;</c> (client) per attempt with tags <c>aws.s3.bucket</c>,
/// <c>aws.s3.key</c> (the object key or listing prefix; never credentials), <c>chunkstore.s3.result</c> and
/// <c>http.response.status_code</c> on failure; <c>chunkstore.s3.gc.prepare</c>, <c>chunkstore.s3.gc.sweep_objects</c>
/// and <c>chunkstore.s3.gc.sweep_local</c> for the backend's garbage-collection phases (children of the core's
/// <c>chunkstore.gc.*</c> spans when those are recorded).</para>
/// </remarks>
internal sealed class S3Instrumentation : IRemoteBackendInstrumentation
{
    public const string Name = "ChunkStore.S3";

    public const string RequestTag = "chunkstore.s3.request";

    public const string ResultTag = "chunkstore.s3.result";

    public static readonly ActivitySource ActivitySource = new(Name, typeof(S3Instrumentation).Assembly.GetName().Version?.ToString());

    private static readonly string[] s_kindNames = Enum.GetValues<S3RequestKind>().Select(KindName).ToArray();
    private static readonly string[] s_spanNames = s_kindNames.Select(n => "chunkstore.s3." + n).ToArray();

    private readonly Meter _meter;
    private readonly bool _ownsMeter;

    public S3Instrumentation(IMeterFactory? meterFactory)
    {
        if (meterFactory is not null)
        {
            _meter = meterFactory.Create(Name);
        }
        else
        {
            _meter = new Meter(Name);
            _ownsMeter = true;
        }

        Requests = _meter.CreateCounter<long>("chunkstore.s3.requests", "{request}", "S3 requests sent (every attempt), by request kind and result.");
        RequestDuration = _meter.CreateHistogram<double>("chunkstore.s3.request.duration", "s", "Duration of S3 requests (every attempt), by request kind and result.");
        CacheHits = _meter.CreateCounter<long>("chunkstore.s3.cache.hits", "{chunk}", "Chunk reads served from a full file in the local cache.");
        CacheMisses = _meter.CreateCounter<long>("chunkstore.s3.cache.misses", "{chunk}", "Chunk reads that had to fetch the object from the bucket.");
        CacheEvictions = _meter.CreateCounter<long>("chunkstore.s3.cache.evictions", "{chunk}", "Full local files evicted from the cache for capacity.");
    }

    /// <summary>Gets the meter (tests filter their listener to this instance).</summary>
    public Meter Meter => _meter;

    public Counter<long> Requests { get; }

    public Histogram<double> RequestDuration { get; }

    public Counter<long> CacheHits { get; }

    public Counter<long> CacheMisses { get; }

    public Counter<long> CacheEvictions { get; }

    /// <summary>Gets whether a request needs to be observed at all (a metric or span listener exists).</summary>
    public bool ObservesRequests => Requests.Enabled || RequestDuration.Enabled || ActivitySource.HasListeners();

    /// <summary>The tag value of a request kind: <c>put</c>, <c>get</c>, <c>delete_objects</c>, ...</summary>
    public static string KindName(S3RequestKind kind) => kind switch
    {
        S3RequestKind.GetIdentity => "get_identity",
        S3RequestKind.PutIdentity => "put_identity",
        S3RequestKind.Put => "put",
        S3RequestKind.Get => "get",
        S3RequestKind.Head => "head",
        S3RequestKind.List => "list",
        S3RequestKind.DeleteObjects => "delete_objects",
        S3RequestKind.Copy => "copy",
        _ => kind.ToString().ToLowerInvariant(),
    };

    /// <summary>Starts the span of one request attempt; null when nobody listens.</summary>
    public static Activity? StartRequest(S3RequestKind kind, string bucket, string? key)
    {
        if (!ActivitySource.HasListeners())
        {
            return null;
        }

        var activity = ActivitySource.StartActivity(s_spanNames[(int)kind], ActivityKind.Client);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag(RequestTag, s_kindNames[(int)kind]);
            activity.SetTag("aws.s3.bucket", bucket);
            if (key is not null)
            {
                activity.SetTag("aws.s3.key", key);
            }
        }

        return activity;
    }

    /// <summary>Records one finished attempt: counter, duration and the span's outcome.</summary>
    /// <param name="kind">The request kind.</param>
    /// <param name="startTimestamp">The <see cref="Stopwatch.GetTimestamp"/> at the start.</param>
    /// <param name="error">The failure, or null on success.</param>
    /// <param name="activity">The attempt's span, if any; disposed here.</param>
    public void RecordRequest(S3RequestKind kind, long startTimestamp, Exception? error, Activity? activity)
    {
        string result = Classify(error);
        if (Requests.Enabled || RequestDuration.Enabled)
        {
            var kindTag = new KeyValuePair<string, object?>(RequestTag, s_kindNames[(int)kind]);
            var resultTag = new KeyValuePair<string, object?>(ResultTag, result);
            Requests.Add(1, kindTag, resultTag);
            if (RequestDuration.Enabled)
            {
                RequestDuration.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, kindTag, resultTag);
            }
        }

        if (activity is not null)
        {
            if (activity.IsAllDataRequested)
            {
                activity.SetTag(ResultTag, result);
                if (error is not null)
                {
                    if (error is AmazonS3Exception { StatusCode: not 0 } s3)
                    {
                        activity.SetTag("http.response.status_code", (int)s3.StatusCode);
                    }

                    // 404 and 412 are answers the backend expects (absent object, existing object): not span errors.
                    if (result == "error")
                    {
                        activity.SetTag("error.type", error.GetType().FullName);
                        activity.SetStatus(ActivityStatusCode.Error, error.Message);
                    }
                }
            }

            activity.Dispose();
        }
    }

    /// <summary>Maps an attempt's outcome to the <c>chunkstore.s3.result</c> tag.</summary>
    public static string Classify(Exception? error) => error switch
    {
        null => "ok",
        AmazonS3Exception { StatusCode: HttpStatusCode.NotFound } => "not_found",
        AmazonS3Exception { StatusCode: HttpStatusCode.PreconditionFailed } => "precondition_failed",
        _ => "error",
    };

    public void RecordCacheHit()
    {
        if (CacheHits.Enabled)
        {
            CacheHits.Add(1);
        }
    }

    public void RecordCacheMiss()
    {
        if (CacheMisses.Enabled)
        {
            CacheMisses.Add(1);
        }
    }

    public void RecordCacheEviction()
    {
        if (CacheEvictions.Enabled)
        {
            CacheEvictions.Add(1);
        }
    }

    /// <summary>Starts the span of a garbage-collection phase of the backend (<c>chunkstore.s3.gc.prepare</c>,
    /// <c>.sweep_objects</c>, <c>.sweep_local</c>); null when nobody listens.</summary>
    /// <param name="phase">The phase.</param>
    /// <returns>The span, or null.</returns>
    public Activity? StartGcPhase(RemoteGcPhase phase) =>
        ActivitySource.HasListeners() ? ActivitySource.StartActivity(PhaseName(phase), ActivityKind.Internal) : null;

    private static string PhaseName(RemoteGcPhase phase) => phase switch
    {
        RemoteGcPhase.Prepare => "chunkstore.s3.gc.prepare",
        RemoteGcPhase.SweepObjects => "chunkstore.s3.gc.sweep_objects",
        _ => "chunkstore.s3.gc.sweep_local",
    };

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }
}
