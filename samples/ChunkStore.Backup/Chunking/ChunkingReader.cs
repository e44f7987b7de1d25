namespace ChunkStore.Backup.Chunking;

/// <summary>Reads a stream and hands out its chunks in order, buffering at least one maximum chunk ahead.</summary>
/// <remarks>A returned chunk's memory is valid only until the next call: copy it if it must live longer.</remarks>
internal sealed class ChunkingReader
{
    private readonly IChunker _chunker;
    private Stream _stream;
    private readonly byte[] _buffer;
    private int _start;
    private int _end;
    private bool _eof;

    public ChunkingReader(Stream stream, IChunker chunker, int bufferSize = 8 * 1024 * 1024)
    {
        _stream = stream;
        _chunker = chunker;
        _buffer = new byte[Math.Max(bufferSize, 2 * chunker.MaxChunkSize)];
    }

    /// <summary>Starts over on another stream, reusing the buffer (allocating megabytes per small file is costly).</summary>
    public void Reset(Stream stream)
    {
        _stream = stream;
        _start = 0;
        _end = 0;
        _eof = false;
        BytesRead = 0;
    }

    /// <summary>Gets the number of bytes read from the stream so far.</summary>
    public long BytesRead { get; private set; }

    /// <summary>Returns the next chunk, or an empty memory at the end of the stream.</summary>
    public async ValueTask<ReadOnlyMemory<byte>> NextAsync(CancellationToken cancellationToken)
    {
        if (_end - _start < _chunker.MaxChunkSize && !_eof)
        {
            await FillAsync(cancellationToken).ConfigureAwait(false);
        }

        int available = _end - _start;
        if (available == 0)
        {
            return ReadOnlyMemory<byte>.Empty;
        }

        int length = _chunker.NextChunkLength(_buffer.AsSpan(_start, available));
        var chunk = new ReadOnlyMemory<byte>(_buffer, _start, length);
        _start += length;
        return chunk;
    }

    private async ValueTask FillAsync(CancellationToken cancellationToken)
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        while (_end < _buffer.Length)
        {
            int n = await _stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                _eof = true;
                break;
            }

            _end += n;
            BytesRead += n;
        }
    }
}
