namespace ChunkStore;

/// <summary>
/// The base class of every error the store reports for a condition of the store or its storage (as opposed
/// to misuse of the API, which gets the usual <see cref="ArgumentException"/> family).
/// </summary>
/// <remarks>
/// Every message names the store, the chunk (when there is one) and the cause. <see cref="IsTransient"/> tells
/// whether repeating the operation can succeed without anyone changing the store (a lock timeout, a network
/// error, a full disk after space was freed); nothing is ever renamed or deleted because of a transient error.
/// </remarks>
public class ChunkStoreException : Exception
{
    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">The message.</param>
    public ChunkStoreException(string message) : base(message) { }

    /// <summary>Creates an exception with a message and the error that caused it.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The underlying error.</param>
    public ChunkStoreException(string message, Exception? innerException) : base(message, innerException) { }

    /// <summary>Creates an exception with a message.</summary>
    public ChunkStoreException() : base("A chunk store operation failed.") { }

    /// <summary>Gets a description of the store (its root directory or bucket), when known.</summary>
    public string? Store { get; init; }

    /// <summary>Gets the chunk the operation was about, when there is one.</summary>
    public ChunkDigest? Digest { get; init; }

    /// <summary>Gets a value telling whether retrying the same operation later may succeed.</summary>
    public virtual bool IsTransient { get; init; }
}

/// <summary>The chunk is not in the store.</summary>
public sealed class ChunkNotFoundException : ChunkStoreException
{
    /// <summary>Creates the exception for a chunk of a store.</summary>
    /// <param name="store">The store description.</param>
    /// <param name="digest">The missing chunk.</param>
    public ChunkNotFoundException(string store, ChunkDigest digest)
        : base($"Chunk {digest} is not in store {store}.")
    {
        Store = store;
        Digest = digest;
    }
}

/// <summary>
/// A stored chunk's content does not hash to its name (bit flip, truncation, or a foreign write).
/// </summary>
/// <remarks>A read never returns such content. <see cref="ChunkRepository.VerifyAsync"/> renames the file to <c>.N.bad</c>.</remarks>
public sealed class ChunkCorruptException : ChunkStoreException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="store">The store description.</param>
    /// <param name="digest">The chunk's name.</param>
    /// <param name="actual">The digest of the content found.</param>
    /// <param name="length">The length of the content found.</param>
    public ChunkCorruptException(string store, ChunkDigest digest, ChunkDigest actual, long length)
        : base($"Chunk {digest} in store {store} is corrupt: its {length} bytes hash to {actual}.")
    {
        Store = store;
        Digest = digest;
        ActualDigest = actual;
        Length = length;
    }

    /// <summary>Gets the digest of the content actually found.</summary>
    public ChunkDigest ActualDigest { get; }

    /// <summary>Gets the length in bytes of the content actually found.</summary>
    public long Length { get; }
}

/// <summary>
/// Something that is not a regular file (a directory, a symbolic link, a device) sits where a chunk file
/// should be. The store never deletes or replaces it; an operator has to look at it.
/// </summary>
public sealed class InvalidChunkEntryException : ChunkStoreException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="store">The store description.</param>
    /// <param name="digest">The chunk.</param>
    /// <param name="path">The offending path.</param>
    /// <param name="kind">What was found, e.g. "a directory".</param>
    public InvalidChunkEntryException(string store, ChunkDigest digest, string path, string kind)
        : base($"Store {store}: {path} should be chunk {digest} but is {kind}, not a regular file; it is left untouched.")
    {
        Store = store;
        Digest = digest;
        Path = path;
    }

    /// <summary>Gets the path of the offending entry.</summary>
    public string Path { get; }
}

/// <summary>The kind of storage failure behind a <see cref="ChunkStorageException"/>.</summary>
public enum StorageErrorKind
{
    /// <summary>Any other I/O failure.</summary>
    Other,

    /// <summary>No space left on the device (<c>ENOSPC</c>) or quota exceeded (<c>EDQUOT</c>).</summary>
    DiskFull,

