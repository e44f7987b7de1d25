using System.Globalization;
using System.Security.Cryptography;
using ChunkStore.TestHost;

namespace ChunkStore.MultiProcess.Tests.Infrastructure;

/// <summary>
/// A fresh store in a temporary directory, opened in the test process, plus the child processes a test starts.
/// Dispose kills every child that is still running (also when the test failed) and removes the directory.
/// </summary>
public abstract class MultiProcessTestBase : IDisposable
{
    private readonly List<HostProcess> _children = [];

    protected MultiProcessTestBase()
    {
        Root = Path.Combine(Path.GetTempPath(), "chunkstore-mp-" + Guid.NewGuid().ToString("N")[..12]);
        Repo = ChunkRepository.Create(new ChunkStoreOptions { Root = Root });
    }

    protected string Root { get; }

    protected ChunkRepository Repo { get; }

    protected string LocksDirectory => Repo.Locks.LockDirectory;

    protected string WritersDirectory => Repo.Layout.WritersDirectory;

    internal HostProcess Start(params string[] args) => Track(HostProcess.Start(args));

    /// <summary>Starts a child to which permission bits apply (as nobody when the tests run as root).</summary>
    internal HostProcess StartUnprivileged(params string[] args) => Track(HostProcess.StartUnprivileged(args));

    private HostProcess Track(HostProcess child)
    {
        lock (_children)
        {
            _children.Add(child);
        }

        return child;
    }

    protected static ChunkDigest RandomDigest() => ChunkDigest.Compute(RandomNumberGenerator.GetBytes(32));

    protected string ChunkPath(ChunkDigest digest) => Repo.Layout.ChunkPath(digest);

    /// <summary>Inserts chunks and puts their atime <paramref name="age"/> into the past (as if last touched then).</summary>
    protected async Task<List<ChunkDigest>> PlantAsync(IEnumerable<byte[]> chunks, TimeSpan age)
    {
        var digests = new List<ChunkDigest>();
        var when = DateTime.UtcNow - age;
        foreach (byte[] chunk in chunks)
        {
            var result = await Repo.InsertAsync(chunk);
            File.SetLastAccessTimeUtc(ChunkPath(result.Digest), when);
            digests.Add(result.Digest);
        }

        return digests;
    }

    protected static IEnumerable<byte[]> RandomChunks(int count, int maxSize = 2048)
    {
        for (int i = 0; i < count; i++)
        {
            yield return RandomNumberGenerator.GetBytes(1 + Random.Shared.Next(maxSize));
        }
    }

    protected static IEnumerable<byte[]> WorkingSetChunks(int seed, int from, int count)
    {
        for (int i = from; i < from + count; i++)
        {
            yield return WorkingSet.Chunk(seed, i);
        }
    }

    /// <summary>Parses the ticks in field <paramref name="field"/> (0 = the keyword) of a protocol line.</summary>
    protected static long Field(string line, int field) => long.Parse(line.Split(' ')[field], CultureInfo.InvariantCulture);

    public void Dispose()
    {
        lock (_children)
        {
            foreach (var child in _children)
            {
                child.Dispose();
            }
        }

        Repo.Dispose();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }

        GC.SuppressFinalize(this);
    }
}
