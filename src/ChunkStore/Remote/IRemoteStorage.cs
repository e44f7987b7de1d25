using System.Buffers;
using System.Runtime.CompilerServices;

namespace ChunkStore.Remote;

/// <summary>
/// Named objects in a remote store (S3 objects today): the few operations the remote chunk protocol needs, written as
/// obligations. The protocol (locks, markers, the local cache, pending-delete records, the garbage collection's
/// classification) lives above it; an implementation knows only keys and bytes.
/// </summary>
/// <remarks>
/// <para>General obligations:</para>
/// <list type="bullet">
/// <item>Keys are opaque, case-sensitive strings; the protocol builds them (e.g. <c>&lt;prefix&gt;/.chunks/&lt;4hex&gt;/&lt;64hex&gt;</c>).</item>
/// <item>A failure surfaces as <see cref="ChunkStorageException"/> naming the store, the key and, when given, the chunk,
/// with <see cref="ChunkStoreException.IsTransient"/> set when a retry can help; cancellation through the caller's token as
/// <see cref="OperationCanceledException"/>. "Absent" is an answer, not a failure.</item>
/// <item>An implementation MAY retry a failed attempt; every attempt of a delete MUST be announced first (see
/// <see cref="DeleteAsync"/>): nothing may put a copy of a delete on the wire that the caller was not told of.</item>
/// <item>Every method is safe to call concurrently.</item>
/// </list>
/// </remarks>
internal interface IRemoteStorage : IDisposable
{
    /// <summary>Gets a human-readable description for messages (e.g. the endpoint, bucket and prefix).</summary>
    string Description { get; }

    /// <summary>Gets what the storage can do.</summary>
    RemoteStorageCapabilities Capabilities { get; }

    /// <summary>Stores an object.</summary>
    /// <remarks>With <paramref name="ifAbsent"/> and <see cref="RemoteStorageCapabilities.AtomicPutIfAbsent"/>, MUST NOT
    /// replace an existing object and MUST answer <see langword="false"/> when one exists (with concurrent puts of one key,
    /// exactly one creates it). Without that capability the caller checks with <see cref="ExistsAsync"/> first and
    /// passes <see langword="false"/>. The object is complete and durable when this returns.</remarks>
    /// <param name="key">The object's key.</param>
    /// <param name="data">The whole content (read once per attempt; not kept).</param>
    /// <param name="ifAbsent">Create only: leave an existing object alone.</param>
    /// <param name="digest">The chunk the object belongs to, for messages; null for other objects.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns><see langword="false"/> when <paramref name="ifAbsent"/> was set and the object existed; else <see langword="true"/>.</returns>
    ValueTask<bool> PutAsync(string key, ReadOnlyMemory<byte> data, bool ifAbsent, ChunkDigest? digest, CancellationToken cancellationToken);

    /// <summary>Tells whether an object exists (one metadata request, no body).</summary>
    /// <param name="key">The object's key.</param>
    /// <param name="digest">The chunk, for messages.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns><see langword="true"/> when it exists.</returns>
    ValueTask<bool> ExistsAsync(string key, ChunkDigest? digest, CancellationToken cancellationToken);

    /// <summary>Reads a whole object into <paramref name="destination"/>'s memory WITHOUT committing it: the caller checks
    /// the bytes and then calls <c>Advance</c>.</summary>
    /// <remarks>MUST take one <c>GetMemory(length)</c> when the length is known and write the object from its start;
    /// a retried attempt writes again from the start of that memory. MUST NOT call <c>Advance</c>. An object larger than
    /// <see cref="ChunkStoreOptions.MaxChunkSizeLimit"/> is refused with <see cref="ChunkCorruptException"/> before its
    /// body is read. A missing bucket or prefix is a failure, not "absent".</remarks>
    /// <param name="key">The object's key.</param>
    /// <param name="digest">The chunk, for messages and the corrupt-size exception.</param>
    /// <param name="destination">Where the bytes go.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The bytes (inside <paramref name="destination"/>'s memory) and the object's last-modified time in the
    /// storage's clock; null when the object is absent.</returns>
    ValueTask<RemoteRead?> ReadAsync(string key, ChunkDigest? digest, IBufferWriter<byte> destination, CancellationToken cancellationToken);

    /// <summary>Lists one page of the objects whose keys start with <paramref name="prefix"/>, in ascending ordinal order
    /// of key (one request).</summary>
    /// <remarks>MAY lag behind completed puts and deletes (eventual listings); over a whole listing (page after page,
    /// each continuing from the last), every object that existed during the whole listing and was not deleted MUST
    /// appear once. <see cref="RemoteStorage.ListAsync"/> walks all pages.</remarks>
    /// <param name="prefix">The key prefix.</param>
    /// <param name="continuation">Null for the first page; else the previous page's <see cref="RemoteListPage.Next"/>.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The page, and where the next one starts (null after the last).</returns>
    ValueTask<RemoteListPage> ListPageAsync(string prefix, string? continuation, CancellationToken cancellationToken);

