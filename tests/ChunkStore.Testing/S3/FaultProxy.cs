using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace ChunkStore.Torture;

/// <summary>What the fault proxy does with one request.</summary>
internal enum ProxyFault
{
    /// <summary>Forward it unchanged.</summary>
    None,

    /// <summary>Forward it after 0.1–1.5 s.</summary>
    Delay,

    /// <summary>Answer <c>503 SlowDown</c> without forwarding it.</summary>
    Answer503,

    /// <summary>Reset the connection before forwarding: the server never saw it.</summary>
    ResetBefore,

    /// <summary>Forward it whole, then reset the client's connection: the server may have done it, the client cannot know.</summary>
    ResetAfter,

    /// <summary>Take it whole, reset the client at once, and deliver it to the server 0.2–3 s later on a connection of its own.</summary>
    Late,

    /// <summary>A PUT: answer <c>409 Conflict</c> (a concurrent conditional write) without forwarding it.</summary>
    Answer409,

    /// <summary>A PUT: answer <c>409 Conflict</c> with no body at all, without forwarding it.</summary>
    Answer409WithoutBody,

    /// <summary>A DeleteObjects: answer 200 with an <c>&lt;Error&gt;</c> for some keys (at least one) and "deleted" for the
    /// rest, without forwarding it — the server deleted nothing; the client must not trust the "deleted" ones either way.</summary>
    AnswerDeleteErrors,

    /// <summary>Forward it; if the server answers 412 or 409, pass that status on without its body (some servers and
    /// proxies send none).</summary>
    StripErrorBody,
}

/// <summary>The parts of a request head a fault plan decides by.</summary>
internal readonly record struct ProxiedRequest(string Method, string Target, bool IsCopy)
{
    public bool IsDeleteObjects => Method == "POST" && Target.Contains("?delete", StringComparison.Ordinal);

    public bool IsObjectPut => Method == "PUT" && !IsCopy;
}

/// <summary>
/// A fault-injecting TCP proxy on 127.0.0.1 between S3 clients and the server. It reads each HTTP/1.1 request head
/// (requests on a connection are sequential: HttpClient does not pipeline), asks its plan what to do with it (see
/// <see cref="ProxyFault"/>), and copies everything else through unchanged — responses are parsed only as far as
/// needed to strip an error body. <see cref="Random"/> makes the torture run's plan from rates; tests pass a plan of
/// their own to force one fault on one request.
/// </summary>
internal sealed class FaultProxy : IAsyncDisposable
{
    private static readonly byte[] s_headEnd = "\r\n\r\n"u8.ToArray();
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _upstream;
    private readonly Func<ProxiedRequest, ProxyFault> _plan;
    private readonly Random _rng;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<ProxyFault, long> _faults = new();
    private long _connections;
    private long _requests;
    private long _upstreamDown;
    private long _lateIncomplete;
    private Task _accepting = Task.CompletedTask;

    public FaultProxy(Uri upstream, Func<ProxiedRequest, ProxyFault> plan, int seed = 0)
    {
        _upstream = new IPEndPoint(IPAddress.Parse(upstream.Host == "localhost" ? "127.0.0.1" : upstream.Host), upstream.Port);
        _plan = plan;
        _rng = new Random(seed);
    }

    /// <summary>The torture run's proxy: each request gets one fault at the given rates (the rest none).</summary>
    public static FaultProxy Random(Uri upstream, FaultRates rates, int seed)
    {
        var rng = new Random(seed);
        return new FaultProxy(upstream, request =>
        {
            double roll;
            lock (rng)
            {
                roll = rng.NextDouble();
            }

            foreach (var (fault, rate) in rates.For(request))
            {
                if (roll < rate)
                {
                    return fault;
                }

                roll -= rate;
            }

            return ProxyFault.None;
        }, seed + 1);
    }

