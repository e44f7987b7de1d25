using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ChunkStore.Torture;

/// <summary>
/// A fault-injecting TCP proxy on 127.0.0.1 between the workers' S3 clients and the server. It reads each HTTP/1.1
/// request head (requests on a connection are sequential: HttpClient does not pipeline) and, at the configured rates,
/// delays it, answers <c>503 SlowDown</c> itself without forwarding it, or resets the connection — before forwarding
/// the request (the server never saw it) or shortly after (the server may have done it: a PUT that happened, a
/// DeleteObjects that deleted), or delivers it late: the client's connection is reset at once (it gives up, retries,
/// or its process is killed meanwhile) and the request reaches the server 0.2–3 s later on a connection of its own —
/// what a request held in a proxy or load balancer does. Everything else is copied through unchanged.
/// </summary>
internal sealed class FaultProxy : IAsyncDisposable
{
    private static readonly byte[] s_headEnd = "\r\n\r\n"u8.ToArray();
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _upstream;
    private readonly double _delayRate;
    private readonly double _resetRate;
    private readonly double _status503Rate;
    private readonly double _lateRate;
    private readonly Random _rng;
    private readonly CancellationTokenSource _stop = new();
    private long _connections;
    private long _requests;
    private long _delays;
    private long _resetsBefore;
    private long _resetsAfter;
    private long _status503;
    private long _upstreamDown;
    private long _late;
    private Task _accepting = Task.CompletedTask;

    public FaultProxy(Uri upstream, double delayRate, double resetRate, double status503Rate, double lateRate, int seed)
    {
        _lateRate = lateRate;
        _upstream = new IPEndPoint(IPAddress.Parse(upstream.Host == "localhost" ? "127.0.0.1" : upstream.Host), upstream.Port);
        _delayRate = delayRate;
        _resetRate = resetRate;
        _status503Rate = status503Rate;
        _rng = new Random(seed);
    }

    public Uri Endpoint => new(FormattableString.Invariant($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}"));

    /// <summary>Gets the counters as <c>proxy.*</c> summary entries (requests seen and the faults injected).</summary>
    public IReadOnlyDictionary<string, long> Counters => new SortedDictionary<string, long>(StringComparer.Ordinal)
    {
        ["proxy.connections"] = Interlocked.Read(ref _connections),
        ["proxy.requests"] = Interlocked.Read(ref _requests),
        ["proxy.delay"] = Interlocked.Read(ref _delays),
        ["proxy.reset-before"] = Interlocked.Read(ref _resetsBefore),
        ["proxy.reset-after"] = Interlocked.Read(ref _resetsAfter),
        ["proxy.503"] = Interlocked.Read(ref _status503),
        ["proxy.late"] = Interlocked.Read(ref _late),
        ["proxy.upstream-down"] = Interlocked.Read(ref _upstreamDown),
    };

    /// <summary>Gets the number of faults injected (delays, resets, 503s; refused connections while the server is down are counted separately).</summary>
    public long FaultsInjected => Interlocked.Read(ref _delays) + Interlocked.Read(ref _resetsBefore) + Interlocked.Read(ref _resetsAfter) + Interlocked.Read(ref _status503) + Interlocked.Read(ref _late);

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

    private double Roll()
    {
        lock (_rng)
        {
            return _rng.NextDouble();
        }
    }

    private int Next(int min, int max)
    {
        lock (_rng)
        {
            return _rng.Next(min, max);
        }
    }

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
            var up = ForwardRequestsAsync(client, upstream, fromClient, toServer);
            var down = CopyAsync(toServer, fromClient);
            try
            {
                await Task.WhenAny(up, down).ConfigureAwait(false);
            }
            finally
            {
                // Either side ended (or a fault closed it): close both; the other pump then ends with an error.
                client.Close();
                upstream.Close();
                await Task.WhenAll(Swallow(up), Swallow(down)).ConfigureAwait(false);
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

    /// <summary>Client → server: request by request (head, then Content-Length bytes of body), with the faults.</summary>
    private async Task ForwardRequestsAsync(TcpClient client, TcpClient upstream, NetworkStream fromClient, NetworkStream toServer)
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
            var (contentLength, chunked) = ParseHead(buffer.AsSpan(0, headLength));
            Interlocked.Increment(ref _requests);

            double roll = Roll();
            bool resetAfter = false;
            if (roll < _status503Rate)
            {
                Interlocked.Increment(ref _status503);
                await Answer503Async(client, fromClient, contentLength - (length - headLength)).ConfigureAwait(false);
                return;
            }

            if (roll >= _status503Rate + _resetRate + _delayRate && roll < _status503Rate + _resetRate + _delayRate + _lateRate && !chunked)
            {
                await DeliverLateAsync(client, upstream, fromClient, buffer.AsMemory(0, length).ToArray(), headLength, contentLength).ConfigureAwait(false);
                return;
            }

            if (roll < _status503Rate + _resetRate)
            {
                if (Roll() < 0.5)
                {
                    Interlocked.Increment(ref _resetsBefore);
                    Reset(client);
                    upstream.Close();
                    return;
                }

                resetAfter = true;
            }
            else if (roll < _status503Rate + _resetRate + _delayRate)
            {
                Interlocked.Increment(ref _delays);
                await Task.Delay(Next(100, 1500)).ConfigureAwait(false);
            }

            await toServer.WriteAsync(buffer.AsMemory(0, headLength)).ConfigureAwait(false);
            long remaining = chunked ? 0 : contentLength;
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

            if (resetAfter)
            {
                // The server has the whole request and may act on it; the client may or may not see the answer.
                Interlocked.Increment(ref _resetsAfter);
                await Task.Delay(Next(0, 60)).ConfigureAwait(false);
                Reset(client);
                upstream.Close();
                return;
            }

            if (chunked)
            {
                // Not sent by the SDK with the settings the store uses; if it ever is, stop parsing and copy.
                await toServer.WriteAsync(buffer.AsMemory(0, length)).ConfigureAwait(false);
                await CopyAsync(fromClient, toServer).ConfigureAwait(false);
                return;
            }
        }
    }

