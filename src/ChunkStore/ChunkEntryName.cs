using System.Globalization;

namespace ChunkStore;

/// <summary>The kind of entry a name in a chunk directory or bucket listing stands for.</summary>
internal enum ChunkEntryKind
{
    /// <summary><c>&lt;64hex&gt;</c>: the chunk itself (on S3 with a local cache: the full chunk or an empty marker).</summary>
    Chunk,

    /// <summary><c>&lt;64hex&gt;.&lt;N&gt;.bad</c>: a copy that verification found corrupt, N = 0..9.</summary>
    Bad,

    /// <summary><c>&lt;64hex&gt;.using</c>: S3 only, "referenced; the object should exist".</summary>
    Using,

    /// <summary><c>&lt;64hex&gt;.tmp-&lt;16 lowercase hex&gt;</c>: a temporary file of an atomic write (exactly the names the store itself creates).</summary>
    Temporary,
}

/// <summary>
/// A parsed entry name of the chunk layout: the digest, the kind and, for <see cref="ChunkEntryKind.Bad"/>, the
/// index N. Parsing and formatting round-trip; names that do not parse are never deleted.
/// </summary>
/// <param name="Digest">The chunk's digest.</param>
/// <param name="Kind">What the entry is.</param>
/// <param name="BadIndex">N of a <c>.N.bad</c> name (0..9); 0 for every other kind.</param>
internal readonly record struct ChunkEntryName(ChunkDigest Digest, ChunkEntryKind Kind, int BadIndex = 0)
{
    /// <summary>The largest N of a <c>.N.bad</c> name.</summary>
    public const int MaxBadIndex = 9;

    /// <summary>The marker between a digest and the random part of a temporary file's name.</summary>
    public const string TemporaryInfix = ".tmp-";

    /// <summary>The length of the random part of a temporary file's name: 16 lowercase hex digits.</summary>
    internal const int TemporaryRandomLength = 16;

    /// <summary>Creates the name of a chunk.</summary>
    /// <param name="digest">The digest.</param>
    /// <returns>The name.</returns>
    public static ChunkEntryName ForChunk(ChunkDigest digest) => new(digest, ChunkEntryKind.Chunk);

    /// <summary>Creates the name of a corrupt copy.</summary>
    /// <param name="digest">The digest.</param>
    /// <param name="index">N, 0..9.</param>
    /// <returns>The name.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is outside 0..9.</exception>
    public static ChunkEntryName ForBad(ChunkDigest digest, int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(index, MaxBadIndex);
        return new(digest, ChunkEntryKind.Bad, index);
    }

    /// <summary>
    /// Parses a file name (no directory part) of the chunk layout. Temporary names parse with the digest of
    /// the chunk being written, and only in the exact form the store writes them (16 lowercase hex digits after
    /// <c>.tmp-</c>): garbage collection removes stale temporary files, so a name someone else chose must not parse.
    /// </summary>
    /// <param name="name">The file name.</param>
    /// <param name="entry">The parsed name.</param>
    /// <returns><see langword="true"/> when <paramref name="name"/> is one of the layout's names.</returns>
    public static bool TryParse(ReadOnlySpan<char> name, out ChunkEntryName entry)
    {
        entry = default;
        if (name.Length < ChunkDigest.HexLength || !ChunkDigest.TryParse(name[..ChunkDigest.HexLength], out var digest))
        {
            return false;
        }

        // Only lowercase names are ours: the store writes lowercase hex, and accepting both cases would give
        // two names for one chunk.
        foreach (char c in name[..ChunkDigest.HexLength])
        {
            if (c is >= 'A' and <= 'F')
            {
                return false;
            }
        }

        var rest = name[ChunkDigest.HexLength..];
        if (rest.IsEmpty)
        {
            entry = ForChunk(digest);
            return true;
        }

        if (rest.SequenceEqual(".using"))
        {
            entry = new(digest, ChunkEntryKind.Using);
            return true;
        }

        if (rest.Length == 6 && rest[0] == '.' && rest[1] is >= '0' and <= '9' && rest[2..].SequenceEqual(".bad"))
        {
            entry = new(digest, ChunkEntryKind.Bad, rest[1] - '0');
            return true;
        }

        if (rest.StartsWith(TemporaryInfix) && rest.Length == TemporaryInfix.Length + TemporaryRandomLength)
        {
            foreach (char c in rest[TemporaryInfix.Length..])
            {
                if (!char.IsAsciiHexDigitLower(c))
                {
                    return false;
                }
            }

            entry = new(digest, ChunkEntryKind.Temporary);
            return true;
        }

        return false;
    }

    /// <summary>
    /// Formats the name. A <see cref="ChunkEntryKind.Temporary"/> name has no fixed text (its random part is not
    /// kept) and cannot be formatted.
    /// </summary>
    /// <returns>The file name, e.g. <c>&lt;64hex&gt;.3.bad</c>.</returns>
    /// <exception cref="InvalidOperationException">The kind is <see cref="ChunkEntryKind.Temporary"/>.</exception>
    public override string ToString() => Kind switch
    {
        ChunkEntryKind.Chunk => Digest.ToString(),
        ChunkEntryKind.Bad => string.Create(CultureInfo.InvariantCulture, $"{Digest}.{BadIndex}.bad"),
        ChunkEntryKind.Using => Digest + ".using",
        _ => throw new InvalidOperationException("A temporary file's name has a random part that is not kept; it cannot be formatted."),
    };
}
