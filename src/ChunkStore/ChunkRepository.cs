using System.Buffers;
using System.Runtime.InteropServices;
using ChunkStore.Backends;
using ChunkStore.Diagnostics;
using ChunkStore.FileSystem;
using ChunkStore.Locking;
using ChunkStore.Writers;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace ChunkStore;

/// <summary>
/// A content-addressed, deduplicating chunk store: the entry point of the library.
/// </summary>
/// <remarks>
/// <para>Open one with <see cref="Create(ChunkStoreOptions)"/>, <see cref="Open(ChunkStoreOptions)"/> or
/// <see cref="OpenOrCreate(ChunkStoreOptions)"/>. Every method is thread-safe, and any number of instances in any
/// number of processes may use one store at the same time, including one garbage collection.</para>
/// <para>The store computes every chunk's SHA-256 itself, so callers cannot store content under a wrong name. A
/// stored chunk file holds exactly the chunk's bytes: <c>sha256sum</c> of a file equals its name.</para>
/// <para>Invariants and lock order: <c>docs/locking.md</c>.</para>
/// </remarks>
public sealed partial class ChunkRepository : IAsyncDisposable, IDisposable
{
    private readonly IChunkBackend _backend;
    private readonly ChunkLockManager _locks;
    private readonly WriterRegistry _writers;
    private readonly ChunkLayout _layout;
    private readonly ILogger _logger;
    private ChunkRepositoryMaintenance? _maintenance;
    private int _disposed;

    internal ChunkRepository(ChunkStoreOptions options, ChunkLayout layout, ChunkLockManager locks, StoreCriticalSections sections, IChunkBackend backend, ILogger logger)
    {
        Options = options;
        _layout = layout;
        _locks = locks;
        Sections = sections;
        _backend = backend;
        _logger = logger;
        _writers = new WriterRegistry(layout.WritersDirectory, backend.Description, options.TimeProvider, logger);
        Instrumentation = new ChunkStoreInstrumentation(options.MeterFactory);
        var instrumentation = Instrumentation;
        locks.WaitObserver = waited =>
        {
            if (instrumentation.LockWaits.Enabled)
            {
                instrumentation.LockWaits.Add(1);
                instrumentation.LockWaitDuration.Record(waited.TotalSeconds);
            }
        };
    }

    internal ChunkStoreInstrumentation Instrumentation { get; }

    /// <summary>Gets the options the store was opened with (a copy; changing it has no effect).</summary>
    public ChunkStoreOptions Options { get; }

    /// <summary>Gets the store's dangerous and slow operations: garbage collection, verification of the whole store, and
    /// moving a chunk aside.</summary>
    public ChunkRepositoryMaintenance Maintenance => _maintenance ??= new ChunkRepositoryMaintenance(this);

    /// <summary>Gets the store's root directory (for S3 stores: the local cache directory).</summary>
    public string Root => _layout.Root;

    /// <summary>Gets what the store is, for messages and logs: its directory, or <c>s3://bucket/prefix</c> with the local cache directory.</summary>
    public string Description => _backend.Description;

    /// <summary>Gets whether the chunks live on a remote service (S3) rather than in <see cref="Root"/>, which is then a local cache.</summary>
    public bool IsRemote => _backend.Capabilities.IsRemote;

    /// <summary>Gets the backend that holds the chunks (internal: a backend may trust the digest it is given).</summary>
    internal IChunkBackend Backend => _backend;

    /// <summary>Gets the per-chunk lock manager of this store (internal: its locks are not reentrant).</summary>
    internal ChunkLockManager Locks => _locks;

    internal StoreCriticalSections Sections { get; }

    internal ChunkLayout Layout => _layout;

    internal WriterRegistry Writers => _writers;

