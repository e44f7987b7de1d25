namespace ChunkStore.Backends;

/// <summary>
/// A backend whose chunk listing can meet entries under a chunk's name that are not chunks (the filesystem: a
/// symbolic link, a directory, a FIFO) and can say so, for scrubs that must report them (<c>VerifyAllAsync</c>).
/// </summary>
internal interface IReportsInvalidEntries
{
    /// <summary>Lists like <see cref="IChunkBackend.ListAsync"/> (which skips invalid entries silently) and reports each invalid entry it skips.</summary>
    /// <param name="onInvalid">Called once per invalid entry met, with the error a read of it would give; the entry is left untouched.</param>
    /// <param name="cancellationToken">Cancels the listing.</param>
    /// <returns>The digests of the stored chunks.</returns>
    IAsyncEnumerable<ChunkDigest> ListAsync(Action<InvalidChunkEntryException> onInvalid, CancellationToken cancellationToken);
}
