using System.Net.Http.Headers;
using Microsoft.AspNetCore.Builder;

namespace ChunkStore.Server.Tests.Infrastructure;

/// <summary>
/// A real chunk server on a free 127.0.0.1 port (Kestrel, <c>--urls http://127.0.0.1:0</c>) over a fresh store in a
/// temporary directory, with clients that hold a write key, a read key, or none.
/// </summary>
public sealed class TestServer : IAsyncDisposable
{
    public const string WriteKey = "test-write-key";
    public const string ReadKey = "test-read-key";

    private readonly WebApplication _app;
    private readonly List<HttpClient> _clients = [];

    private TestServer(WebApplication app, string root, Uri address)
    {
        _app = app;
        Root = root;
        Address = address;
        Writer = NewClient(WriteKey);
        Reader = NewClient(ReadKey);
        Anonymous = NewClient(null);
    }

    /// <summary>Gets the store's root directory.</summary>
    public string Root { get; }

    public Uri Address { get; }

    public HttpClient Writer { get; }

    public HttpClient Reader { get; }

    public HttpClient Anonymous { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>Starts a server; <paramref name="settings"/> are extra configuration keys (e.g. <c>ChunkStore:MaxChunkSize</c>).</summary>
    public static async Task<TestServer> StartAsync(params (string Key, string Value)[] settings)
    {
        string root = Path.Combine(Path.GetTempPath(), "chunkstore-server-tests", Guid.NewGuid().ToString("N"));
        var args = new List<string>
        {
            "--urls", "http://127.0.0.1:0",
            "--root", root,
            "--write-key", WriteKey,
            "--read-key", ReadKey,

            // Quiet consoles; warnings and errors still reach the status page's recent errors.
            "--Logging:LogLevel:Default", "Warning",
            "--Logging:Console:LogLevel:Default", "None",
            "--ChunkStore:SyncMode", "None",
        };
        foreach (var (key, value) in settings)
        {
            args.Add("--" + key);
            args.Add(value);
        }

        var app = ChunkServerApp.Build([.. args]);
        await app.StartAsync();
        var address = new Uri(app.Urls.Single(u => u.StartsWith("http://127.0.0.1:", StringComparison.Ordinal)));
        return new TestServer(app, root, address);
    }

    /// <summary>A new client with its own connection pool; <paramref name="key"/> null sends no key.</summary>
    public HttpClient NewClient(string? key)
    {
        var client = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) }) { BaseAddress = Address, Timeout = TimeSpan.FromMinutes(5) };
        if (key is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        lock (_clients)
        {
            _clients.Add(client);
        }

        return client;
    }

    /// <summary>Collections that remove what is a second old. The writer margin stays above the kernel's timestamp
    /// granularity: file times come from a coarse clock up to a tick behind the lease's start time, so with no margin a
    /// chunk written right after a lease opened could look older than the lease and be collected under it.</summary>
    public static readonly (string, string)[] ShortGc = [("ChunkServer:Gc:GracePeriod", "00:00:01"), ("ChunkServer:Gc:WriterSafetyMargin", "00:00:00.200")];

    /// <summary>Flips one byte of a stored chunk's file behind the store's back (the documented layout: <c>.chunks/&lt;4 hex&gt;/&lt;64 hex&gt;</c>); returns the file's path.</summary>
    public string CorruptChunkFile(string hex, int offset)
    {
        string file = Path.Combine(Root, ".chunks", hex[..4], hex);
        var bytes = File.ReadAllBytes(file);
        bytes[offset] ^= 0xff;
        File.WriteAllBytes(file, bytes);
        return file;
    }

    /// <summary>Opens a second instance of the store, through the library, to look at it behind the server's back.</summary>
    public ChunkRepository OpenStore() => ChunkRepository.Open(new ChunkStoreOptions { Root = Root });

    /// <summary>The chunks the store lists.</summary>
    public async Task<HashSet<ChunkDigest>> ListAsync()
    {
        await using var store = OpenStore();
        var set = new HashSet<ChunkDigest>();
        await foreach (var d in store.ListAsync())
        {
            Assert.True(set.Add(d), $"chunk {d} listed twice");
        }

        return set;
    }

    /// <summary>Every file under the store's <c>.chunks/</c> and <c>.writers/</c> with its size, and whether a GC status exists: what "unchanged" compares.</summary>
    public string[] Snapshot()
    {
        var entries = new List<string>();
        foreach (var dir in new[] { ".chunks", ".writers" })
        {
            string path = Path.Combine(Root, dir);
            if (Directory.Exists(path))
            {
                entries.AddRange(Directory.EnumerateFileSystemEntries(path, "*", SearchOption.AllDirectories)
                    .Select(e => Path.GetRelativePath(Root, e) + (File.Exists(e) ? ":" + new FileInfo(e).Length : "/")));
            }
        }

        entries.Add(".gc-status:" + File.Exists(Path.Combine(Root, ".gc-status")));
        return [.. entries.Order(StringComparer.Ordinal)];
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients)
        {
            client.Dispose();
        }

        await _app.StopAsync();
        await _app.DisposeAsync();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