    /// <summary>Creates a new, empty filesystem store at <see cref="ChunkStoreOptions.Root"/>.</summary>
    /// <param name="options">The store's settings.</param>
    /// <returns>The open store.</returns>
    /// <remarks>Of any number of threads and processes creating one root at the same time, exactly one succeeds.</remarks>
    /// <exception cref="StoreAlreadyExistsException">A store, or any other file, already exists at the root.</exception>
    /// <exception cref="InvalidStoreException">The root is a file.</exception>
    /// <exception cref="ChunkStorageException">The directories cannot be created or read (permissions, disk full); the message names the path.</exception>
    /// <exception cref="PlatformNotSupportedException">Not on Linux (see the package readme).</exception>
    public static ChunkRepository Create(ChunkStoreOptions options) => OpenCore(options, create: true, open: false);

    /// <summary>Opens an existing filesystem store at <see cref="ChunkStoreOptions.Root"/>.</summary>
    /// <param name="options">The store's settings.</param>
    /// <returns>The open store.</returns>
    /// <exception cref="StoreNotFoundException">The root does not exist.</exception>
    /// <exception cref="InvalidStoreException">The root is not a store, or one of an unknown format, or the lock settings disagree.</exception>
    /// <exception cref="ChunkStorageException">The root or its identity file cannot be read (<see cref="StorageErrorKind.PermissionDenied"/>, naming the path).</exception>
    /// <exception cref="PlatformNotSupportedException">Not on Linux (see the package readme).</exception>
    public static ChunkRepository Open(ChunkStoreOptions options) => OpenCore(options, create: false, open: true);

    /// <summary>Opens the filesystem store at <see cref="ChunkStoreOptions.Root"/>, creating it when the root is missing or an empty directory.</summary>
    /// <param name="options">The store's settings.</param>
    /// <returns>The open store.</returns>
    /// <remarks>Any number of threads and processes may call it on one fresh root at the same time: one creates the store, and every caller gets that store.</remarks>
    /// <exception cref="InvalidStoreException">The root holds files but is not a store.</exception>
    /// <exception cref="ChunkStorageException">The root cannot be created or read (permissions, disk full); the message names the path.</exception>
    /// <exception cref="PlatformNotSupportedException">Not on Linux (see the package readme).</exception>
    public static ChunkRepository OpenOrCreate(ChunkStoreOptions options) => OpenCore(options, create: true, open: true);

    /// <summary>Creates a new, empty filesystem store; see <see cref="Create"/>.</summary>
    /// <param name="options">The store's settings.</param>
    /// <param name="cancellationToken">Stops the open before it starts (the open itself is a few local system calls, run off the caller's thread).</param>
    /// <returns>The open store.</returns>
    /// <exception cref="StoreAlreadyExistsException">A store, or any other file, already exists at the root.</exception>
    /// <exception cref="InvalidStoreException">The root is a file.</exception>
    /// <exception cref="ChunkStorageException">The directories cannot be created or read (permissions, disk full); the message names the path.</exception>
    /// <exception cref="PlatformNotSupportedException">Not on Linux (see the package readme).</exception>
    public static Task<ChunkRepository> CreateAsync(ChunkStoreOptions options, CancellationToken cancellationToken = default) => OpenCoreAsync(options, create: true, open: false, cancellationToken);

    /// <summary>Opens an existing filesystem store; see <see cref="Open"/>.</summary>
    /// <param name="options">The store's settings.</param>
    /// <param name="cancellationToken">Stops the open before it starts (the open itself is a few local system calls, run off the caller's thread).</param>
    /// <returns>The open store.</returns>
    /// <exception cref="StoreNotFoundException">The root does not exist.</exception>
    /// <exception cref="InvalidStoreException">The root is not a store, or one of an unknown format, or the lock settings disagree.</exception>
    /// <exception cref="ChunkStorageException">The root or its identity file cannot be read (<see cref="StorageErrorKind.PermissionDenied"/>, naming the path).</exception>
    /// <exception cref="PlatformNotSupportedException">Not on Linux (see the package readme).</exception>
    public static Task<ChunkRepository> OpenAsync(ChunkStoreOptions options, CancellationToken cancellationToken = default) => OpenCoreAsync(options, create: false, open: true, cancellationToken);

