using System.Globalization;

namespace ChunkStore.FileSystem;

/// <summary>Paths of the on-disk layout (DESIGN §2) under a store or cache root.</summary>
internal sealed class ChunkLayout
{
    public const string ChunksDirectoryName = ".chunks";
    public const string LocksDirectoryName = ".locks";
    public const string WritersDirectoryName = ".writers";
    public const string GcLockFileName = ".gc.lock";
    public const string GcStatusFileName = ".gc-status";
    public const string ConfigFileName = ".chunkstore.json";

    public ChunkLayout(string root)
    {
        Root = root;
        ChunksDirectory = Path.Combine(root, ChunksDirectoryName);
    }

    public string Root { get; }

    public string ChunksDirectory { get; }

    public string WritersDirectory => Path.Combine(Root, WritersDirectoryName);

    public string DefaultLocksDirectory => Path.Combine(Root, LocksDirectoryName);

    public string GcLockPath => Path.Combine(Root, GcLockFileName);

    public string GcStatusPath => Path.Combine(Root, GcStatusFileName);

    public string ConfigPath => Path.Combine(Root, ConfigFileName);

    public static string PrefixName(ChunkDigest digest) => digest.Prefix.ToString("x4", CultureInfo.InvariantCulture);

    public string PrefixDirectory(ChunkDigest digest) => string.Create(
        ChunksDirectory.Length + 5,
        (ChunksDirectory, digest),
        static (span, state) =>
        {
            state.ChunksDirectory.AsSpan().CopyTo(span);
            span[state.ChunksDirectory.Length] = '/';
            state.digest.Prefix.TryFormat(span[(state.ChunksDirectory.Length + 1)..], out _, "x4", CultureInfo.InvariantCulture);
        });

    public string ChunkPath(ChunkDigest digest) => string.Create(
        ChunksDirectory.Length + 6 + ChunkDigest.HexLength,
        (ChunksDirectory, digest),
        static (span, state) =>
        {
            int n = state.ChunksDirectory.Length;
            state.ChunksDirectory.AsSpan().CopyTo(span);
            span[n] = '/';
            state.digest.Prefix.TryFormat(span[(n + 1)..], out _, "x4", CultureInfo.InvariantCulture);
            span[n + 5] = '/';
            state.digest.TryFormat(span[(n + 6)..], out _, default, CultureInfo.InvariantCulture);
        });

    public string EntryPath(ChunkEntryName name) => name.Kind == ChunkEntryKind.Chunk
        ? ChunkPath(name.Digest)
        : Path.Combine(PrefixDirectory(name.Digest), name.ToString());

    public string BadPath(ChunkDigest digest, int index) => EntryPath(ChunkEntryName.ForBad(digest, index));

    public string UsingPath(ChunkDigest digest) => EntryPath(new ChunkEntryName(digest, ChunkEntryKind.Using));

    /// <summary>A fresh temporary name next to the chunk: <c>.tmp-</c> and exactly <see cref="ChunkEntryName.TemporaryRandomLength"/> (16) lowercase hex digits, the only temporary names that parse (and that GC removes).</summary>
    public string NewTemporaryPath(ChunkDigest digest) => string.Concat(
        ChunkPath(digest), ChunkEntryName.TemporaryInfix, Random.Shared.NextInt64(long.MaxValue).ToString("x16", CultureInfo.InvariantCulture));

    /// <summary>True for the names of prefix directories: four lowercase hex characters.</summary>
    public static bool IsPrefixName(ReadOnlySpan<char> name)
    {
        if (name.Length != 4)
        {
            return false;
        }

        foreach (char c in name)
        {
            if (c is not ((>= '0' and <= '9') or (>= 'a' and <= 'f')))
            {
                return false;
            }
        }

        return true;
    }
}
