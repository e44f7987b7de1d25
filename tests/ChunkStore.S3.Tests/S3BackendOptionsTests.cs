namespace ChunkStore.S3.Tests;

public class S3BackendOptionsTests
{
    [Fact]
    public void Defaults_AreTheDocumentedOnes()
    {
        var o = new S3BackendOptions();
        Assert.True(o.ForcePathStyle);
        Assert.True(o.UseConditionalWrites);
        Assert.Equal(S3ChecksumMode.WhenRequired, o.ChecksumMode);
        Assert.Equal(100, o.DeleteBatchSize);
        Assert.Equal("us-east-1", o.Region);
    }

    [Fact]
    public void ToString_RedactsCredentials()
    {
        var o = new S3BackendOptions { AccessKey = "AKIDSECRETISH", SecretKey = "very-secret-key", Bucket = "bucket-a", Endpoint = new Uri("http://127.0.0.1:7480") };
        string text = o.ToString();
        Assert.DoesNotContain("very-secret-key", text);
        Assert.DoesNotContain("AKIDSECRETISH", text);
        Assert.Contains("bucket-a", text);
    }

    [Fact]
    public void Setters_RejectBadValues()
    {
        var o = new S3BackendOptions();
        Assert.Throws<ArgumentOutOfRangeException>(() => o.DeleteBatchSize = 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => o.DeleteBatchSize = 1001);
        o.DeleteBatchSize = 1000;
        Assert.Throws<ArgumentException>(() => o.Bucket = "UPPER");
        Assert.Throws<ArgumentException>(() => o.Bucket = "ab");
        Assert.Throws<ArgumentException>(() => o.Endpoint = new Uri("ftp://x"));
        Assert.Throws<ArgumentOutOfRangeException>(() => o.CacheCapacityBytes = -1);
        Assert.Throws<ArgumentOutOfRangeException>(() => o.MaxConcurrentRequests = 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => o.RetryCount = -1);
        o.KeyPrefix = "/a/b/";
        Assert.Equal("a/b", o.KeyPrefix);
    }

    [Fact]
    public void Open_WithoutEndpointOrBucket_FailsClearly()
    {
        var ex = Assert.Throws<ArgumentException>(() => S3ChunkStore.Create(new ChunkStoreOptions { Root = Path.GetTempPath() }, new S3BackendOptions { Bucket = "abc" }));
        Assert.Contains("Endpoint", ex.Message);
    }
}