    /// <summary>Opens the filesystem store, creating it when the root is missing or an empty directory; see <see cref="OpenOrCreate"/>.</summary>
    /// <param name="options">The store's settings.</param>
    /// <param name="cancellationToken">Stops the open before it starts (the open itself is a few local system calls, run off the caller's thread).</param>
    /// <returns>The open store.</returns>
    /// <exception cref="InvalidStoreException">The root holds files but is not a store.</exception>
    /// <exception cref="ChunkStorageException">The root cannot be created or read (permissions, disk full); the message names the path.</exception>
    /// <exception cref="PlatformNotSupportedException">Not on Linux (see the package readme).</exception>
    public static Task<ChunkRepository> OpenOrCreateAsync(ChunkStoreOptions options, CancellationToken cancellationToken = default) => OpenCoreAsync(options, create: true, open: true, cancellationToken);

    private static ChunkRepository OpenCore(ChunkStoreOptions options, bool create, bool open) =>
        OpenWithBackend(options, create, open, static services => NewFileSystemBackend(services));

    private static Task<ChunkRepository> OpenCoreAsync(ChunkStoreOptions options, bool create, bool open, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        return Task.Run(() => OpenCore(options, create, open), cancellationToken);
    }

    private static FileSystemBackend NewFileSystemBackend(BackendServices services) => new(
        services.Layout, services.Locks, services.Sections, services.Options.SyncMode, services.Options.LockTimeout, services.Logger);

    /// <summary>
    /// Opens or creates a store whose root directory (identity file, locks, writer registry, GC status, local
    /// chunk layout) is local and whose chunks live in the backend the factory builds — the S3 package's entry.
    /// </summary>
    internal static ChunkRepository OpenWithBackend(ChunkStoreOptions options, bool create, bool open, Func<BackendServices, IChunkBackend> backendFactory)
    {
        var (services, _) = PrepareOpen(ref options, create, open);
        try
        {
            return new ChunkRepository(options, services.Layout, services.Locks, services.Sections, backendFactory(services), services.Logger);
        }
        catch
        {
            services.Locks.Dispose();
            throw;
        }
    }

    /// <summary>The asynchronous <see cref="OpenWithBackend"/>: the backend's own opening (network I/O) is awaited and cancellable.</summary>
    internal static async Task<ChunkRepository> OpenWithBackendAsync(
        ChunkStoreOptions options, bool create, bool open, Func<BackendServices, CancellationToken, Task<IChunkBackend>> backendFactory, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var (services, _) = PrepareOpen(ref options, create, open);
        try
        {
            var backend = await backendFactory(services, cancellationToken).ConfigureAwait(false);
            return new ChunkRepository(options, services.Layout, services.Locks, services.Sections, backend, services.Logger);
        }
        catch
        {
            services.Locks.Dispose();
            throw;
        }
    }

    /// <summary>What every open does before the backend: validate and copy the options, prepare the local root, make the locks.</summary>
    private static (BackendServices Services, StoreConfig Config) PrepareOpen(ref ChunkStoreOptions options, bool create, bool open)
    {
        ArgumentNullException.ThrowIfNull(options);
        ThrowIfUnsupportedPlatform(OperatingSystem.IsLinux(), RuntimeInformation.OSDescription);
        options.Validate();
        options = options.Clone();
        var config = PrepareRoot(options, create, open);
        var loggerFactory = options.LoggerFactory ?? NullLoggerFactory.Instance;
        var logger = loggerFactory.CreateLogger("ChunkStore");
        var layout = new ChunkLayout(options.Root);
        var locks = new ChunkLockManager(config.LockDirectory ?? layout.DefaultLocksDirectory, config.LockStripes, loggerFactory);
        return (new BackendServices(layout, locks, new StoreCriticalSections(), options, loggerFactory, logger), config);
    }

