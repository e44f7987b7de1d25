using System.Buffers;

namespace ChunkStore;

/// <summary>
/// A verified chunk in an array rented from <see cref="ArrayPool{T}.Shared"/>: the buffer of
/// <see cref="ChunkRepository.ReadPooledAsync"/> and <see cref="ChunkRepository.OpenReadAsync"/>. Disposing returns the
/// array to the pool; after that <see cref="Memory"/> throws.
/// </summary>
internal sealed class PooledChunk : IMemoryOwner<byte>, IBufferWriter<byte>
{
    private byte[]? _array;
    private int _length;
    private bool _disposed;

    /// <summary>Gets the chunk's bytes (exactly its length).</summary>
    /// <exception cref="ObjectDisposedException">The owner was disposed: the array may belong to someone else now.</exception>
    public Memory<byte> Memory
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _array is null ? Memory<byte>.Empty : _array.AsMemory(0, _length);
        }
    }

    /// <summary>Gets the rented array and the chunk's length, handing the array over (this owner no longer returns it).</summary>
    /// <returns>The array and the length.</returns>
    public (byte[] Array, int Length) Detach()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var array = _array ?? [];
        _array = null;
        _disposed = true;
        return (array, _length);
    }

    public void Advance(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, (_array?.Length ?? 0) - _length);
        _length += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int needed = _length + Math.Max(sizeHint, 1);
        if (_array is null || _array.Length < needed)
        {
            var bigger = ArrayPool<byte>.Shared.Rent(needed);
            if (_array is not null)
            {
                _array.AsSpan(0, _length).CopyTo(bigger);
                ArrayPool<byte>.Shared.Return(_array);
            }

            _array = bigger;
        }

        return _array.AsMemory(_length);
    }

    public Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (_array is { } array)
        {
            _array = null;
            ArrayPool<byte>.Shared.Return(array);
        }
    }

    /// <summary>A read-only, seekable stream over a verified chunk that returns its pooled array when disposed.</summary>
    internal sealed class ReadStream((byte[] Array, int Length) chunk) : MemoryStream(chunk.Array, 0, chunk.Length, writable: false)
    {
        private byte[]? _array = chunk.Array;

        protected override void Dispose(bool disposing)
        {
            base.Dispose(disposing);
            if (disposing && Interlocked.Exchange(ref _array, null) is { Length: > 0 } array)
            {
                ArrayPool<byte>.Shared.Return(array);
            }
        }
    }
}
