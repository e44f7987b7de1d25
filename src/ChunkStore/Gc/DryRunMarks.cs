using System.Buffers.Binary;
using System.Runtime.InteropServices;
using ChunkStore.Backends;

namespace ChunkStore;

/// <summary>
/// What the mark of a dry run found without touching it: the referenced chunks that are present (the real mark
/// touches each) and the referenced missing digests with <c>.bad</c> copies (the real mark touches those copies).
/// The dry run's plan counts these entries as in use, so it reports what the real run would do while writing nothing.
/// </summary>
/// <remarks>
/// Held as the first 8 bytes of each digest, sorted: 8 bytes per distinct referenced digest (plus at most as much
/// again while repeats are compacted away). Two different digests sharing their first 8 bytes (chance about
/// n / 2^64 per entry) would make the plan count one unreferenced chunk as in use: a dry run may report one chunk
/// fewer removed than the real run, never one more.
/// </remarks>
internal sealed class DryRunMarks
{
    private readonly KeySet _present = new();
    private readonly KeySet _badKept = new();

    public void Add(ChunkDigest digest, MarkOutcome outcome)
    {
        switch (outcome)
        {
            case MarkOutcome.Present:
                _present.Add(digest);
                break;
            case MarkOutcome.MissingWithBadCopy:
                _badKept.Add(digest);
                break;
        }
    }

    /// <summary>Ends the mark: sorts for look-ups. No <see cref="Add"/> after this.</summary>
    public void Seal()
    {
        _present.Compact();
        _badKept.Compact();
    }

    public bool WouldHaveTouched(ChunkEntryName entry) => entry.Kind switch
    {
        ChunkEntryKind.Chunk => _present.Contains(entry.Digest),
        ChunkEntryKind.Bad => _badKept.Contains(entry.Digest),
        _ => false,
    };

    private sealed class KeySet
    {
        private readonly List<ulong> _keys = [];
        private int _compacted;

        public void Add(ChunkDigest digest)
        {
            _keys.Add(Key(digest));

            // Repeats beyond the mark's own recent-digest window pile up; squeeze them out when the list doubled.
            if (_keys.Count >= Math.Max(2 * _compacted, 1 << 16))
            {
                Compact();
            }
        }

        public void Compact()
        {
            var span = CollectionsMarshal.AsSpan(_keys);
            span.Sort();
            int unique = 0;
            for (int i = 0; i < span.Length; i++)
            {
                if (unique == 0 || span[i] != span[unique - 1])
                {
                    span[unique++] = span[i];
                }
            }

            _keys.RemoveRange(unique, _keys.Count - unique);
            _compacted = unique;
        }

        public bool Contains(ChunkDigest digest) => CollectionsMarshal.AsSpan(_keys).BinarySearch(Key(digest)) >= 0;

        private static ulong Key(ChunkDigest digest)
        {
            Span<byte> bytes = stackalloc byte[ChunkDigest.ByteLength];
            digest.CopyTo(bytes);
            return BinaryPrimitives.ReadUInt64BigEndian(bytes);
        }
    }
}
