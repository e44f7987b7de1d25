using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace ChunkStore.Backup.Chunking;

/// <summary>
/// Content-defined chunking after FastCDC (Xia et al., USENIX ATC 2016): a gear rolling hash, cut-point skipping
/// below the minimum size, and normalized chunking (a stricter mask before the average size, a looser one after)
/// so chunk sizes cluster around the average.
/// </summary>
/// <remarks>
/// <para>The gear hash is <c>h = (h &lt;&lt; 1) + Gear[b]</c>. A byte's contribution is shifted out after 64 steps,
/// so <c>h</c> depends on the last 64 bytes only, and a cut is tested on the hash's top bits, which depend on
/// the most bytes. Hashing starts 64 bytes before the minimum size so that every tested position sees a full
/// window: a cut depends only on the 64 bytes before it, never on where the chunk began — which is what lets an
/// insertion disturb only the chunks around it.</para>
/// <para>The gear table and the mask layout are part of the on-disk contract in practice: changing them changes
/// every cut point, so new backups would no longer deduplicate against old ones (still correct, only larger).</para>
/// </remarks>
internal sealed class FastCdcChunker : IChunker
{
    public const int DefaultMinSize = 64 * 1024;
    public const int DefaultAverageSize = 256 * 1024;
    public const int DefaultMaxSize = 1024 * 1024;

    /// <summary>Bytes the hash needs to forget its start: one per bit of the 64-bit state.</summary>
    private const int Window = 64;

    /// <summary>Normalization level: the mask before the average has this many bits more, the one after this many fewer.</summary>
    private const int NormalizationLevel = 2;

    private static readonly ulong[] s_gear = BuildGearTable();

    private readonly ulong _maskStrict;
    private readonly ulong _maskLoose;

    public FastCdcChunker()
        : this(DefaultMinSize, DefaultAverageSize, DefaultMaxSize)
    {
    }

    /// <summary>Creates a chunker.</summary>
    /// <param name="minSize">Smallest chunk (except the input's last); at least 64 bytes.</param>
    /// <param name="averageSize">Target average; a power of two larger than <paramref name="minSize"/>.</param>
    /// <param name="maxSize">Largest chunk; at least <paramref name="averageSize"/>.</param>
    public FastCdcChunker(int minSize, int averageSize, int maxSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(minSize, Window);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(averageSize, minSize);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSize, averageSize);
        if (!BitOperations.IsPow2(averageSize))
        {
            throw new ArgumentOutOfRangeException(nameof(averageSize), averageSize, "The average chunk size must be a power of two.");
        }

        MinSize = minSize;
        AverageSize = averageSize;
        MaxSize = maxSize;
        int bits = BitOperations.Log2((uint)averageSize);
        _maskStrict = TopBits(bits + NormalizationLevel);
        _maskLoose = TopBits(Math.Max(1, bits - NormalizationLevel));
        Spec = new ChunkerSpec("cdc", minSize, averageSize, maxSize);
    }

    /// <summary>Creates the default chunker scaled to an average size: min = avg / 4, max = avg × 4.</summary>
    public static FastCdcChunker ForAverage(int averageSize) => new(Math.Max(Window, averageSize / 4), averageSize, averageSize * 4);

    public int MinSize { get; }

    public int AverageSize { get; }

    public int MaxSize { get; }

    public int MaxChunkSize => MaxSize;

    public ChunkerSpec Spec { get; }

    public int NextChunkLength(ReadOnlySpan<byte> data)
    {
        int length = data.Length;
        if (length <= MinSize)
        {
            return length;
        }

        if (length > MaxSize)
        {
            length = MaxSize;
        }

        int normal = Math.Min(AverageSize, length);
        ref byte src = ref MemoryMarshal.GetReference(data);
        ref ulong gear = ref MemoryMarshal.GetArrayDataReference(s_gear);
        ulong hash = 0;

        // Warm up over the window before the minimum: no cut may fall there, but the hash must be full at MinSize.
        int i = MinSize - Window;
        for (; i < MinSize; i++)
        {
            hash = (hash << 1) + Unsafe.Add(ref gear, Unsafe.Add(ref src, i));
        }

        ulong mask = _maskStrict;
        for (; i < normal; i++)
        {
            hash = (hash << 1) + Unsafe.Add(ref gear, Unsafe.Add(ref src, i));
            if ((hash & mask) == 0)
            {
                return i + 1;
            }
        }

        mask = _maskLoose;
        for (; i < length; i++)
        {
            hash = (hash << 1) + Unsafe.Add(ref gear, Unsafe.Add(ref src, i));
            if ((hash & mask) == 0)
            {
                return i + 1;
            }
        }

        return length;
    }

    private static ulong TopBits(int count) => ulong.MaxValue << (64 - count);

    /// <summary>
    /// Builds the 256 gear values from a fixed seed with SplitMix64 (any well-mixed table works; fixing it keeps cut
    /// points stable across versions and machines).
    /// </summary>
    private static ulong[] BuildGearTable()
    {
        var table = new ulong[256];
        ulong state = 0x43_68_75_6E_6B_53_74_6FUL; // "ChunkSto"
        for (int i = 0; i < table.Length; i++)
        {
            state += 0x9E37_79B9_7F4A_7C15UL;
            ulong z = state;
            z = (z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EBUL;
            table[i] = z ^ (z >> 31);
        }

        return table;
    }
}
