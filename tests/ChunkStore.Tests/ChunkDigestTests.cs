namespace ChunkStore.Tests;

public class ChunkDigestTests
{
    private const string EmptySha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    [Fact]
    public void Compute_MatchesTheKnownSha256AndFormatsAsLowercaseHex()
    {
        Assert.Equal(EmptySha256, ChunkDigest.Compute([]).ToString());
        Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", ChunkDigest.Compute("abc"u8).ToString());
    }

    [Fact]
    public void Parse_RoundTripsAndAcceptsUppercase()
    {
        var d = ChunkDigest.Parse(EmptySha256);
        Assert.Equal(EmptySha256, d.ToString());
        Assert.Equal(d, ChunkDigest.Parse(EmptySha256.ToUpperInvariant()));
        Assert.Equal(0xe3b0, d.Prefix);
        Assert.Equal(d, new ChunkDigest(d.ToArray()));
    }

    [Theory]
    [InlineData("")]
    [InlineData("e3b0")]
    [InlineData("g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")]
    [InlineData("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555")]
    [InlineData(" e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85")]
    public void Parse_MalformedText_ThrowsFormatExceptionShowingTheText(string text)
    {
        var ex = Assert.Throws<FormatException>(() => ChunkDigest.Parse(text));
        Assert.Contains($"'{text}'", ex.Message, StringComparison.Ordinal);
        Assert.False(ChunkDigest.TryParse(text, out _));
    }

    [Fact]
    public void Ordering_EqualsOrdinalOrderOfTheHexText()
    {
        var digests = Enumerable.Range(0, 200).Select(i => ChunkDigest.Compute(BitConverter.GetBytes(i))).ToList();
        var byValue = digests.OrderBy(d => d).Select(d => d.ToString()).ToList();
        var byText = digests.Select(d => d.ToString()).OrderBy(s => s, StringComparer.Ordinal).ToList();
        Assert.Equal(byText, byValue);
        Assert.True(digests[0] == ChunkDigest.Parse(digests[0].ToString()));
        Assert.Equal(200, digests.Distinct().Count());
    }

    [Fact]
    public void Constructor_WrongLength_Throws()
    {
        Assert.Throws<ArgumentException>(() => new ChunkDigest(new byte[31]));
    }
}

public sealed class ChunkDigestJsonTests
{
    [Fact]
    public void Json_RoundTripsAsHexString()
    {
        var digest = ChunkDigest.Compute([1, 2, 3]);
        string json = System.Text.Json.JsonSerializer.Serialize(new[] { digest });
        Assert.Equal($"[\"{digest}\"]", json);
        Assert.Equal([digest], System.Text.Json.JsonSerializer.Deserialize<ChunkDigest[]>(json)!);
    }

    [Theory]
    [InlineData("[\"abc\"]")]
    [InlineData("[42]")]
    [InlineData("[{\"Prefix\":1}]")]
    public void Json_Malformed_IsAJsonException(string json)
    {
        Assert.Throws<System.Text.Json.JsonException>(() => System.Text.Json.JsonSerializer.Deserialize<ChunkDigest[]>(json));
    }
}