    /// <summary>Refuses to open a store anywhere but on Linux, with a message that says why.</summary>
    /// <param name="isLinux">Whether this process runs on Linux.</param>
    /// <param name="system">The operating system's name, for the message.</param>
    /// <exception cref="PlatformNotSupportedException">Not Linux.</exception>
    internal static void ThrowIfUnsupportedPlatform(bool isLinux, string system)
    {
        if (!isLinux)
        {
            throw new PlatformNotSupportedException(
                $"ChunkStore runs on Linux only (this is {system}): its locks, atomic renames and timestamps are Linux system calls (flock, statx, renameat2, utimensat, syncfs). Windows and macOS are planned.");
        }
    }

    /// <summary>
    /// Creates or opens the store's root directory and identity file; shared with backends that keep a local
    /// directory (S3's cache).
    /// </summary>
    internal static StoreConfig PrepareRoot(ChunkStoreOptions options, bool create, bool open) =>
        StoreRoot.Prepare(options, create, open, (options.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger("ChunkStore"));

    /// <summary>Stores a chunk, or refreshes it when it is already stored.</summary>
    /// <remarks>
    /// The store computes the digest. A duplicate is touched (its GC timestamp refreshed) and reported with
    /// <c>IsNew = false</c>; a new chunk is written atomically (temporary file, optional sync per
    /// <see cref="ChunkStoreOptions.SyncMode"/>, rename). Any number of concurrent inserts of one chunk, in any
    /// threads or processes, store it once and all succeed. To protect the chunk from garbage collection until an
    /// index references it, insert inside a <see cref="WriteSession"/>.
    /// </remarks>
    /// <param name="data">The chunk content: 1 byte to <see cref="ChunkStoreOptions.MaxChunkSize"/>.</param>
    /// <param name="cancellationToken">Cancels the insert; the chunk is then either absent or complete.</param>
    /// <returns>The digest, whether the chunk was new, and its size.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="data"/> is empty or larger than the maximum chunk size.</exception>
    /// <exception cref="ChunkStorageException">The write failed (disk full, permission denied, read-only filesystem); nothing was left under the chunk's name.</exception>
    /// <exception cref="InvalidChunkEntryException">Something that is not a regular file sits at the chunk's path.</exception>
    /// <exception cref="ChunkLockTimeoutException">The chunk stayed locked longer than <see cref="ChunkStoreOptions.LockTimeout"/>.</exception>
    public ValueTask<ChunkInsertResult> InsertAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        if (data.Length == 0 || data.Length > Options.MaxChunkSize)
        {
            ThrowHelper.ThrowChunkSize(_backend.Description, data.Length, Options.MaxChunkSize);
        }

        var digest = ChunkDigest.Compute(data.Span);
        var pending = _backend.InsertAsync(digest, data, cancellationToken);
        if (!Instrumentation.Inserts.Enabled)
        {
            return pending;
        }

        return RecordInsertAsync(pending);
    }

    private async ValueTask<ChunkInsertResult> RecordInsertAsync(ValueTask<ChunkInsertResult> pending)
    {
        var result = await pending.ConfigureAwait(false);
        Instrumentation.RecordInsert(result.IsNew, result.Size);
        return result;
    }

    /// <summary>Reads a chunk and verifies it against its digest.</summary>
    /// <param name="digest">The chunk.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The chunk's bytes (a new array).</returns>
    /// <exception cref="ChunkNotFoundException">The chunk is not stored.</exception>
    /// <exception cref="ChunkCorruptException">The stored bytes do not hash to <paramref name="digest"/>; they are never returned.</exception>
    /// <exception cref="InvalidChunkEntryException">Something that is not a regular file sits at the chunk's path.</exception>
    /// <exception cref="ChunkStorageException">The read failed.</exception>
    public async ValueTask<byte[]> ReadAsync(ChunkDigest digest, CancellationToken cancellationToken = default)
    {
        var writer = new ExactArrayWriter();
        await ReadIntoAsync(digest, writer, cancellationToken).ConfigureAwait(false);
        return writer.Written;
    }

