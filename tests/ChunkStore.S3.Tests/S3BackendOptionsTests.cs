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

public class S3RetryPolicyTests
{
    [Fact]
    public void RetryDelay_IsFullJitterUpToTheExponentialBound_AndNeverAboveTheCap()
    {
        var baseDelay = TimeSpan.FromMilliseconds(200);
        var cap = TimeSpan.FromSeconds(20);

        Assert.Equal(TimeSpan.Zero, new ChunkStore.Remote.RemoteRetryPolicy(0, baseDelay, cap).Delay(0, 0.0));
        Assert.Equal(TimeSpan.FromMilliseconds(100), new ChunkStore.Remote.RemoteRetryPolicy(0, baseDelay, cap).Delay(0, 0.5));
        Assert.Equal(TimeSpan.FromMilliseconds(1800 * 0.5), new ChunkStore.Remote.RemoteRetryPolicy(0, baseDelay, cap).Delay(2, 0.5));
        for (int attempt = 0; attempt <= 10; attempt++)
        {
            Assert.True(new ChunkStore.Remote.RemoteRetryPolicy(0, baseDelay, cap).Delay(attempt, 0.999999) <= cap, $"attempt {attempt}");
        }

        // The tenth retry used to wait 200 ms × 3¹⁰ ≈ 3.3 hours.
        Assert.True(new ChunkStore.Remote.RemoteRetryPolicy(0, baseDelay, cap).Delay(10, 0.999999) > TimeSpan.FromSeconds(19));
    }

    [Fact]
    public void IsTransient_ConfigurationAndSigningErrors_ArePermanent_TransportErrorsAreNot()
    {
        Assert.False(S3Requests.IsTransient(new Amazon.Runtime.AmazonClientException("No RegionEndpoint or ServiceURL is configured")));
        Assert.False(S3Requests.IsTransient(new Amazon.S3.AmazonS3Exception("denied", Amazon.Runtime.ErrorType.Sender, "SignatureDoesNotMatch", "r", System.Net.HttpStatusCode.Forbidden)));
        Assert.False(S3Requests.IsTransient(new Amazon.S3.AmazonS3Exception("no bucket", Amazon.Runtime.ErrorType.Sender, "NoSuchBucket", "r", System.Net.HttpStatusCode.NotFound)));
        Assert.True(S3Requests.IsTransient(new Amazon.Runtime.AmazonClientException("send failed", new HttpRequestException("connection refused"))));
        Assert.True(S3Requests.IsTransient(new Amazon.S3.AmazonS3Exception("slow down", Amazon.Runtime.ErrorType.Sender, "SlowDown", "r", System.Net.HttpStatusCode.ServiceUnavailable)));
        Assert.True(S3Requests.IsTransient(new Amazon.S3.AmazonS3Exception("timeout", Amazon.Runtime.ErrorType.Sender, "RequestTimeout", "r", System.Net.HttpStatusCode.BadRequest)));
        Assert.True(S3Requests.IsTransient(new IOException("reset")));
    }
}
