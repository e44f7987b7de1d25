using System.Text.Json.Serialization;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using ChunkStore.Backends;
using ChunkStore.Diagnostics;

namespace ChunkStore;

/// <summary>The outcome of verifying one chunk.</summary>
public enum ChunkVerifyStatus
{
    /// <summary>The chunk is present and hashes to its digest.</summary>
    Ok,

    /// <summary>The chunk was corrupt and has been moved to <c>.N.bad</c>.</summary>
    Corrupt,

    /// <summary>The chunk is not stored (any cache entry claiming it was dropped).</summary>
    Missing,
}

/// <summary>The result of verifying one chunk.</summary>
/// <param name="Digest">The chunk.</param>
/// <param name="Status">What verification found.</param>
/// <param name="BadIndex">N of the <c>.N.bad</c> name the corrupt copy was moved to.</param>
public readonly record struct ChunkVerifyResult(ChunkDigest Digest, ChunkVerifyStatus Status, int? BadIndex = null);

/// <summary>The result of a bulk verification (read-only; round-trips through System.Text.Json).</summary>
public sealed class VerifyAllResult
{
    /// <summary>Gets the number of chunks checked (every outcome below, invalid entries included).</summary>
    [JsonInclude]
    public long Checked { get; internal set; }

    /// <summary>Gets the number that were good.</summary>
    [JsonInclude]
    public long Ok { get; internal set; }

    /// <summary>Gets the number found corrupt (and renamed).</summary>
    [JsonInclude]
    public long Corrupt { get; internal set; }

    /// <summary>Gets the number that were missing.</summary>
    [JsonInclude]
    public long Missing { get; internal set; }

    /// <summary>Gets the number that could not be checked because of a (transient) error; nothing was renamed for them.</summary>
    [JsonInclude]
    public long Errors { get; internal set; }

    /// <summary>
    /// Gets or sets the number of entries under a chunk's name that are not regular files (a symbolic link, a
    /// directory, a FIFO, ...): not chunks, so not verified; left untouched for an operator to look at.
    /// </summary>
    [JsonInclude]
    public long InvalidEntries { get; internal set; }

    /// <summary>Gets the bytes read and hashed.</summary>
    [JsonInclude]
    public long BytesVerified { get; internal set; }

    /// <summary>Gets the corrupt or missing digests found (up to 100).</summary>
    [JsonInclude]
    public IReadOnlyList<ChunkDigest> BadSample
    {
        get => BadSampleList.AsReadOnly();
        internal set => BadSampleList = [.. value];
    }

    /// <summary>Gets the list behind <see cref="BadSample"/>, which the store fills.</summary>
    [JsonIgnore]
    internal List<ChunkDigest> BadSampleList { get; private set; } = [];

    /// <summary>Gets the first errors met (up to 10).</summary>
    [JsonInclude]
    public IReadOnlyList<string> ErrorSample
    {
        get => ErrorSampleList.AsReadOnly();
        internal set => ErrorSampleList = [.. value];
    }

    /// <summary>Gets the list behind <see cref="ErrorSample"/>, which the store fills.</summary>
    [JsonIgnore]
    internal List<string> ErrorSampleList { get; private set; } = [];

    /// <summary>Gets the paths of the first invalid entries met (up to 10).</summary>
    [JsonInclude]
    public IReadOnlyList<string> InvalidSample
    {
        get => InvalidSampleList.AsReadOnly();
        internal set => InvalidSampleList = [.. value];
    }

    /// <summary>Gets the list behind <see cref="InvalidSample"/>, which the store fills.</summary>
    [JsonIgnore]
    internal List<string> InvalidSampleList { get; private set; } = [];
}

/// <summary>A progress report of a bulk verification.</summary>
/// <param name="Checked">Chunks checked so far.</param>
/// <param name="Bad">Corrupt or missing so far.</param>
/// <param name="Bytes">Bytes verified so far.</param>
public readonly record struct VerifyProgress(long Checked, long Bad, long Bytes);

public sealed partial class ChunkRepository
{
    /// <summary>
    /// Reads and hashes a chunk; a corrupt one is moved to <c>.N.bad</c> (re-checked under the chunk's lock first,
    /// so a copy repaired meanwhile is left alone) and a missing one is dropped from every cache.
    /// </summary>
    /// <param name="digest">The chunk.</param>
    /// <param name="cancellationToken">Cancels the verification.</param>
    /// <returns>What was found.</returns>
    /// <exception cref="ChunkStorageException">The chunk could not be read; nothing was renamed (a transient error must never mark a good chunk bad).</exception>
    /// <exception cref="InvalidChunkEntryException">Something that is not a regular file sits at the chunk's path; it is left untouched.</exception>
    public async ValueTask<ChunkVerifyResult> VerifyAsync(ChunkDigest digest, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        var (result, _) = await VerifyCoreAsync(digest, cancellationToken).ConfigureAwait(false);
        return result;
    }

    private async ValueTask<(ChunkVerifyResult Result, long Bytes)> VerifyCoreAsync(ChunkDigest digest, CancellationToken cancellationToken)
    {
        try
        {
            var outcome = await VerifyOnceAsync(digest, cancellationToken).ConfigureAwait(false);
            Instrumentation.RecordVerification(outcome.Result.Status switch
            {
                ChunkVerifyStatus.Ok => "ok",
                ChunkVerifyStatus.Corrupt => "corrupt",
                _ => "missing",
            });
            return outcome;
        }
        catch (ChunkStoreException)
        {
            Instrumentation.RecordVerification("error");
            throw;
        }
    }

