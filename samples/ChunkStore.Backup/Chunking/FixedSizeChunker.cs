namespace ChunkStore.Backup.Chunking;

/// <summary>Cuts the input every <see cref="Size"/> bytes. Fast, but one inserted byte shifts every later chunk.</summary>
internal sealed class FixedSizeChunker : IChunker
{
    public FixedSizeChunker(int size)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        Size = size;
        Spec = new ChunkerSpec("fixed", size, size, size);
    }

    public int Size { get; }

    public int MaxChunkSize => Size;

    public ChunkerSpec Spec { get; }

    public int NextChunkLength(ReadOnlySpan<byte> data) => Math.Min(data.Length, Size);
}