    /// <summary>Takes the whole request from the client, resets the client, and sends the request 0.2–3 s later.</summary>
    private async Task DeliverLateAsync(TcpClient client, TcpClient upstream, NetworkStream fromClient, byte[] buffered, int headLength, long contentLength)
    {
        var request = new MemoryStream();
        request.Write(buffered, 0, Math.Min(buffered.Length, headLength + (int)Math.Min(contentLength, int.MaxValue)));
        long missing = headLength + contentLength - request.Length;
        var chunk = new byte[64 * 1024];
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(3)))
        {
            try
            {
                // (A client that waits for "100 Continue" sends its body after its own timeout of about a second.)
                while (missing > 0)
                {
                    int n = await fromClient.ReadAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, missing)), timeout.Token).ConfigureAwait(false);
                    if (n == 0)
                    {
                        break;
                    }

                    request.Write(chunk, 0, n);
                    missing -= n;
                }
            }
            catch (OperationCanceledException)
            {
            }
        }

        Reset(client);
        upstream.Close();
        if (missing > 0)
        {
            Interlocked.Increment(ref _resetsBefore); // incomplete: never sent, just a reset
            return;
        }

        Interlocked.Increment(ref _late);
        int delay = Next(200, 3000);
        byte[] bytes = request.ToArray();
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

    private static (long ContentLength, bool Chunked) ParseHead(ReadOnlySpan<byte> head)
    {
        long contentLength = 0;
        bool chunked = false;
        foreach (var line in Encoding.ASCII.GetString(head).Split("\r\n"))
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

    /// <summary>Answers the request with what S3 says when it throttles, then closes the connection.</summary>
    private static async Task Answer503Async(TcpClient client, NetworkStream fromClient, long unreadBody)
    {
        byte[] body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate (torture fault proxy).</Message><RequestId>torture-proxy</RequestId></Error>"u8.ToArray();
        byte[] head = Encoding.ASCII.GetBytes(FormattableString.Invariant(
            $"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {body.Length}\r\nx-amz-request-id: torture-proxy\r\nConnection: close\r\n\r\n"));
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
}
