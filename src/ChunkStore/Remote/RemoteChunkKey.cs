using System.Globalization;

namespace ChunkStore.Remote;

/// <summary>
/// A parsed object key of the S3 layout: <c>&lt;prefix&gt;/.chunks/&lt;4hex&gt;/&lt;64hex&gt;</c> (a chunk) or
/// <c>…/&lt;64hex&gt;.&lt;N&gt;.bad</c> (a corrupt copy). Parsing and formatting round-trip; keys that do not parse
/// are never deleted (Proxmox built local paths from <c>.bad</c> keys by string joining: its O-3 bug).
/// </summary>
/// <param name="Digest">The chunk's digest.</param>
/// <param name="Kind"><see cref="ChunkEntryKind.Chunk"/> or <see cref="ChunkEntryKind.Bad"/>.</param>
/// <param name="BadIndex">N of a <c>.N.bad</c> key; 0 for a chunk.</param>
internal readonly record struct RemoteChunkKey(ChunkDigest Digest, ChunkEntryKind Kind, int BadIndex = 0)
{
    public const string ChunksSegment = ".chunks/";

    /// <summary>The local entry name of this key (same digest, kind and N).</summary>
    public ChunkEntryName EntryName => new(Digest, Kind, BadIndex);

    /// <summary>The listing prefix of every chunk key of a store.</summary>
    public static string ListPrefix(string keyPrefix) => keyPrefix.Length == 0 ? ChunksSegment : keyPrefix + "/" + ChunksSegment;

    public static RemoteChunkKey ForChunk(ChunkDigest digest) => new(digest, ChunkEntryKind.Chunk);

    public static RemoteChunkKey ForBad(ChunkDigest digest, int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(index, ChunkEntryName.MaxBadIndex);
        return new(digest, ChunkEntryKind.Bad, index);
    }

    /// <summary>Formats the full object key under <paramref name="keyPrefix"/>.</summary>
    public string ToKey(string keyPrefix)
    {
        string prefixDir = Digest.Prefix.ToString("x4", CultureInfo.InvariantCulture);
        string name = Kind == ChunkEntryKind.Bad
            ? string.Create(CultureInfo.InvariantCulture, $"{Digest}.{BadIndex}.bad")
            : Digest.ToString();
        return string.Concat(ListPrefix(keyPrefix), prefixDir, "/", name);
    }

    /// <summary>Parses a full object key; only chunk and <c>.N.bad</c> keys under the store's prefix, in the right prefix directory, parse.</summary>
    public static bool TryParse(string key, string keyPrefix, out RemoteChunkKey parsed)
    {
        parsed = default;
        string listPrefix = ListPrefix(keyPrefix);
        if (key is null || !key.StartsWith(listPrefix, StringComparison.Ordinal))
        {
            return false;
        }

        var rest = key.AsSpan(listPrefix.Length);
        if (rest.Length < 6 || rest[4] != '/' || !FileSystem.ChunkLayout.IsPrefixName(rest[..4]))
        {
            return false;
        }

        if (!ChunkEntryName.TryParse(rest[5..], out var entry) || entry.Kind is not (ChunkEntryKind.Chunk or ChunkEntryKind.Bad))
        {
            return false;
        }

        if (!rest[..4].SequenceEqual(entry.Digest.Prefix.ToString("x4", CultureInfo.InvariantCulture)))
        {
            return false;
        }

        parsed = new RemoteChunkKey(entry.Digest, entry.Kind, entry.BadIndex);
        return true;
    }
}
