namespace ChunkStore.Tests;

public class ChunkEntryNameTests
{
    private static readonly ChunkDigest D = ChunkDigest.Compute("x"u8);

    [Fact]
    public void ChunkBadAndUsingNames_RoundTrip()
    {
        foreach (var name in new[] { ChunkEntryName.ForChunk(D), ChunkEntryName.ForBad(D, 0), ChunkEntryName.ForBad(D, 9), new ChunkEntryName(D, ChunkEntryKind.Using) })
        {
            Assert.True(ChunkEntryName.TryParse(name.ToString(), out var parsed));
            Assert.Equal(name, parsed);
        }
    }

    [Fact]
    public void BadName_ParsesDigestKindAndIndex()
    {
        Assert.True(ChunkEntryName.TryParse($"{D}.3.bad", out var n));
        Assert.Equal(D, n.Digest);
        Assert.Equal(ChunkEntryKind.Bad, n.Kind);
        Assert.Equal(3, n.BadIndex);
    }

    [Fact]
    public void TemporaryName_ParsesAsTemporaryOfItsDigest()
    {
        Assert.True(ChunkEntryName.TryParse($"{D}.tmp-0123abcd4567ef89", out var n));
        Assert.Equal(ChunkEntryKind.Temporary, n.Kind);
        Assert.Equal(D, n.Digest);
    }

    [Theory]
    [InlineData(".10.bad")]
    [InlineData(".a.bad")]
    [InlineData(".bad")]
    [InlineData(".3.bad/.3.bad")]
    [InlineData(".tmp-")]
    [InlineData(".tmp-ab/c")]
    [InlineData(".tmp-0123abcd")] // hex, but not the 16 digits the store writes
    [InlineData(".tmp-0123abcd4567ef890")]
    [InlineData(".tmp-0123ABCD4567EF89")]
    [InlineData(".tmp-0123abcd4567efgh")]
    [InlineData(".usingx")]
    [InlineData("x")]
    public void ForeignSuffixes_DoNotParse(string suffix)
    {
        Assert.False(ChunkEntryName.TryParse(D + suffix, out _));
    }

    [Fact]
    public void UppercaseOrShortNames_DoNotParse()
    {
        Assert.False(ChunkEntryName.TryParse(D.ToString().ToUpperInvariant(), out _));
        Assert.False(ChunkEntryName.TryParse(D.ToString()[..63], out _));
        Assert.False(ChunkEntryName.TryParse("lost+found", out _));
    }

    [Fact]
    public void ForBad_OutOfRange_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ChunkEntryName.ForBad(D, 10));
        Assert.Throws<InvalidOperationException>(() => new ChunkEntryName(D, ChunkEntryKind.Temporary).ToString());
    }
}
