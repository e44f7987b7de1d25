namespace ChunkStore.Backup.Chunking;

/// <summary>Splits a byte stream into chunks, one cut at a time.</summary>
internal interface IChunker
{
    /// <summary>Gets the largest chunk this chunker produces.</summary>
    int MaxChunkSize { get; }

    /// <summary>Gets a description for snapshots and summaries, e.g. <c>cdc 64K/256K/1M</c>.</summary>
    ChunkerSpec Spec { get; }

    /// <summary>Returns the length of the chunk that starts at <paramref name="data"/>[0].</summary>
    /// <param name="data">
    /// The input from the start of the next chunk: at least <see cref="MaxChunkSize"/> bytes, or every byte left
    /// when the input ends sooner.
    /// </param>
    /// <returns>The chunk length: 1 to <c>min(data.Length, MaxChunkSize)</c>; 0 only for empty input.</returns>
    int NextChunkLength(ReadOnlySpan<byte> data);
}
