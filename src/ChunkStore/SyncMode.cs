namespace ChunkStore;

/// <summary>How hard the filesystem store works to make new chunks durable before reporting them stored.</summary>
public enum SyncMode
{
    /// <summary>
    /// No explicit sync: a new chunk is atomically visible (temp file + rename) but may be lost, never torn,
    /// if the machine crashes before the kernel writes it back. The fastest mode.
    /// </summary>
    None,

    /// <summary>Every new chunk file and its directory are <c>fsync</c>ed before the insert returns.</summary>
    File,

    /// <summary>
    /// No sync per chunk; one <c>syncfs</c> of the store's filesystem when a <see cref="WriteSession"/> completes
    /// (or on <see cref="ChunkRepository.FlushAsync"/>), so a writer publishes its index only after everything it
    /// stored is durable.
    /// </summary>
    Batch,
}