    /// <summary>Reads a chunk into a buffer of the caller's, verified against its digest: no array per call.</summary>
    /// <remarks>
    /// The chunk is written with one <see cref="IBufferWriter{T}.GetMemory"/> of its length and committed with one
    /// <see cref="IBufferWriter{T}.Advance"/> only after its SHA-256 matched; when the call throws, nothing was
    /// committed (the writer's free space may hold anything). Use a pooled writer to read without allocating.
    /// </remarks>
    /// <param name="digest">The chunk.</param>
    /// <param name="destination">Where the bytes go.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The chunk's length.</returns>
    /// <exception cref="ChunkNotFoundException">The chunk is not stored.</exception>
    /// <exception cref="ChunkCorruptException">The stored bytes do not match the digest (nothing is written).</exception>
    public async ValueTask<int> ReadIntoAsync(ChunkDigest digest, IBufferWriter<byte> destination, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(destination);
        int length;
        try
        {
            length = await _backend.ReadAsync(digest, destination, cancellationToken).ConfigureAwait(false);
        }
        catch (ChunkNotFoundException)
        {
            Instrumentation.RecordRead("missing", 0);
            throw;
        }
        catch (ChunkCorruptException)
        {
            Instrumentation.RecordRead("corrupt", 0);
            throw;
        }

        Instrumentation.RecordRead("ok", length);
        return length;
    }

    /// <summary>Reads a chunk, verified against its digest, into an array rented from <see cref="ArrayPool{T}.Shared"/>.</summary>
    /// <remarks>The owner's <see cref="IMemoryOwner{T}.Memory"/> is exactly the chunk. Dispose it when done: that returns
    /// the array to the pool (after which the memory must not be used; the owner's <c>Memory</c> throws). A reader that
    /// holds no more than a few chunks at a time reads without allocating per call.</remarks>
    /// <param name="digest">The chunk.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The chunk in a pooled buffer.</returns>
    /// <exception cref="ChunkNotFoundException">The chunk is not stored.</exception>
    /// <exception cref="ChunkCorruptException">The stored bytes do not hash to <paramref name="digest"/>; they are never returned.</exception>
    /// <exception cref="InvalidChunkEntryException">Something that is not a regular file sits at the chunk's path.</exception>
    /// <exception cref="ChunkStorageException">The read failed.</exception>
    public async ValueTask<IMemoryOwner<byte>> ReadPooledAsync(ChunkDigest digest, CancellationToken cancellationToken = default)
    {
        var chunk = new PooledChunk();
        try
        {
            await ReadIntoAsync(digest, chunk, cancellationToken).ConfigureAwait(false);
            return chunk;
        }
        catch
        {
            chunk.Dispose();
            throw;
        }
    }

    /// <summary>Reads a chunk, verified against its digest, and returns it as a read-only, seekable stream.</summary>
    /// <remarks>The whole chunk is read and verified before the stream is returned (a chunk is at most
    /// <see cref="ChunkStoreOptions.MaxChunkSizeLimit"/> bytes), so no byte of a corrupt chunk ever reaches the caller.
    /// The bytes sit in an array rented from <see cref="ArrayPool{T}.Shared"/>; disposing the stream returns it.</remarks>
    /// <param name="digest">The chunk.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The chunk as a stream positioned at its start.</returns>
    /// <exception cref="ChunkNotFoundException">The chunk is not stored.</exception>
    /// <exception cref="ChunkCorruptException">The stored bytes do not hash to <paramref name="digest"/>; no stream is returned.</exception>
    /// <exception cref="InvalidChunkEntryException">Something that is not a regular file sits at the chunk's path.</exception>
    /// <exception cref="ChunkStorageException">The read failed.</exception>
    public async ValueTask<Stream> OpenReadAsync(ChunkDigest digest, CancellationToken cancellationToken = default)
    {
        var chunk = (PooledChunk)await ReadPooledAsync(digest, cancellationToken).ConfigureAwait(false);
        return new PooledChunk.ReadStream(chunk.Detach());
    }

