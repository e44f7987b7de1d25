using ChunkStore.Backup.Chunking;

namespace ChunkStore.Backup.Tests;

public class FastCdcChunkerTests
{
    private const int TwentyMiB = 20 * 1024 * 1024;

    [Fact]
    public void Chunks_SameInput_SameBoundaries()
    {
        byte[] data = RandomBytes(TwentyMiB, seed: 1);

        var first = ChunkLengths(new FastCdcChunker(), data);
        var second = ChunkLengths(new FastCdcChunker(), (byte[])data.Clone());

        Assert.Equal(first, second);
        Assert.Equal(data.Length, first.Sum());
    }

    [Fact]
    public void Chunks_RandomInput_RespectMinAndMaxAndAverageNearTarget()
    {
        byte[] data = RandomBytes(TwentyMiB, seed: 2);
        var chunker = new FastCdcChunker();

        var lengths = ChunkLengths(chunker, data);

        Assert.Equal(data.Length, lengths.Sum());
        Assert.All(lengths[..^1], l => Assert.InRange(l, FastCdcChunker.DefaultMinSize + 1, FastCdcChunker.DefaultMaxSize));
        Assert.InRange(lengths[^1], 1, FastCdcChunker.DefaultMaxSize);
        double average = lengths.Average();
        Assert.InRange(average, FastCdcChunker.DefaultAverageSize * 0.75, FastCdcChunker.DefaultAverageSize * 1.5);
    }

    [Fact]
    public void Chunks_ConstantInput_CutsAtMaxSize()
    {
        // No content boundary in constant data: every cut must be forced at the maximum.
        byte[] data = new byte[5 * FastCdcChunker.DefaultMaxSize + 123];

        var lengths = ChunkLengths(new FastCdcChunker(), data);

        Assert.Equal([.. Enumerable.Repeat(FastCdcChunker.DefaultMaxSize, 5), 123], lengths);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(1000)]
    public void Chunks_InsertionInTheMiddle_ChangesOnlyAFewChunks(int inserted)
    {
        byte[] original = RandomBytes(TwentyMiB, seed: 3);
        int middle = original.Length / 2;
        byte[] edited = [.. original.AsSpan(0, middle), .. RandomBytes(inserted, seed: 4), .. original.AsSpan(middle)];

        var before = ChunkDigests(new FastCdcChunker(), original);
        var after = ChunkDigests(new FastCdcChunker(), edited);

        int changed = after.Count(d => !before.Contains(d));
        Assert.InRange(changed, 1, 4);
        Assert.InRange(before.Count(d => !after.Contains(d)), 1, 4);
    }

    [Fact]
    public void FixedChunks_InsertionInTheMiddle_ChangesEveryLaterChunk()
    {
        // The contrast that motivates content-defined chunking.
        byte[] original = RandomBytes(TwentyMiB, seed: 3);
        int middle = original.Length / 2;
        byte[] edited = [.. original.AsSpan(0, middle), 42, .. original.AsSpan(middle)];

        var before = ChunkDigests(new FixedSizeChunker(256 * 1024), original);
        var after = ChunkDigests(new FixedSizeChunker(256 * 1024), edited);

        Assert.True(after.Count(d => !before.Contains(d)) >= 40);
    }

    [Fact]
    public void Chunks_ShortInput_IsOneChunk()
    {
        byte[] data = RandomBytes(FastCdcChunker.DefaultMinSize - 1, seed: 5);

        Assert.Equal([data.Length], ChunkLengths(new FastCdcChunker(), data));
        Assert.Empty(ChunkLengths(new FastCdcChunker(), []));
    }

    [Fact]
    public async Task ChunkingReader_SmallReads_SameChunksAsWholeBuffer()
    {
        byte[] data = RandomBytes(6 * 1024 * 1024, seed: 6);
        var chunker = new FastCdcChunker();
        var reader = new ChunkingReader(new TrickleStream(data, 4097), chunker, bufferSize: 0);
        var lengths = new List<int>();
        while (true)
        {
            var chunk = await reader.NextAsync(default);
            if (chunk.IsEmpty)
            {
                break;
            }

            lengths.Add(chunk.Length);
        }

        Assert.Equal(ChunkLengths(chunker, data), lengths);
    }

    internal static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static List<int> ChunkLengths(IChunker chunker, byte[] data)
    {
        var lengths = new List<int>();
        int offset = 0;
        while (offset < data.Length)
        {
            int n = chunker.NextChunkLength(data.AsSpan(offset));
            Assert.True(n > 0);
            lengths.Add(n);
            offset += n;
        }

        return lengths;
    }

    private static List<ChunkDigest> ChunkDigests(IChunker chunker, byte[] data)
    {
        var digests = new List<ChunkDigest>();
        int offset = 0;
        foreach (int n in ChunkLengths(chunker, data))
        {
            digests.Add(ChunkDigest.Compute(data.AsSpan(offset, n)));
            offset += n;
        }

        return digests;
    }

    /// <summary>A stream that returns at most a few bytes per read, to exercise the reader's refills.</summary>
    private sealed class TrickleStream(byte[] data, int maxRead) : MemoryStream(data)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(buffer.Length, maxRead)], cancellationToken);
    }
}
