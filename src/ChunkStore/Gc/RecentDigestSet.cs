namespace ChunkStore;

/// <summary>
/// A bounded set of recently seen digests for the mark phase: two generations of at most capacity/2 entries
/// each; when the young one fills, it becomes the old one and the old one is dropped. Memory stays within
/// about 50 bytes × capacity however many references are marked, and a repeat within the last capacity/2 to
/// capacity distinct digests is recognised.
/// </summary>
internal sealed class RecentDigestSet
{
    private readonly int _generationSize;
    private HashSet<ChunkDigest> _young = [];
    private HashSet<ChunkDigest> _old = [];

    public RecentDigestSet(int capacity)
    {
        _generationSize = capacity / 2;
    }

    /// <summary>Adds a digest; false when it was seen recently (the caller skips it).</summary>
    public bool Add(ChunkDigest digest)
    {
        if (_generationSize == 0)
        {
            return true;
        }

        if (_old.Contains(digest) || !_young.Add(digest))
        {
            return false;
        }

        if (_young.Count >= _generationSize)
        {
            (_old, _young) = (_young, _old);
            _young.Clear();
        }

        return true;
    }
}
