using System.Buffers;

namespace ChunkStore.Tests;

/// <summary>The pooled buffer behind ReadPooledAsync and OpenReadAsync.</summary>
public class PooledChunkTests
{
    [Fact]
    public void Written_IsExactlyWhatWasAdvanced_AndGrowsWithoutLosingBytes()
    {
        using var chunk = new PooledChunk();
        chunk.GetSpan(3)[..3].Fill(7);
        chunk.Advance(3);
        var more = chunk.GetMemory(100_000); // a second rent: the first three bytes are carried over
        more.Span[..2].Fill(9);
        chunk.Advance(2);

        Assert.Equal([7, 7, 7, 9, 9], chunk.Memory.ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => chunk.Advance(more.Length));
    }

    [Fact]
    public void Detach_HandsTheArrayOver_AndTheOwnerIsDone()
    {
        var chunk = new PooledChunk();
        chunk.GetSpan(4)[..4].Fill(1);
        chunk.Advance(4);

        var (array, length) = chunk.Detach();

        Assert.Equal(4, length);
        Assert.True(array.Length >= 4);
        Assert.Throws<ObjectDisposedException>(() => chunk.Memory);
        chunk.Dispose(); // does not return the detached array
        ArrayPool<byte>.Shared.Return(array);
    }

    [Fact]
    public void ReadStream_ReturnsItsArrayOnce_AndRefusesReadsAfterDispose()
    {
        var chunk = new PooledChunk();
        chunk.GetSpan(2)[..2].Fill(5);
        chunk.Advance(2);
        var stream = new PooledChunk.ReadStream(chunk.Detach());

        Assert.Equal(2, stream.Length);
        Assert.False(stream.TryGetBuffer(out _)); // the pooled array is not handed out
        stream.Dispose();
        stream.Dispose();
        Assert.Throws<ObjectDisposedException>(() => stream.ReadByte());
    }
}