    public Uri Endpoint => new(FormattableString.Invariant($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}"));

    /// <summary>Gets the counters as <c>proxy.*</c> summary entries (requests seen and the faults injected).</summary>
    public IReadOnlyDictionary<string, long> Counters
    {
        get
        {
            var counters = new SortedDictionary<string, long>(StringComparer.Ordinal)
            {
                ["proxy.connections"] = Interlocked.Read(ref _connections),
                ["proxy.requests"] = Interlocked.Read(ref _requests),
                ["proxy.upstream-down"] = Interlocked.Read(ref _upstreamDown),
                ["proxy.late-incomplete"] = Interlocked.Read(ref _lateIncomplete),
            };
            foreach (var fault in Enum.GetValues<ProxyFault>().Where(f => f != ProxyFault.None))
            {
                counters["proxy." + Name(fault)] = _faults.GetValueOrDefault(fault);
            }

            return counters;
        }
    }

    /// <summary>Gets the number of faults injected (refused connections while the server is down are counted separately).</summary>
    public long FaultsInjected => _faults.Values.Sum();

    /// <summary>Gets how many requests got <paramref name="fault"/>.</summary>
    public long Count(ProxyFault fault) => _faults.GetValueOrDefault(fault);

    public static string Name(ProxyFault fault) => fault switch
    {
        ProxyFault.Answer503 => "503",
        ProxyFault.Answer409 => "409",
        ProxyFault.Answer409WithoutBody => "409-no-body",
        ProxyFault.ResetBefore => "reset-before",
        ProxyFault.ResetAfter => "reset-after",
        ProxyFault.AnswerDeleteErrors => "delete-errors",
        ProxyFault.StripErrorBody => "strip-error-body",
        _ => fault.ToString().ToLowerInvariant(),
    };

    public void Start()
    {
        _listener.Start(512);
        _accepting = AcceptLoopAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        try
        {
            await _accepting.ConfigureAwait(false);
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
            var client = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false);
            _ = Task.Run(() => HandleAsync(client));
        }
    }

    private int Next(int min, int max)
    {
        lock (_rng)
        {
            return _rng.Next(min, max);
        }
    }

    private void Counted(ProxyFault fault) => _faults.AddOrUpdate(fault, 1, (_, n) => n + 1);

    private async Task HandleAsync(TcpClient client)
    {
        Interlocked.Increment(ref _connections);
        using var upstream = new TcpClient();
        using (client)
        {
            client.NoDelay = true;
            upstream.NoDelay = true;
            try
            {
                await upstream.ConnectAsync(_upstream, _stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException)
            {
                // The server is down (radosgw killed): the client sees a reset connection.
                Interlocked.Increment(ref _upstreamDown);
                Reset(client);
                return;
            }

            var fromClient = client.GetStream();
            var toServer = upstream.GetStream();
            var expectations = new BlockingCollection<Expectation>();
            var up = ForwardRequestsAsync(client, upstream, fromClient, toServer, expectations);
            var down = ForwardResponsesAsync(toServer, fromClient, expectations);
            try
            {
                await Task.WhenAny(up, down).ConfigureAwait(false);
            }
            finally
            {
                // Either side ended (or a fault closed it): close both; the other pump then ends with an error.
                expectations.CompleteAdding();
                client.Close();
                upstream.Close();
                await Task.WhenAll(Swallow(up), Swallow(down)).ConfigureAwait(false);
                expectations.Dispose();
            }
        }
    }

    private static async Task Swallow(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
        }
    }

    private static async Task CopyAsync(Stream from, Stream to)
    {
        var buffer = new byte[64 * 1024];
        int n;
        while ((n = await from.ReadAsync(buffer).ConfigureAwait(false)) > 0)
        {
            await to.WriteAsync(buffer.AsMemory(0, n)).ConfigureAwait(false);
        }
    }

    /// <summary>What the response to one forwarded request looks like to the response pump.</summary>
    private readonly record struct Expectation(bool IsHead, bool StripErrorBody);

