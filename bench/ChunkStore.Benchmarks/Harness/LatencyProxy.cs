using System.Net;
using System.Net.Sockets;

namespace ChunkStore.Benchmarks.Harness;

/// <summary>
/// A loopback TCP proxy in front of an S3 endpoint that holds the start of every request for <see cref="Latency"/>: a
/// remote endpoint's round trip for each request (LIST, DeleteObjects, HEAD, PUT alike), switched on only for the phase
/// being measured. No HTTP parsing: a request starts with the first bytes a client sends on a new connection or after
/// the server has answered.
/// </summary>
internal sealed class LatencyProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly string _upstreamHost;
    private readonly int _upstreamPort;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private long _latencyTicks;
    private long _delayed;

    public LatencyProxy(Uri upstream)
    {
        (_upstreamHost, _upstreamPort) = (upstream.Host, upstream.Port);
        _listener.Start();
        Endpoint = new Uri($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}");
        _accepting = AcceptAsync();
    }

    /// <summary>Gets the address clients use instead of the upstream endpoint.</summary>
    public Uri Endpoint { get; }

    /// <summary>Gets or sets how long the start of each request is held (zero: pass through).</summary>
    public TimeSpan Latency
    {
        get => TimeSpan.FromTicks(Interlocked.Read(ref _latencyTicks));
        set => Interlocked.Exchange(ref _latencyTicks, value.Ticks);
    }

    /// <summary>Gets how many request starts were held so far.</summary>
    public long DelayedRequests => Interlocked.Read(ref _delayed);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (true)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        using (var server = new TcpClient())
        {
            try
            {
                client.NoDelay = server.NoDelay = true;
                await server.ConnectAsync(_upstreamHost, _upstreamPort, _stop.Token);
                var turn = new Turn();
                await Task.WhenAny(PumpAsync(client.GetStream(), server.GetStream(), turn, request: true), PumpAsync(server.GetStream(), client.GetStream(), turn, request: false));
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException)
            {
            }
        }
    }

    /// <summary>Copies one direction until it ends; client bytes that start a request wait <see cref="Latency"/> first.</summary>
    private async Task PumpAsync(NetworkStream from, NetworkStream to, Turn turn, bool request)
    {
        var buffer = new byte[64 << 10];
        try
        {
            while (await from.ReadAsync(buffer, _stop.Token) is var n and > 0)
            {
                if (!request)
                {
                    turn.ClientsTurn = true;
                }
                else if (turn.ClientsTurn)
                {
                    turn.ClientsTurn = false;
                    if (Latency is var latency && latency > TimeSpan.Zero)
                    {
                        Interlocked.Increment(ref _delayed);
                        await Task.Delay(latency, _stop.Token);
                    }
                }

                await to.WriteAsync(buffer.AsMemory(0, n), _stop.Token);
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
    }

    /// <summary>Whose turn it is on one connection: the client's next bytes start a request.</summary>
    private sealed class Turn
    {
        private volatile bool _clientsTurn = true;

        public bool ClientsTurn
        {
            get => _clientsTurn;
            set => _clientsTurn = value;
        }
    }
}
