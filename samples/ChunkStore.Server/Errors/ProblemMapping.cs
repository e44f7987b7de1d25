using ChunkStore.S3;

namespace ChunkStore.Server.Errors;

/// <summary>How an exception is answered: the status, the Problem Details title, and a Retry-After for transient failures.</summary>
internal readonly record struct ProblemAnswer(int Status, string Title, TimeSpan? RetryAfter = null);

/// <summary>Maps the library's typed exceptions (and the server's own) onto HTTP answers.</summary>
internal static class ProblemMapping
{
    public static ProblemAnswer Map(Exception exception) => exception switch
    {
        ChunkNotFoundException => new(StatusCodes.Status404NotFound, "Chunk not found"),
        ChunkCorruptException => new(StatusCodes.Status500InternalServerError, "The stored chunk is corrupt"),
        InvalidChunkEntryException => new(StatusCodes.Status500InternalServerError, "Something that is not a chunk file sits at the chunk's path"),
        ChunkLockTimeoutException => new(StatusCodes.Status503ServiceUnavailable, "The chunk is locked by another writer", TimeSpan.FromSeconds(1)),
        GarbageCollectionInProgressException => new(StatusCodes.Status409Conflict, "A garbage collection is already running on this store"),
        AccessTimeUnreliableException => new(StatusCodes.Status500InternalServerError, "The store's filesystem loses access-time updates: garbage collection refused"),
        S3ClockSkewException => new(StatusCodes.Status503ServiceUnavailable, "This host's clock differs too much from the S3 server's", TimeSpan.FromSeconds(30)),
        ChunkStorageException { Kind: StorageErrorKind.DiskFull } => new(StatusCodes.Status507InsufficientStorage, "The store's storage is full"),
        ChunkStorageException { IsTransient: true } => new(StatusCodes.Status503ServiceUnavailable, "The store's storage failed; retry", TimeSpan.FromSeconds(1)),
        ChunkStorageException => new(StatusCodes.Status500InternalServerError, "The store's storage failed"),
        ChunkStoreException { IsTransient: true } => new(StatusCodes.Status503ServiceUnavailable, "The store failed; retry", TimeSpan.FromSeconds(1)),
        DigestListException => new(StatusCodes.Status400BadRequest, "The digest list is malformed"),
        BadHttpRequestException bad => new(bad.StatusCode, bad.StatusCode == StatusCodes.Status413PayloadTooLarge ? "The request body is too large" : "Bad request"),
        _ => new(StatusCodes.Status500InternalServerError, "The server failed"),
    };
}

/// <summary>A digest list in a request body is malformed (a line that is not 64 hex characters) or shorter than announced.</summary>
internal sealed class DigestListException(string message) : Exception(message);