    /// <summary>Client → server: request by request (head, then Content-Length bytes of body), with the faults.</summary>
    private async Task ForwardRequestsAsync(TcpClient client, TcpClient upstream, NetworkStream fromClient, NetworkStream toServer, BlockingCollection<Expectation> expectations)
    {
        var buffer = new byte[64 * 1024];
        int length = 0;
        while (true)
        {
            int headEnd;
            while ((headEnd = buffer.AsSpan(0, length).IndexOf(s_headEnd)) < 0)
            {
                if (length == buffer.Length)
                {
                    // A head this large is not an S3 SDK request: stop parsing and just copy.
                    await toServer.WriteAsync(buffer.AsMemory(0, length)).ConfigureAwait(false);
                    await CopyAsync(fromClient, toServer).ConfigureAwait(false);
                    return;
                }

                int n = await fromClient.ReadAsync(buffer.AsMemory(length)).ConfigureAwait(false);
                if (n == 0)
                {
                    return;
                }

                length += n;
            }

            int headLength = headEnd + s_headEnd.Length;
            var head = ParseHead(buffer.AsSpan(0, headLength));
            Interlocked.Increment(ref _requests);
            var fault = _plan(head.Request);
            if (head.Chunked && fault is ProxyFault.Late or ProxyFault.Answer409 or ProxyFault.Answer409WithoutBody or ProxyFault.AnswerDeleteErrors or ProxyFault.Answer503)
            {
                fault = ProxyFault.None; // these need the whole body in hand; the store's requests are never chunked
            }

            if (fault != ProxyFault.None)
            {
                Counted(fault);
            }

            switch (fault)
            {
                case ProxyFault.Answer503:
                    await AnswerAsync(client, fromClient, head.ContentLength - (length - headLength), "503 Slow Down",
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate (fault proxy).</Message><RequestId>fault-proxy</RequestId></Error>").ConfigureAwait(false);
                    return;
                case ProxyFault.Answer409:
                    await AnswerAsync(client, fromClient, head.ContentLength - (length - headLength), "409 Conflict",
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>ConditionalRequestConflict</Code><Message>A conflicting conditional operation is currently in progress against this resource (fault proxy).</Message><RequestId>fault-proxy</RequestId></Error>").ConfigureAwait(false);
                    return;
                case ProxyFault.Answer409WithoutBody:
                    await AnswerAsync(client, fromClient, head.ContentLength - (length - headLength), "409 Conflict", "").ConfigureAwait(false);
                    return;
                case ProxyFault.AnswerDeleteErrors:
                    byte[] body = await ReadBodyAsync(fromClient, buffer.AsMemory(headLength, length - headLength).ToArray(), head.ContentLength).ConfigureAwait(false);
                    await AnswerAsync(client, fromClient, 0, "200 OK", DeleteErrorsResult(Encoding.UTF8.GetString(body))).ConfigureAwait(false);
                    return;
                case ProxyFault.Late:
                    await DeliverLateAsync(client, upstream, fromClient, buffer.AsMemory(0, length).ToArray(), headLength, head.ContentLength).ConfigureAwait(false);
                    return;
                case ProxyFault.ResetBefore:
                    Reset(client);
                    upstream.Close();
                    return;
                case ProxyFault.Delay:
                    await Task.Delay(Next(100, 1500)).ConfigureAwait(false);
                    break;
            }

            expectations.Add(new Expectation(head.Request.Method == "HEAD", fault == ProxyFault.StripErrorBody));
            await toServer.WriteAsync(buffer.AsMemory(0, headLength)).ConfigureAwait(false);
            long remaining = head.Chunked ? 0 : head.ContentLength;
            int buffered = length - headLength;
            int take = (int)Math.Min(buffered, remaining);
            if (take > 0)
            {
                await toServer.WriteAsync(buffer.AsMemory(headLength, take)).ConfigureAwait(false);
                remaining -= take;
            }

            // Whatever followed this request in the buffer (nothing, unless the client pipelines) starts the next one.
            buffer.AsSpan(headLength + take, buffered - take).CopyTo(buffer);
            length = buffered - take;
            while (remaining > 0)
            {
                int n = await fromClient.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, remaining))).ConfigureAwait(false);
                if (n == 0)
                {
                    return;
                }

                await toServer.WriteAsync(buffer.AsMemory(0, n)).ConfigureAwait(false);
                remaining -= n;
            }

            if (fault == ProxyFault.ResetAfter)
            {
                // The server has the whole request and may act on it; the client may or may not see the answer.
                await Task.Delay(Next(0, 60)).ConfigureAwait(false);
                Reset(client);
                upstream.Close();
                return;
            }

            if (head.Chunked)
            {
                // Not sent by the SDK with the settings the store uses; if it ever is, stop parsing and copy.
                await toServer.WriteAsync(buffer.AsMemory(0, length)).ConfigureAwait(false);
                await CopyAsync(fromClient, toServer).ConfigureAwait(false);
                return;
            }
        }
    }

    /// <summary>
    /// Server → client, response by response: interim (1xx) heads pass on; a final response consumes the expectation
    /// of its request, and a 412 or 409 to a request marked <see cref="ProxyFault.StripErrorBody"/> loses its body.
    /// Anything this parser does not follow (a body delimited by the end of the connection) is copied through.
    /// </summary>
    private static async Task ForwardResponsesAsync(NetworkStream fromServer, NetworkStream toClient, BlockingCollection<Expectation> expectations)
    {
        var reader = new ByteReader(fromServer);
        while (true)
        {
            byte[]? headBytes = await reader.ReadHeadAsync().ConfigureAwait(false);
            if (headBytes is null)
            {
                return;
            }

            string head = Encoding.ASCII.GetString(headBytes);
            int status = ParseStatus(head);
            if (status is >= 100 and < 200)
            {
                await toClient.WriteAsync(headBytes).ConfigureAwait(false);
                continue;
            }

            var expectation = expectations.TryTake(out var e, TimeSpan.FromSeconds(5)) ? e : default;
            var (contentLength, chunked) = Framing(head);
            bool noBody = expectation.IsHead || status is 204 or 304;
            if (expectation.StripErrorBody && status is 412 or 409 && !noBody && (contentLength is not null || chunked))
            {
                await toClient.WriteAsync(Encoding.ASCII.GetBytes(WithoutBody(head))).ConfigureAwait(false);
                await reader.CopyBodyAsync(null, contentLength, chunked).ConfigureAwait(false);
                continue;
            }

            await toClient.WriteAsync(headBytes).ConfigureAwait(false);
            if (noBody)
            {
                continue;
            }

            if (contentLength is null && !chunked)
            {
                await reader.CopyRestAsync(toClient).ConfigureAwait(false);
                return;
            }

            await reader.CopyBodyAsync(toClient, contentLength, chunked).ConfigureAwait(false);
        }
    }

    private static int ParseStatus(string head)
    {
        var parts = head.Split(' ', 3);
        return parts.Length > 1 && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int status) ? status : 0;
    }

    private static (long? ContentLength, bool Chunked) Framing(string head)
    {
        long? contentLength = null;
        bool chunked = false;
        foreach (var line in head.Split("\r\n").Skip(1))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }

            string name = line[..colon].Trim();
            string value = line[(colon + 1)..].Trim();
            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                contentLength = long.Parse(value, CultureInfo.InvariantCulture);
            }
            else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase) && value.Contains("chunked", StringComparison.OrdinalIgnoreCase))
            {
                chunked = true;
            }
        }

        return (contentLength, chunked);
    }

    /// <summary>The same head with an empty body: Content-Length 0, no Transfer-Encoding or Content-Type.</summary>
    private static string WithoutBody(string head)
    {
        var lines = head.Split("\r\n").Where(l => l.Length > 0 && !l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase)
            && !l.StartsWith("Transfer-Encoding:", StringComparison.OrdinalIgnoreCase) && !l.StartsWith("Content-Type:", StringComparison.OrdinalIgnoreCase));
        return string.Join("\r\n", lines) + "\r\nContent-Length: 0\r\n\r\n";
    }

    /// <summary>A DeleteObjects result for the request body's keys: an error for at least one, "deleted" for others.</summary>
    private string DeleteErrorsResult(string requestBody)
    {
        var keys = Regex.Matches(requestBody, "<Key>(.*?)</Key>", RegexOptions.Singleline).Select(m => m.Groups[1].Value).ToList();
        bool quiet = requestBody.Contains("<Quiet>true</Quiet>", StringComparison.OrdinalIgnoreCase);
        var result = new StringBuilder("<?xml version=\"1.0\" encoding=\"UTF-8\"?><DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
        int errorAt = keys.Count == 0 ? -1 : Next(0, keys.Count);
        for (int i = 0; i < keys.Count; i++)
        {
            if (i == errorAt || Next(0, 2) == 0)
            {
                result.Append(CultureInfo.InvariantCulture, $"<Error><Key>{keys[i]}</Key><Code>InternalError</Code><Message>We encountered an internal error (fault proxy).</Message></Error>");
            }
            else if (!quiet)
            {
                result.Append(CultureInfo.InvariantCulture, $"<Deleted><Key>{keys[i]}</Key></Deleted>");
            }
        }

        return result.Append("</DeleteResult>").ToString();
    }

    /// <summary>The request's body: what is already buffered, then the rest from the client.</summary>
    private static async Task<byte[]> ReadBodyAsync(NetworkStream fromClient, byte[] buffered, long contentLength)
    {
        var body = new MemoryStream();
        body.Write(buffered, 0, (int)Math.Min(buffered.Length, contentLength));
        var chunk = new byte[64 * 1024];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(3));
        try
        {
            while (body.Length < contentLength)
            {
                int n = await fromClient.ReadAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, contentLength - body.Length)), timeout.Token).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }

                body.Write(chunk, 0, n);
            }
        }
        catch (OperationCanceledException)
        {
        }

        return body.ToArray();
    }

    /// <summary>Takes the whole request from the client, resets the client, and sends the request 0.2–3 s later.</summary>
    private async Task DeliverLateAsync(TcpClient client, TcpClient upstream, NetworkStream fromClient, byte[] buffered, int headLength, long contentLength)
    {
        // (A client that waits for "100 Continue" sends its body after its own timeout of about a second.)
        byte[] body = await ReadBodyAsync(fromClient, buffered.AsSpan(headLength).ToArray(), contentLength).ConfigureAwait(false);
        Reset(client);
        upstream.Close();
        if (body.Length < contentLength)
        {
            Interlocked.Increment(ref _lateIncomplete); // incomplete: never sent, just a reset
            return;
        }

        int delay = Next(200, 3000);
        byte[] bytes = [.. buffered.AsSpan(0, headLength), .. body];
        _ = Task.Run(async () =>
        {
            try
            {
                await Task.Delay(delay).ConfigureAwait(false);
                using var late = new TcpClient { NoDelay = true };
                await late.ConnectAsync(_upstream).ConfigureAwait(false);
                var stream = late.GetStream();
                await stream.WriteAsync(bytes).ConfigureAwait(false);

                // Wait for the first bytes of the answer: the server has acted on the request.
                using var answer = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                _ = await stream.ReadAsync(new byte[4096], answer.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // radosgw down: the late copy is lost, like a proxy's would be.
            }
        });
    }

    private static (ProxiedRequest Request, long ContentLength, bool Chunked) ParseHead(ReadOnlySpan<byte> head)
    {
        var lines = Encoding.ASCII.GetString(head).Split("\r\n");
        var first = lines[0].Split(' ');
        var (contentLength, chunked) = Framing(string.Join("\r\n", lines));
        bool isCopy = lines.Any(l => l.StartsWith("x-amz-copy-source:", StringComparison.OrdinalIgnoreCase));
        return (new ProxiedRequest(first[0], first.Length > 1 ? first[1] : "", isCopy), contentLength ?? 0, chunked);
    }

    /// <summary>Answers the request itself (the server never sees it), then closes the connection.</summary>
    private static async Task AnswerAsync(TcpClient client, NetworkStream fromClient, long unreadBody, string status, string xml)
    {
        byte[] body = Encoding.UTF8.GetBytes(xml);
        byte[] head = Encoding.ASCII.GetBytes(FormattableString.Invariant(
            $"HTTP/1.1 {status}\r\n{(body.Length > 0 ? "Content-Type: application/xml\r\n" : "")}Content-Length: {body.Length}\r\nx-amz-request-id: fault-proxy\r\nDate: {DateTime.UtcNow:R}\r\nConnection: close\r\n\r\n"));
        await fromClient.WriteAsync(head).ConfigureAwait(false);
        await fromClient.WriteAsync(body).ConfigureAwait(false);
        client.Client.Shutdown(SocketShutdown.Send);

        // Drain what the client still sends of the body (unless it waits for 100-continue), so closing does not
        // turn into a reset that could hide the answer.
        using var drain = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        var buffer = new byte[16 * 1024];
        try
        {
            while (unreadBody > 0)
            {
                int n = await fromClient.ReadAsync(buffer, drain.Token).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }

                unreadBody -= n;
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static void Reset(TcpClient client)
    {
        try
        {
            client.Client.LingerState = new LingerOption(true, 0); // close() sends RST
            client.Client.Close();
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
    }

    /// <summary>A buffered reader over the server's stream for response heads and bodies.</summary>
    private sealed class ByteReader(NetworkStream stream)
    {
        private readonly byte[] _buffer = new byte[64 * 1024];
        private int _start;
        private int _end;

        /// <summary>Reads up to and including the blank line; null at the end of the stream.</summary>
        public async Task<byte[]?> ReadHeadAsync()
        {
            var head = new MemoryStream();
            while (true)
            {
                for (int i = _start; i < _end; i++)
                {
                    head.WriteByte(_buffer[i]);
                    if (head.Length >= 4 && EndsWithHeadEnd(head))
                    {
                        _start = i + 1;
                        return head.ToArray();
                    }
                }

                _start = _end;
                if (!await FillAsync().ConfigureAwait(false))
                {
                    return null;
                }
            }
        }

        /// <summary>Copies (or, with a null target, skips) one body: Content-Length bytes, or chunks up to the last.</summary>
        public async Task CopyBodyAsync(Stream? to, long? contentLength, bool chunked)
        {
            if (!chunked)
            {
                await CopyBytesAsync(to, contentLength ?? 0).ConfigureAwait(false);
                return;
            }

            while (true)
            {
                byte[] sizeLine = await ReadLineAsync().ConfigureAwait(false);
                if (to is not null)
                {
                    await to.WriteAsync(sizeLine).ConfigureAwait(false);
                }

                long size = long.Parse(Encoding.ASCII.GetString(sizeLine).Trim().Split(';')[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                if (size == 0)
                {
                    // Trailers (none from the servers we use) up to the empty line.
                    byte[] line;
                    do
                    {
                        line = await ReadLineAsync().ConfigureAwait(false);
                        if (to is not null)
                        {
                            await to.WriteAsync(line).ConfigureAwait(false);
                        }
                    }
                    while (line.Length > 2);
                    return;
                }

                await CopyBytesAsync(to, size + 2).ConfigureAwait(false);
            }
        }

        public async Task CopyRestAsync(Stream to)
        {
            await to.WriteAsync(_buffer.AsMemory(_start, _end - _start)).ConfigureAwait(false);
            _start = _end;
            await CopyAsync(stream, to).ConfigureAwait(false);
        }

        private async Task CopyBytesAsync(Stream? to, long count)
        {
            while (count > 0)
            {
                if (_start == _end && !await FillAsync().ConfigureAwait(false))
                {
                    throw new IOException("the server closed the connection inside a response body");
                }

                int n = (int)Math.Min(count, _end - _start);
                if (to is not null)
                {
                    await to.WriteAsync(_buffer.AsMemory(_start, n)).ConfigureAwait(false);
                }

                _start += n;
                count -= n;
            }
        }

        private async Task<byte[]> ReadLineAsync()
        {
            var line = new MemoryStream();
            while (true)
            {
                for (int i = _start; i < _end; i++)
                {
                    line.WriteByte(_buffer[i]);
                    if (_buffer[i] == '\n')
                    {
                        _start = i + 1;
                        return line.ToArray();
                    }
                }

                _start = _end;
                if (!await FillAsync().ConfigureAwait(false))
                {
                    throw new IOException("the server closed the connection inside a chunked body");
                }
            }
        }

        private async Task<bool> FillAsync()
        {
            int n = await stream.ReadAsync(_buffer).ConfigureAwait(false);
            _start = 0;
            _end = n;
            return n > 0;
        }

        private static bool EndsWithHeadEnd(MemoryStream head)
        {
            var bytes = head.GetBuffer();
            long l = head.Length;
            return bytes[l - 4] == '\r' && bytes[l - 3] == '\n' && bytes[l - 2] == '\r' && bytes[l - 1] == '\n';
        }
    }
}

/// <summary>The torture run's fault rates: the share of requests that get each fault (the rest get none).</summary>
internal sealed record FaultRates(double Delay, double Reset, double Status503, double Late, double Status409, double DeleteErrors, double StripErrorBody)
{
    /// <summary>The faults that apply to this request, with their rates (a reset is before or after, half and half).</summary>
    public IEnumerable<(ProxyFault Fault, double Rate)> For(ProxiedRequest request)
    {
        yield return (ProxyFault.Answer503, Status503);
        yield return (ProxyFault.ResetBefore, Reset / 2);
        yield return (ProxyFault.ResetAfter, Reset / 2);
        yield return (ProxyFault.Delay, Delay);
        yield return (ProxyFault.Late, Late);
        if (request.IsObjectPut)
        {
            yield return (ProxyFault.Answer409, Status409 / 2);
            yield return (ProxyFault.Answer409WithoutBody, Status409 / 2);
            yield return (ProxyFault.StripErrorBody, StripErrorBody);
        }

        if (request.IsDeleteObjects)
        {
            yield return (ProxyFault.AnswerDeleteErrors, DeleteErrors);
        }
    }
}
