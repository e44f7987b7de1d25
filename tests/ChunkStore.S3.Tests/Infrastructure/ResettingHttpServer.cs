using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ChunkStore.S3.Tests.Infrastructure;

/// <summary>
/// An HTTP/1.1 server on 127.0.0.1 that counts every copy of a request it receives whole (head and body), resets the
/// connection (TCP RST, no response byte) for the first <c>resets</c> copies, and answers the later ones with a plain
/// S3-shaped 200 (PUT, CopyObject, DeleteObjects). It stands for a server, proxy or load balancer that drops a
/// connection after it has taken a request: the request may have taken effect, and the client cannot know.
/// </summary>
/// <remarks>Not an S3 server: it checks no signature and stores nothing. Tests use it to count what a client puts on
/// the wire, which no real server reports.</remarks>
internal sealed class ResettingHttpServer : IAsyncDisposable
{
    private static readonly byte[] s_headEnd = "\r\n\r\n"u8.ToArray();
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly int _resets;
    private readonly List<string> _requestLines = [];
    private readonly Task _accepting;
    private int _received;

    /// <param name="resets">How many copies (counted over all requests, first come first) are answered with a reset; <see cref="int.MaxValue"/> resets every copy.</param>
    public ResettingHttpServer(int resets)
    {
        _resets = resets;
        _listener.Start(64);
        _accepting = AcceptLoopAsync();
    }

    public Uri Endpoint => new(FormattableString.Invariant($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}"));

    /// <summary>Gets the number of requests received whole so far (every copy counts).</summary>
    public int Received => Volatile.Read(ref _received);

    /// <summary>Gets the request lines received (method and target), in order.</summary>
    public IReadOnlyList<string> RequestLines
    {
        get
        {
            lock (_requestLines)
            {
                return _requestLines.ToList();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _accepting;
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptTcpClientAsync(_stop.Token);
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                var buffer = new List<byte>();
                while (await ReadRequestAsync(stream, buffer) is { } requestLine)
                {
                    int copy = Interlocked.Increment(ref _received);
                    lock (_requestLines)
                    {
                        _requestLines.Add(requestLine);
                    }

                    if (copy <= _resets)
                    {
                        // RST instead of FIN: the client sees "connection reset" while waiting for the response.
                        client.Client.LingerState = new LingerOption(true, 0);
                        client.Client.Close();
                        return;
                    }

                    await stream.WriteAsync(Response(requestLine), _stop.Token);
                }
            }
            catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
            {
            }
        }
    }

    /// <summary>Reads one whole request (head, then a Content-Length or chunked body); null at the end of the connection.</summary>
    private async Task<string?> ReadRequestAsync(NetworkStream stream, List<byte> pending)
    {
        int headEnd;
        while ((headEnd = IndexOf(pending, s_headEnd)) < 0)
        {
            if (!await FillAsync(stream, pending))
            {
                return null;
            }
        }

        string head = Encoding.ASCII.GetString(pending.GetRange(0, headEnd).ToArray());
        pending.RemoveRange(0, headEnd + s_headEnd.Length);
        var lines = head.Split("\r\n");
        long contentLength = 0;
        bool chunked = false;
        bool expectContinue = false;
        foreach (var line in lines.Skip(1))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0)
            {
                continue;
            }

            string name = line[..colon].Trim();
            string value = line[(colon + 1)..].Trim();
            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                contentLength = long.Parse(value, CultureInfo.InvariantCulture);
            }
            else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                chunked = value.Contains("chunked", StringComparison.OrdinalIgnoreCase);
            }
            else if (name.Equals("Expect", StringComparison.OrdinalIgnoreCase))
            {
                expectContinue = value.Equals("100-continue", StringComparison.OrdinalIgnoreCase);
            }
        }

        if (expectContinue)
        {
            await stream.WriteAsync("HTTP/1.1 100 Continue\r\n\r\n"u8.ToArray(), _stop.Token);
        }

        if (chunked)
        {
            // Chunks until the zero-length one and the empty line after its (absent) trailers.
            while (true)
            {
                int lineEnd;
                while ((lineEnd = IndexOf(pending, "\r\n"u8.ToArray())) < 0)
                {
                    if (!await FillAsync(stream, pending))
                    {
                        return null;
                    }
                }

                string sizeLine = Encoding.ASCII.GetString(pending.GetRange(0, lineEnd).ToArray());
                long size = long.Parse(sizeLine.Split(';')[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                pending.RemoveRange(0, lineEnd + 2);
                if (size == 0)
                {
                    while ((lineEnd = IndexOf(pending, "\r\n"u8.ToArray())) != 0)
                    {
                        if (lineEnd > 0)
                        {
                            pending.RemoveRange(0, lineEnd + 2); // a trailer line
                        }
                        else if (!await FillAsync(stream, pending))
                        {
                            return null;
                        }
                    }

                    pending.RemoveRange(0, 2);
                    break;
                }

                if (!await SkipAsync(stream, pending, size + 2))
                {
                    return null;
                }
            }
        }
        else if (!await SkipAsync(stream, pending, contentLength))
        {
            return null;
        }

        return lines[0];
    }

    private async Task<bool> SkipAsync(NetworkStream stream, List<byte> pending, long count)
    {
        while (pending.Count < count)
        {
            count -= pending.Count;
            pending.Clear();
            if (!await FillAsync(stream, pending))
            {
                return false;
            }
        }

        pending.RemoveRange(0, (int)count);
        return true;
    }

    private async Task<bool> FillAsync(NetworkStream stream, List<byte> pending)
    {
        var chunk = new byte[64 * 1024];
        int n = await stream.ReadAsync(chunk, _stop.Token);
        if (n == 0)
        {
            return false;
        }

        pending.AddRange(chunk.AsSpan(0, n));
        return true;
    }

    private static int IndexOf(List<byte> haystack, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= haystack.Count; i++)
        {
            int j = 0;
            while (j < needle.Length && haystack[i + j] == needle[j])
            {
                j++;
            }

            if (j == needle.Length)
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>A 200 in the shape the SDK expects for the request.</summary>
    private static byte[] Response(string requestLine)
    {
        string body = "";
        if (requestLine.StartsWith("POST ", StringComparison.Ordinal) && requestLine.Contains("delete", StringComparison.Ordinal))
        {
            body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"></DeleteResult>";
        }
        else if (requestLine.StartsWith("PUT ", StringComparison.Ordinal))
        {
            // PutObject ignores a body; CopyObject reads its result from it.
            body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><CopyObjectResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LastModified>2026-12-02T00:00:00.000Z</LastModified><ETag>\"d41d8cd98f00b204e9800998ecf8427e\"</ETag></CopyObjectResult>";
        }

        byte[] bytes = Encoding.UTF8.GetBytes(body);
        string head = FormattableString.Invariant(
            $"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nETag: \"d41d8cd98f00b204e9800998ecf8427e\"\r\nx-amz-request-id: test\r\nContent-Length: {bytes.Length}\r\n\r\n");
        return [.. Encoding.ASCII.GetBytes(head), .. bytes];
    }
}