    /// <summary>Copies an object to another key on the storage side (the bytes do not travel through this process),
    /// replacing what the target held. Not cancellable once sent.</summary>
    /// <param name="source">The key copied.</param>
    /// <param name="target">The new key.</param>
    /// <param name="digest">The chunk, for messages.</param>
    /// <returns><see langword="false"/> when the source does not exist (nothing copied).</returns>
    ValueTask<bool> CopyAsync(string source, string target, ChunkDigest? digest);

    /// <summary>Deletes a batch of objects in one request (absent keys count as deleted). Not cancellable once started.</summary>
    /// <remarks>MUST call <paramref name="beforeAttempt"/> before every attempt that may reach the storage, and MUST NOT
    /// let any lower layer (an HTTP client, an SDK) resend a delete behind its back: a pending-delete record is cleared
    /// only when its every attempt was answered. Per-key failures are an answer: they are returned, not thrown.</remarks>
    /// <param name="keys">The keys (at least one; at most the storage's batch limit, 1000 on S3).</param>
    /// <param name="beforeAttempt">Called before each attempt.</param>
    /// <returns>The keys the storage could not delete (an error without a key means: any of them).</returns>
    ValueTask<IReadOnlyList<RemoteDeleteError>> DeleteAsync(IReadOnlyList<string> keys, Action beforeAttempt);

    /// <summary>The local clock minus the storage's (positive: local ahead) as recent answers told it, within the
    /// storage's rounding; null when no recent answer carried the storage's time.</summary>
    /// <param name="localClock">The local clock.</param>
    /// <returns>The skew, or null.</returns>
    TimeSpan? ClockSkew(TimeProvider localClock);
}

/// <summary>What a remote storage can do.</summary>
/// <param name="AtomicPutIfAbsent">A put can be made conditional on the key being absent, atomically on the storage side.</param>
/// <param name="ClockSkewTolerance">How much younger an object may be than its listed last-modified time plus the
/// measured skew says (the skew estimate's error and the listing's rounding), rounded up.</param>
internal sealed record RemoteStorageCapabilities(bool AtomicPutIfAbsent, TimeSpan ClockSkewTolerance);

/// <summary>One object of a listing.</summary>
/// <param name="Key">Its key.</param>
/// <param name="Size">Its size in bytes.</param>
/// <param name="LastModified">When it was last written, in the storage's clock; null when the storage did not say.</param>
internal readonly record struct RemoteObject(string Key, long Size, DateTimeOffset? LastModified);

/// <summary>One page of a listing.</summary>
/// <param name="Objects">The page's objects, in ascending ordinal order of key.</param>
/// <param name="Next">Where the next page starts (an opaque token); null when this was the last page.</param>
internal sealed record RemoteListPage(IReadOnlyList<RemoteObject> Objects, string? Next);

/// <summary>An object read by <see cref="IRemoteStorage.ReadAsync"/>: its bytes (not yet committed) and its last-modified time.</summary>
/// <param name="Bytes">The content, inside the destination's memory.</param>
/// <param name="LastModified">When it was last written, in the storage's clock.</param>
internal readonly record struct RemoteRead(ReadOnlyMemory<byte> Bytes, DateTimeOffset LastModified);

/// <summary>A key a batch delete did not remove.</summary>
/// <param name="Key">The key, or null when the storage did not say which.</param>
/// <param name="Code">The storage's error code.</param>
/// <param name="Message">The storage's message.</param>
internal readonly record struct RemoteDeleteError(string? Key, string Code, string Message);

/// <summary>Helpers over any <see cref="IRemoteStorage"/>.</summary>
internal static class RemoteStorage
{
    /// <summary>
    /// Walks every page of a listing (one request per page), asking for the next page as soon as a page arrives: the
    /// request is on the wire while the caller works on the page it has (a collection's sweep does local work for every
    /// key), so a full listing takes about as long as its requests alone. A caller that stops early has sent at most one
    /// request more than it read; that request's outcome is dropped.
    /// </summary>
    /// <param name="storage">The storage.</param>
    /// <param name="prefix">The key prefix.</param>
    /// <param name="cancellationToken">Cancels the listing (and the page asked for ahead).</param>
    /// <returns>The pages, in key order.</returns>
    public static async IAsyncEnumerable<IReadOnlyList<RemoteObject>> ListAsync(this IRemoteStorage storage, string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        Task<RemoteListPage>? next = Ask(storage, prefix, null, cancellationToken);
        try
        {
            while (next is not null)
            {
                var page = await next.ConfigureAwait(false);
                next = page.Next is { } continuation ? Ask(storage, prefix, continuation, cancellationToken) : null;
                yield return page.Objects;
            }
        }
        finally
        {
            // Stopped early (or failed): nobody will await the page asked for ahead; observe its failure, if any.
            next?.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    /// <summary>Asks for one page; a failure, even one thrown before the request went out, comes with the page's task.</summary>
    private static Task<RemoteListPage> Ask(IRemoteStorage storage, string prefix, string? continuation, CancellationToken cancellationToken)
    {
        try
        {
            return storage.ListPageAsync(prefix, continuation, cancellationToken).AsTask();
        }
        catch (Exception ex)
        {
            return Task.FromException<RemoteListPage>(ex);
        }
    }
}