    private async ValueTask<(ChunkVerifyResult Result, long Bytes)> VerifyOnceAsync(ChunkDigest digest, CancellationToken cancellationToken)
    {
        byte[] bytes;
        try
        {
            bytes = await _backend.ReadForVerifyAsync(digest, cancellationToken).ConfigureAwait(false);
        }
        catch (ChunkNotFoundException)
        {
            // Missing: nothing to rename on disk, but a cache may still claim it — the rename drops it there.
            await _backend.RenameCorruptAsync(digest, onlyIfCorrupt: true, cancellationToken).ConfigureAwait(false);
            return (new ChunkVerifyResult(digest, ChunkVerifyStatus.Missing), 0);
        }
        catch (ChunkCorruptException)
        {
            bytes = [];
        }

        if (bytes.Length > 0 && ChunkDigest.Compute(bytes) == digest)
        {
            return (new ChunkVerifyResult(digest, ChunkVerifyStatus.Ok), bytes.Length);
        }

        int? index = await _backend.RenameCorruptAsync(digest, onlyIfCorrupt: true, cancellationToken).ConfigureAwait(false);
        if (index is null)
        {
            // Repaired or removed under us: check what is there now.
            return await ContainsAsync(digest, cancellationToken).ConfigureAwait(false)
                ? (new ChunkVerifyResult(digest, ChunkVerifyStatus.Ok), bytes.Length)
                : (new ChunkVerifyResult(digest, ChunkVerifyStatus.Missing), bytes.Length);
        }

        return (new ChunkVerifyResult(digest, ChunkVerifyStatus.Corrupt, index), bytes.Length);
    }

    /// <summary>Implements <see cref="ChunkRepositoryMaintenance.VerifyAllAsync"/>.</summary>
    internal async Task<VerifyAllResult> VerifyAllCoreAsync(
        IAsyncEnumerable<ChunkDigest>? digests = null,
        int parallelism = 0,
        IProgress<VerifyProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfNegative(parallelism);
        using var activity = ChunkStoreInstrumentation.ActivitySource.StartActivity("chunkstore.verify_all");
        activity?.SetTag("chunkstore.store", _backend.Description);
        var result = new VerifyAllResult();
        var bad = new ConcurrentQueue<ChunkDigest>();
        var errors = new ConcurrentQueue<string>();
        var invalidPaths = new ConcurrentQueue<string>();
        long ok = 0, corrupt = 0, missing = 0, failed = 0, invalid = 0, bytesTotal = 0, checkedCount = 0;

        // Something other than a regular file under a chunk's name (met by the listing or by a read) is not a chunk:
        // count it, name it, leave it alone, and go on with the rest of the scrub.
        void OnInvalid(InvalidChunkEntryException ex)
        {
            Interlocked.Increment(ref invalid);
            Interlocked.Increment(ref checkedCount);
            invalidPaths.Enqueue(ex.Path);
            Log.VerifyInvalidEntry(_logger, _backend.Description, ex.Path, ex.Digest.GetValueOrDefault(), ex);
        }

        var source = digests
            ?? (_backend is IReportsInvalidEntries listing ? listing.ListAsync(OnInvalid, cancellationToken) : _backend.ListAsync(cancellationToken));
        await Parallel.ForEachAsync(
            source,
            new ParallelOptions { MaxDegreeOfParallelism = parallelism == 0 ? Environment.ProcessorCount : parallelism, CancellationToken = cancellationToken },
            async (digest, ct) =>
            {
                try
                {
                    var (r, bytes) = await VerifyCoreAsync(digest, ct).ConfigureAwait(false);
                    Interlocked.Add(ref bytesTotal, bytes);
                    switch (r.Status)
                    {
                        case ChunkVerifyStatus.Ok:
                            Interlocked.Increment(ref ok);
                            break;
                        case ChunkVerifyStatus.Corrupt:
                            Interlocked.Increment(ref corrupt);
                            bad.Enqueue(digest);
                            break;
                        default:
                            Interlocked.Increment(ref missing);
                            bad.Enqueue(digest);
                            break;
                    }
                }
                catch (InvalidChunkEntryException ex)
                {
                    OnInvalid(ex);
                    return;
                }
                catch (ChunkStoreException ex)
                {
                    Interlocked.Increment(ref failed);
                    errors.Enqueue(ex.Message);
                    Log.VerifyTransientError(_logger, _backend.Description, digest, ex);
                }

                long n = Interlocked.Increment(ref checkedCount);
                if (progress is not null && (n & 255) == 0)
                {
                    progress.Report(new VerifyProgress(n, Interlocked.Read(ref corrupt) + Interlocked.Read(ref missing), Interlocked.Read(ref bytesTotal)));
                }
            }).ConfigureAwait(false);

        result.Checked = checkedCount;
        result.Ok = ok;
        result.Corrupt = corrupt;
        result.Missing = missing;
        result.Errors = failed;
        result.InvalidEntries = invalid;
        result.BytesVerified = bytesTotal;
        result.BadSampleList.AddRange(bad.Take(100));
        result.ErrorSampleList.AddRange(errors.Take(10));
        result.InvalidSampleList.AddRange(invalidPaths.Take(10));
        progress?.Report(new VerifyProgress(checkedCount, corrupt + missing, bytesTotal));
        activity?.SetTag("chunkstore.verify.checked", checkedCount);
        activity?.SetTag("chunkstore.verify.bad", corrupt + missing);
        return result;
    }

    internal static async IAsyncEnumerable<ChunkDigest> ToAsync(IEnumerable<ChunkDigest> digests, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (var d in digests)
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return d;
        }

        await Task.CompletedTask.ConfigureAwait(false);
    }
}
