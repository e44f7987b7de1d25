using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace ChunkStore.Diagnostics;

/// <summary>
/// The package's <see cref="Meter"/> and <see cref="ActivitySource"/>, both named <c>ChunkStore</c>, with
/// OpenTelemetry-style instrument names and units. Every recording checks <c>Enabled</c> first, so nothing is
/// allocated or computed when nobody listens.
/// </summary>
/// <remarks>
/// Instruments: <c>chunkstore.inserts</c> ({chunk}; tag <c>chunkstore.result</c> = new | duplicate),
/// <c>chunkstore.inserted_bytes</c> (By; same tag), <c>chunkstore.reads</c> ({chunk}; <c>chunkstore.result</c> = ok |
/// corrupt | missing), <c>chunkstore.read_bytes</c> (By), <c>chunkstore.verifications</c> ({chunk};
/// <c>chunkstore.status</c> = ok | corrupt | missing | error), <c>chunkstore.lock.waits</c> ({wait}: acquisitions that
/// had to wait), <c>chunkstore.lock.wait_duration</c> (s), <c>chunkstore.gc.phase_duration</c> (s; <c>chunkstore.gc.phase</c>
/// = prepare | mark | sweep), <c>chunkstore.gc.chunks</c> ({chunk}; <c>chunkstore.gc.outcome</c> = marked | missing |
/// removed | pending | in_use | skipped_busy).
/// </remarks>
internal sealed class ChunkStoreInstrumentation : IDisposable
{
    public const string Name = "ChunkStore";

    public static readonly ActivitySource ActivitySource = new(Name, typeof(ChunkStoreInstrumentation).Assembly.GetName().Version?.ToString());

    private readonly Meter _meter;
    private readonly bool _ownsMeter;

    public ChunkStoreInstrumentation(IMeterFactory? meterFactory)
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

        Inserts = _meter.CreateCounter<long>("chunkstore.inserts", "{chunk}", "Chunks inserted, by result (new or duplicate).");
        InsertedBytes = _meter.CreateCounter<long>("chunkstore.inserted_bytes", "By", "Bytes of chunks inserted, by result.");
        Reads = _meter.CreateCounter<long>("chunkstore.reads", "{chunk}", "Chunk reads, by result.");
        ReadBytes = _meter.CreateCounter<long>("chunkstore.read_bytes", "By", "Bytes of chunks read and verified.");
        Verifications = _meter.CreateCounter<long>("chunkstore.verifications", "{chunk}", "Chunks verified, by status.");
        LockWaits = _meter.CreateCounter<long>("chunkstore.lock.waits", "{wait}", "Chunk lock acquisitions that had to wait.");
        LockWaitDuration = _meter.CreateHistogram<double>("chunkstore.lock.wait_duration", "s", "Time spent waiting for chunk locks.");
        GcPhaseDuration = _meter.CreateHistogram<double>("chunkstore.gc.phase_duration", "s", "Duration of garbage-collection phases.");
        GcChunks = _meter.CreateCounter<long>("chunkstore.gc.chunks", "{chunk}", "Chunks seen by garbage collection, by outcome.");
    }

    public Counter<long> Inserts { get; }

    public Counter<long> InsertedBytes { get; }

    public Counter<long> Reads { get; }

    public Counter<long> ReadBytes { get; }

    public Counter<long> Verifications { get; }

    public Counter<long> LockWaits { get; }

    public Histogram<double> LockWaitDuration { get; }

    public Histogram<double> GcPhaseDuration { get; }

    public Counter<long> GcChunks { get; }

    public void RecordInsert(bool isNew, long size)
    {
        if (Inserts.Enabled)
        {
            var tag = new KeyValuePair<string, object?>("chunkstore.result", isNew ? "new" : "duplicate");
            Inserts.Add(1, tag);
            InsertedBytes.Add(size, tag);
        }
    }

    public void RecordRead(string result, long bytes)
    {
        if (Reads.Enabled)
        {
            Reads.Add(1, new KeyValuePair<string, object?>("chunkstore.result", result));
            if (bytes > 0)
            {
                ReadBytes.Add(bytes);
            }
        }
    }

    public void RecordVerification(string status)
    {
        if (Verifications.Enabled)
        {
            Verifications.Add(1, new KeyValuePair<string, object?>("chunkstore.status", status));
        }
    }

    public void RecordGcPhase(string phase, TimeSpan duration)
    {
        if (GcPhaseDuration.Enabled)
        {
            GcPhaseDuration.Record(duration.TotalSeconds, new KeyValuePair<string, object?>("chunkstore.gc.phase", phase));
        }
    }

    public void RecordGcResult(GarbageCollectionResult r)
    {
        if (!GcChunks.Enabled)
        {
            return;
        }

        void Add(long n, string outcome)
        {
            if (n != 0)
            {
                GcChunks.Add(n, new KeyValuePair<string, object?>("chunkstore.gc.outcome", outcome));
            }
        }

        Add(r.ChunksMarked, "marked");
        Add(r.MissingChunks, "missing");
        Add(r.ChunksRemoved, "removed");
        Add(r.ChunksPending, "pending");
        Add(r.ChunksInUse, "in_use");
        Add(r.SkippedBusy, "skipped_busy");
        Add(r.RemoveFailed, "remove_failed");
    }

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }
}
