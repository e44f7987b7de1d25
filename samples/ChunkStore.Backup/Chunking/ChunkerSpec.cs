using System.Text.Json.Serialization;

namespace ChunkStore.Backup.Chunking;

/// <summary>The chunker a snapshot was made with (recorded so a later backup can tell whether chunks will match).</summary>
/// <param name="Kind"><c>cdc</c> or <c>fixed</c>.</param>
/// <param name="MinSize">Smallest chunk (except a file's last); equals the size for fixed chunking.</param>
/// <param name="AverageSize">Target average size.</param>
/// <param name="MaxSize">Largest chunk.</param>
internal sealed record ChunkerSpec(
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("min")] int MinSize,
    [property: JsonPropertyName("avg")] int AverageSize,
    [property: JsonPropertyName("max")] int MaxSize)
{
    public override string ToString() => Kind == "fixed"
        ? $"fixed {Sizes.Format(AverageSize)}"
        : $"cdc {Sizes.Format(MinSize)} / {Sizes.Format(AverageSize)} / {Sizes.Format(MaxSize)}";

    /// <summary>Builds the chunker this spec describes.</summary>
    public IChunker Create() => Kind switch
    {
        "cdc" => new FastCdcChunker(MinSize, AverageSize, MaxSize),
        "fixed" => new FixedSizeChunker(AverageSize),
        _ => throw new InvalidOperationException($"Unknown chunker kind '{Kind}'."),
    };
}