    /// <summary>Tells whether a chunk is stored, without touching it.</summary>
    /// <param name="digest">The chunk.</param>
    /// <param name="cancellationToken">Cancels the check.</param>
    /// <returns><see langword="true"/> when stored.</returns>
    /// <exception cref="InvalidChunkEntryException">Something that is not a regular file sits at the chunk's path.</exception>
    public ValueTask<bool> ContainsAsync(ChunkDigest digest, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return _backend.ContainsAsync(digest, cancellationToken);
    }

    /// <summary>Refreshes a stored chunk's GC timestamp, atomically with respect to a concurrent sweep.</summary>
    /// <param name="digest">The chunk.</param>
    /// <param name="cancellationToken">Cancels the touch.</param>
    /// <returns><see langword="true"/> when the chunk is stored (and is now protected); <see langword="false"/> when absent.</returns>
    /// <exception cref="ChunkLockTimeoutException">The chunk stayed locked longer than <see cref="ChunkStoreOptions.LockTimeout"/>.</exception>
    public ValueTask<bool> TouchAsync(ChunkDigest digest, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return _backend.TouchAsync(digest, cancellationToken);
    }

    /// <summary>Implements <see cref="ChunkRepositoryMaintenance.RenameCorruptAsync"/>.</summary>
    internal ValueTask<int?> RenameCorruptCoreAsync(ChunkDigest digest, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return _backend.RenameCorruptAsync(digest, onlyIfCorrupt: false, cancellationToken);
    }

    /// <summary>Lists the stored chunks' digests.</summary>
    /// <param name="cancellationToken">Cancels the listing.</param>
    /// <returns>The digests, in no particular order.</returns>
    public IAsyncEnumerable<ChunkDigest> ListAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return _backend.ListAsync(cancellationToken);
    }

    /// <summary>Lists the stored chunks with their sizes and last-touch times, without reading them.</summary>
    /// <remarks>Costs what <see cref="ListAsync"/> costs plus, on S3, a local stat per object (the sizes come with the
    /// listing). A listing is not a use: it touches nothing.</remarks>
    /// <param name="cancellationToken">Cancels the listing.</param>
    /// <returns>The chunks, in no particular order.</returns>
    public IAsyncEnumerable<ChunkInfo> ListInfoAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return _backend.ListInfoAsync(cancellationToken);
    }

    /// <summary>Makes every chunk stored so far durable (one <c>syncfs</c> on the filesystem backend).</summary>
    /// <param name="cancellationToken">Cancels the flush.</param>
    /// <returns>A task that completes when the data is durable.</returns>
    public ValueTask FlushAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return _backend.FlushAsync(cancellationToken);
    }

    /// <summary>Registers a writer session, which garbage collection in every process honours until it ends.</summary>
    /// <param name="cancellationToken">Cancels the registration.</param>
    /// <returns>The session; complete or dispose it when the writer is done.</returns>
    public ValueTask<WriteSession> BeginWriteSessionAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(new WriteSession(this, _writers.Register()));
    }

    /// <summary>Releases the lock files and the backend.</summary>
    /// <returns>A task that completes when everything is released.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _backend.DisposeAsync().ConfigureAwait(false);
        _locks.Dispose();
        Instrumentation.Dispose();
    }

    /// <summary>Releases the lock files and the backend.</summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private void ThrowIfDisposed()
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            ThrowHelper.ThrowDisposed(_backend.Description);
        }
    }
}
