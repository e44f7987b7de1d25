using ChunkStore.Remote;

namespace ChunkStore.Tests.Remote;

public class RemoteChunkKeyTests
{
    private static readonly ChunkDigest s_digest = ChunkDigest.Compute("hello"u8);

    [Theory]
    [InlineData("")]
    [InlineData("store")]
    [InlineData("a/b/c")]
    public void ChunkAndBadKeys_RoundTrip(string prefix)
    {
        foreach (var key in new[] { RemoteChunkKey.ForChunk(s_digest), RemoteChunkKey.ForBad(s_digest, 0), RemoteChunkKey.ForBad(s_digest, 9) })
        {
            string text = key.ToKey(prefix);
            Assert.True(RemoteChunkKey.TryParse(text, prefix, out var parsed), text);
            Assert.Equal(key, parsed);
            Assert.Equal(text, parsed.ToKey(prefix));
        }
    }

    [Fact]
    public void Key_HasLayoutOfPrefixDirectoryAndDigest()
    {
        string hex = s_digest.ToString();
        Assert.Equal($"p/.chunks/{hex[..4]}/{hex}", RemoteChunkKey.ForChunk(s_digest).ToKey("p"));
        Assert.Equal($".chunks/{hex[..4]}/{hex}.3.bad", RemoteChunkKey.ForBad(s_digest, 3).ToKey(""));
    }

    [Fact]
    public void BadKey_ParsesAsBadWithIndex_NotAsTheGoodChunk()
    {
        Assert.True(RemoteChunkKey.TryParse(RemoteChunkKey.ForBad(s_digest, 4).ToKey("p"), "p", out var parsed));
        Assert.Equal(ChunkEntryKind.Bad, parsed.Kind);
        Assert.Equal(4, parsed.BadIndex);
        Assert.Equal(s_digest, parsed.Digest);
        Assert.Equal(ChunkEntryName.ForBad(s_digest, 4), parsed.EntryName);
    }

    [Theory]
    [InlineData("p/.chunks/{p}/{h}.0.bad/.0.bad")] // Proxmox's O-3 path join
    [InlineData("p/.chunks/{p}/{h}.using")]
    [InlineData("p/.chunks/{p}/{h}.tmp-abc")]
    [InlineData("p/.chunks/{p}/{h}.10.bad")]
    [InlineData("p/.chunks/{p}/{h}x")]
    [InlineData("p/.chunks/0000/{h}")] // wrong prefix directory
    [InlineData("p/.chunks/{P}/{H}")] // uppercase
    [InlineData("p/.chunks/{h}")]
    [InlineData("q/.chunks/{p}/{h}")] // another store's prefix
    [InlineData("p/.cnt/{p}/{h}")]
    [InlineData("p/.chunks/zzzz/foo")]
    public void ForeignKeys_DoNotParse(string pattern)
    {
        string hex = s_digest.ToString();
        string key = pattern.Replace("{p}", hex[..4]).Replace("{h}", hex).Replace("{P}", hex[..4].ToUpperInvariant()).Replace("{H}", hex.ToUpperInvariant());
        if (hex[..4] == "0000" && pattern.Contains("0000"))
        {
            return;
        }

        Assert.False(RemoteChunkKey.TryParse(key, "p", out _), key);
    }
}
