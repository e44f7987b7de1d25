using System.Buffers;

namespace ChunkStore.Backends;

/// <summary>
/// An <see cref="IBufferWriter{T}"/> that hands out one array of exactly the size first asked for, so that a read of
/// one chunk into it ends as that array, with no copy (the array-returning reads go through the buffer-writer path).
/// </summary>
internal sealed class ExactArrayWriter : IBufferWriter<byte>
{
    private byte[] _array = [];
    private int _written;

    /// <summary>Gets the bytes written: the array itself when it was filled exactly, else a copy of the written part.</summary>
    public byte[] Written => _written == _array.Length ? _array : _array[.._written];

    public void Advance(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, _array.Length - _written);
        _written += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sizeHint);
        if (_array.Length - _written < sizeHint || (sizeHint == 0 && _array.Length == _written))
        {
            var bigger = GC.AllocateUninitializedArray<byte>(_written + Math.Max(sizeHint, 256));
            _array.AsSpan(0, _written).CopyTo(bigger);
            _array = bigger;
        }

        return _array.AsMemory(_written);
    }

    public Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;
}
