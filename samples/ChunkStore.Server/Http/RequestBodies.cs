using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Text;
using ChunkStore.Server.Errors;
using Microsoft.AspNetCore.Http.Features;

namespace ChunkStore.Server.Http;

/// <summary>A chunk body read into a pooled buffer; dispose it to return the buffer.</summary>
internal sealed class ChunkBody(byte[] buffer, int length) : IDisposable
{
    private byte[]? _buffer = buffer;

    public ReadOnlyMemory<byte> Memory => (_buffer ?? throw new ObjectDisposedException(nameof(ChunkBody))).AsMemory(0, length);

    public int Length => length;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _buffer, null) is { } b)
        {
            ArrayPool<byte>.Shared.Return(b);
        }
    }
}

/// <summary>Reads request bodies within their limits: one chunk, or a streamed list of digests.</summary>
internal static class RequestBodies
{
    /// <summary>Raises (or lowers) this request's body limit from the server-wide default; Kestrel answers 413 beyond it.</summary>
    public static void SetLimit(HttpContext context, long? maxBytes)
    {
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature)
        {
            feature.MaxRequestBodySize = maxBytes;
        }
    }

    /// <summary>
    /// Reads a chunk: 1 byte to <paramref name="maxChunkSize"/>. A declared Content-Length beyond the limit is refused
    /// before a byte is read (with <c>Expect: 100-continue</c> the client never sends the body); a chunked body is
    /// refused as soon as it passes the limit.
    /// </summary>
    /// <exception cref="BadHttpRequestException">413 when too large, 400 when empty.</exception>
    public static async Task<ChunkBody> ReadChunkAsync(HttpContext context, int maxChunkSize, CancellationToken cancellationToken)
    {
        SetLimit(context, maxChunkSize);
        long? declared = context.Request.ContentLength;
        if (declared > maxChunkSize)
        {
            throw TooLarge(declared.Value, maxChunkSize);
        }

        if (declared == 0)
        {
            throw Empty();
        }

        // Known length: one exact rent. Unknown (chunked): grow by doubling up to the limit.
        var buffer = ArrayPool<byte>.Shared.Rent((int)(declared ?? Math.Min(maxChunkSize, 64 * 1024)));
        int length = 0;
        try
        {
            var body = context.Request.Body;
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (length >= maxChunkSize)
                    {
                        // Full at the limit: one more byte makes it too large.
                        byte[] probe = new byte[1];
                        if (await body.ReadAsync(probe, cancellationToken).ConfigureAwait(false) > 0)
                        {
                            throw TooLarge(length + 1L, maxChunkSize);
                        }

                        break;
                    }

                    var bigger = ArrayPool<byte>.Shared.Rent((int)Math.Min((long)buffer.Length * 2, maxChunkSize));
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }

                int read = await body.ReadAsync(buffer.AsMemory(length, Math.Min(buffer.Length, maxChunkSize) - length), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                length += read;
            }

            if (length == 0)
            {
                throw Empty();
            }

            return new ChunkBody(buffer, length);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    /// <summary>Tells whether the request has a body at all (a Content-Length above 0, or a chunked body).</summary>
    public static bool HasBody(HttpRequest request) =>
        request.ContentLength > 0 || (request.ContentLength is null && request.HttpContext.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody == true);

    /// <summary>
    /// Reads a list of digests, one per line (64 hex characters; blank lines and <c>#</c> comments skipped), as it
    /// arrives: nothing is buffered beyond one line. A malformed line, a body cut short, or (with
    /// <paramref name="expectedCount"/>) a list of another length throws while the consumer reads — so a garbage
    /// collection fed by this list stops in its mark phase, before its sweep removes anything.
    /// </summary>
    public static async IAsyncEnumerable<ChunkDigest> ReadDigestsAsync(
        HttpContext context, long maxBytes, long? expectedCount, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        SetLimit(context, maxBytes);
        var reader = context.Request.BodyReader;
        long line = 0, count = 0;
        while (true)
        {
            var read = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = read.Buffer;
            try
            {
                while (TryTakeLine(ref buffer, out var text))
                {
                    line++;
                    if (Parse(text, line) is { } digest)
                    {
                        count++;
                        yield return digest;
                    }
                }

                if (read.IsCompleted)
                {
                    if (!buffer.IsEmpty && Parse(buffer, ++line) is { } last)
                    {
                        count++;
                        yield return last;
                    }

                    buffer = buffer.Slice(buffer.End);
                    break;
                }

                if (buffer.Length > 1024)
                {
                    throw new DigestListException($"Line {line + 1} of the digest list is longer than 1024 bytes.");
                }
            }
            finally
            {
                // Also when a line is malformed or the consumer stops: a read left unadvanced breaks the connection's
                // next request (Kestrel cannot drain the body).
                reader.AdvanceTo(buffer.Start, read.Buffer.End);
            }
        }

        if (expectedCount is { } expected && expected != count)
        {
            throw new DigestListException($"The body held {count} digests, but count={expected} was announced; the list was refused before anything was removed.");
        }
    }

    private static bool TryTakeLine(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> line)
    {
        if (buffer.PositionOf((byte)'\n') is not { } end)
        {
            line = default;
            return false;
        }

        line = buffer.Slice(0, end);
        buffer = buffer.Slice(buffer.GetPosition(1, end));
        return true;
    }

    private static ChunkDigest? Parse(ReadOnlySequence<byte> bytes, long line)
    {
        if (bytes.Length > 1024)
        {
            throw new DigestListException($"Line {line} of the digest list is longer than 1024 bytes.");
        }

        Span<char> text = stackalloc char[(int)bytes.Length];
        Encoding.ASCII.GetChars(bytes.IsSingleSegment ? bytes.FirstSpan : bytes.ToArray(), text);
        var trimmed = text.Trim();
        if (trimmed.IsEmpty || trimmed[0] == '#')
        {
            return null;
        }

        if (!ChunkDigest.TryParse(trimmed, out var digest))
        {
            throw new DigestListException($"Line {line} of the digest list is not a digest (64 hex characters): '{Shorten(trimmed)}'.");
        }

        return digest;
    }

    private static string Shorten(ReadOnlySpan<char> text) => text.Length <= 80 ? text.ToString() : string.Concat(text[..77], "...");

    private static BadHttpRequestException TooLarge(long size, int max) =>
        new($"The chunk is {size} bytes or more; this store takes chunks of at most {max} bytes.", StatusCodes.Status413PayloadTooLarge);

    private static BadHttpRequestException Empty() =>
        new("The body is empty; a chunk is 1 byte or more.", StatusCodes.Status400BadRequest);
}