    /// <summary>Permission denied (<c>EACCES</c>, <c>EPERM</c>).</summary>
    PermissionDenied,

    /// <summary>The filesystem is mounted read-only (<c>EROFS</c>).</summary>
    ReadOnly,

    /// <summary>A low-level I/O error (<c>EIO</c>).</summary>
    IOError,

    /// <summary>A network or remote-service failure (S3).</summary>
    Network,
}

/// <summary>
/// The storage under the store failed: disk full, permission denied, read-only filesystem, I/O error,
/// or a remote service error. The store is left consistent (no partial chunk under a final name).
/// </summary>
public sealed class ChunkStorageException : ChunkStoreException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">The message (names store, chunk and cause).</param>
    /// <param name="kind">The kind of failure.</param>
    /// <param name="isTransient">Whether a retry may succeed.</param>
    /// <param name="innerException">The underlying error.</param>
    public ChunkStorageException(string message, StorageErrorKind kind, bool isTransient, Exception? innerException)
        : base(message, innerException)
    {
        Kind = kind;
        IsTransient = isTransient;
    }

    /// <summary>Gets the kind of failure.</summary>
    public StorageErrorKind Kind { get; }
}

/// <summary>The directory is not a chunk store, or is one whose format this version cannot read.</summary>
public sealed class InvalidStoreException : ChunkStoreException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="store">The directory.</param>
    /// <param name="reason">Why it is not usable as a store.</param>
    public InvalidStoreException(string store, string reason)
        : base($"{store} is not a usable chunk store: {reason}")
    {
        Store = store;
    }
}

/// <summary><see cref="ChunkRepository.Open(ChunkStoreOptions)"/> found no store at the given root.</summary>
public sealed class StoreNotFoundException : ChunkStoreException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="store">The root that was opened.</param>
    public StoreNotFoundException(string store)
        : base($"There is no chunk store at {store} (the directory does not exist). Use ChunkRepository.Create or ChunkRepository.OpenOrCreate to make one.")
    {
        Store = store;
    }
}

/// <summary><see cref="ChunkRepository.Create(ChunkStoreOptions)"/> found a store (or other files) already at the root.</summary>
public sealed class StoreAlreadyExistsException : ChunkStoreException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="store">The root.</param>
    /// <param name="reason">What was found there.</param>
    public StoreAlreadyExistsException(string store, string reason)
        : base($"Cannot create a chunk store at {store}: {reason}")
    {
        Store = store;
    }
}

/// <summary>A per-chunk lock could not be acquired within the timeout.</summary>
public sealed class ChunkLockTimeoutException : ChunkStoreException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="store">The lock directory.</param>
    /// <param name="digest">The chunk.</param>
    /// <param name="timeout">The timeout that elapsed.</param>
    public ChunkLockTimeoutException(string store, ChunkDigest digest, TimeSpan timeout)
        : base($"Timed out after {timeout} waiting for the lock of chunk {digest} (lock directory {store}); another thread or process holds it.")
    {
        Store = store;
        Digest = digest;
        IsTransient = true;
    }
}

/// <summary>Another garbage collection holds the store's <c>.gc.lock</c>.</summary>
public sealed class GarbageCollectionInProgressException : ChunkStoreException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="store">The store description.</param>
    public GarbageCollectionInProgressException(string store)
        : base($"Another garbage collection is running on store {store} (its .gc.lock is held); only one may run at a time.")
    {
        Store = store;
        IsTransient = true;
    }
}

/// <summary>
/// Garbage collection refused to run because the filesystem does not keep explicit access-time updates,
/// which are its only clock for "in use". Running it anyway could delete chunks that writers still use.
/// </summary>
public sealed class AccessTimeUnreliableException : ChunkStoreException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="store">The store description.</param>
    /// <param name="detail">What the check observed.</param>
    public AccessTimeUnreliableException(string store, string detail)
        : base($"Garbage collection refused to run on store {store}: explicit access-time updates are not kept by this filesystem ({detail}). Nothing was changed.")
    {
        Store = store;
    }
}
