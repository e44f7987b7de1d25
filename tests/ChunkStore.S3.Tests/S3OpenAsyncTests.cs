using System.Net;
using System.Net.Sockets;
using ChunkStore.S3.Tests.Infrastructure;

namespace ChunkStore.S3.Tests;

/// <summary>The asynchronous open: the identity request is awaited, and a cancellation stops it on the wire.</summary>
public sealed class S3OpenAsyncTests(S3BucketFixture fixture) : IClassFixture<S3BucketFixture>
{
    [S3Fact]
    public async Task CreateAsyncThenOpenAsync_RoundTrip()
    {
        var s3 = fixture.Options("async-" + Guid.NewGuid().ToString("N")[..12]);
        string root = fixture.NewRoot();
        var local = new ChunkStoreOptions { Root = root, LockTimeout = TimeSpan.FromSeconds(30) };
        var data = S3TestStore.RandomChunk();
        ChunkDigest digest;
        await using (var created = await S3ChunkStore.CreateAsync(local, s3))
        {
            digest = (await created.InsertAsync(data)).Digest;
        }

        await using var opened = await S3ChunkStore.OpenAsync(local, s3);
        Assert.Equal(data, await opened.ReadAsync(digest));
        await using var again = await S3ChunkStore.OpenOrCreateAsync(local, s3);
        Assert.True(await again.ContainsAsync(digest));
    }

    [Fact]
    public async Task OpenOrCreateAsync_ServerNeverAnswers_CancellationStopsTheIdentityRequest()
    {
        // A server that takes the connection and never answers: only the token can end the open (the request timeout
        // is far longer than this test).
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var accepted = new List<Socket>();
        var accepting = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    accepted.Add(await silent.AcceptSocketAsync());
                }
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
            }
        });
        var s3 = new S3BackendOptions
        {
            Endpoint = new Uri($"http://127.0.0.1:{((IPEndPoint)silent.LocalEndpoint).Port}"),
            AccessKey = "k",
            SecretKey = "s",
            Bucket = "never-answers",
            RequestTimeout = TimeSpan.FromMinutes(5),
        };
        string root = Path.Combine(Path.GetTempPath(), "chunkstore-s3-tests", Guid.NewGuid().ToString("N"));
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
            var open = S3ChunkStore.OpenOrCreateAsync(new ChunkStoreOptions { Root = root }, s3, cts.Token);

            var finished = await Task.WhenAny(open, Task.Delay(TimeSpan.FromSeconds(60)));
            Assert.Same(open, finished);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => open);

            // Nothing is left holding the local root: an open with a token cancelled up front fails at once.
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => S3ChunkStore.OpenAsync(new ChunkStoreOptions { Root = root }, s3, new CancellationToken(canceled: true)));
        }
        finally
        {
            silent.Stop();
            await accepting;
            accepted.ForEach(s => s.Dispose());
            if (Directory.Exists(root))
            {
                Directory.Delete(root, recursive: true);
            }
        }
    }
}
