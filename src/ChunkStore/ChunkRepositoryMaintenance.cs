namespace ChunkStore;

/// <summary>
/// The dangerous and slow operations of a store, kept apart from the everyday surface of <see cref="ChunkRepository"/>
/// (insert, read, contains, touch, list, write sessions): garbage collection, verification of the whole store, and
/// moving a chunk aside. Reach it through <see cref="ChunkRepository.Maintenance"/>.
/// </summary>
/// <remarks>Every operation here is safe while inserts, reads and verifications run in other threads and processes;
/// they are apart because they read or change many chunks at once (a collection removes data; a scrub reads all of it).</remarks>
public sealed class ChunkRepositoryMaintenance
{
    private readonly ChunkRepository _store;

    internal ChunkRepositoryMaintenance(ChunkRepository store)
    {
        _store = store;
    }

    /// <summary>
    /// Removes the chunks nobody references any more: marks (touches) every referenced chunk, then sweeps every
    /// chunk last touched before the cutoff <c>min(T0 − grace, oldestWriterStart − margin)</c>.
    /// </summary>
    /// <remarks>
    /// <para>Only one collection runs at a time per store (an exclusive <c>.gc.lock</c>); inserts, reads, touches and
    /// verifications go on meanwhile in every process. Before marking, the collection checks that explicit atime
    /// updates are kept by the filesystem and refuses to run otherwise. A chunk that a live writer session inserted
    /// or touched is never removed, even though its index is not yet among <paramref name="referenced"/>.</para>
    /// <para>Enumerate <paramref name="referenced"/> lazily (read the indexes inside the enumerator): the collection
    /// starts reading it only after it took T0 and scanned the live writers, so an index that a writer published
    /// and then ended its session before the scan is still read. A list captured before the call can miss it,
    /// and then only the grace period protects that writer's chunks.</para>
    /// <para>The result is saved to <c>.gc-status</c>. A dry run plans only: it marks without touching, plans from the
    /// current timestamps as if the mark had touched, and reports the same counters as a real run would; it removes
    /// nothing, touches no chunk or <c>.bad</c> copy and leaves dead writer entries in place. It writes only what every
    /// collection writes outside the chunk data: the access-time check and the saved result in <c>.gc-status</c>
    /// (see <c>docs/operating.md</c>). Cancellation stops between chunks and leaves the store consistent.</para>
    /// </remarks>
    /// <param name="referenced">Every digest any index references; repeats are fine.</param>
    /// <param name="options">Grace period, dry run and mark-cache settings; defaults when null.</param>
    /// <param name="progress">Optional progress sink.</param>
    /// <param name="cancellationToken">Stops the collection.</param>
    /// <returns>What was found and done.</returns>
    /// <exception cref="ObjectDisposedException">The store was disposed.</exception>
    /// <exception cref="GarbageCollectionInProgressException">Another collection is running on this store.</exception>
    /// <exception cref="AccessTimeUnreliableException">The filesystem loses explicit atime updates.</exception>
    /// <exception cref="NotSupportedException">The backend cannot collect garbage.</exception>
#pragma warning disable RS0026 // Two overloads with optional parameters: the type of the first one (async or not) tells them apart.
    public Task<GarbageCollectionResult> GarbageCollectAsync(
        IAsyncEnumerable<ChunkDigest> referenced,
        GarbageCollectionOptions? options = null,
        IProgress<GarbageCollectionProgress>? progress = null,
        CancellationToken cancellationToken = default) =>
        _store.CollectGarbageCoreAsync(referenced, options, progress, cancellationToken);

    /// <summary>Runs a garbage collection over a synchronous sequence of referenced digests.</summary>
    /// <param name="referenced">Every digest any index references; repeats are fine.</param>
    /// <param name="options">Settings; defaults when null.</param>
    /// <param name="progress">Optional progress sink.</param>
    /// <param name="cancellationToken">Stops the collection.</param>
    /// <returns>What was found and done.</returns>
    public Task<GarbageCollectionResult> GarbageCollectAsync(
        IEnumerable<ChunkDigest> referenced,
        GarbageCollectionOptions? options = null,
        IProgress<GarbageCollectionProgress>? progress = null,
        CancellationToken cancellationToken = default)
#pragma warning restore RS0026
    {
        ArgumentNullException.ThrowIfNull(referenced);
        return _store.CollectGarbageCoreAsync(ChunkRepository.ToAsync(referenced, cancellationToken), options, progress, cancellationToken);
    }

    /// <summary>Reads the result of the last garbage collection saved in <c>.gc-status</c>, if any.</summary>
    /// <returns>The last result, or <see langword="null"/> when no collection has run.</returns>
    public GarbageCollectionResult? ReadLastGarbageCollection() => _store.ReadLastGarbageCollectionCore();

    /// <summary>Verifies many chunks in parallel: every stored chunk, or the given digests.</summary>
    /// <remarks>
    /// The scrub never stops at one chunk: a read error is counted in <see cref="VerifyAllResult.Errors"/>, and an
    /// entry under a chunk's name that is not a regular file (a symbolic link, a directory, a FIFO) in
    /// <see cref="VerifyAllResult.InvalidEntries"/> (left untouched, logged with event id
    /// <see cref="ChunkStoreEventIds.VerifyInvalidEntry"/>); every other chunk is still verified.
    /// </remarks>
    /// <param name="digests">The chunks to verify, or <see langword="null"/> for every stored chunk.</param>
    /// <param name="parallelism">How many chunks to verify at once; default the processor count.</param>
    /// <param name="progress">Optional progress sink.</param>
    /// <param name="cancellationToken">Stops the run; what was renamed stays renamed, nothing is half done.</param>
    /// <returns>Counts of good, corrupt, missing, invalid and unverifiable chunks.</returns>
    public Task<VerifyAllResult> VerifyAllAsync(
        IAsyncEnumerable<ChunkDigest>? digests = null,
        int parallelism = 0,
        IProgress<VerifyProgress>? progress = null,
        CancellationToken cancellationToken = default) =>
        _store.VerifyAllCoreAsync(digests, parallelism, progress, cancellationToken);

    /// <summary>Moves a chunk aside as <c>&lt;digest&gt;.N.bad</c> (N = 0..9, the first free) and drops it from every cache, so the next insert stores a good copy.</summary>
    /// <param name="digest">The chunk.</param>
    /// <param name="cancellationToken">Cancels the operation before it changes anything.</param>
    /// <returns>N of the new <c>.bad</c> name, or <see langword="null"/> when the chunk was not stored.</returns>
    public ValueTask<int?> RenameCorruptAsync(ChunkDigest digest, CancellationToken cancellationToken = default) =>
        _store.RenameCorruptCoreAsync(digest, cancellationToken);
}
