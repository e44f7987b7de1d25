namespace ChunkStore.S3.Tests.Infrastructure;

/// <summary>The S3 server the tests use, from the environment (see <c>scripts/s3-local.sh</c>).</summary>
public static class S3TestEnvironment
{
    public const string MissingMessage =
        "CHUNKSTORE_S3_ENDPOINT is not set: start a local Ceph RGW with `scripts/s3-local.sh start` and `source` the env file it prints. (In CI these tests fail instead of skipping.)";

    public static string? Endpoint => Environment.GetEnvironmentVariable("CHUNKSTORE_S3_ENDPOINT") is { Length: > 0 } e ? e : null;

    public static string AccessKey => Environment.GetEnvironmentVariable("CHUNKSTORE_S3_ACCESS_KEY") ?? "";

    public static string SecretKey => Environment.GetEnvironmentVariable("CHUNKSTORE_S3_SECRET_KEY") ?? "";

    public static string Region => Environment.GetEnvironmentVariable("CHUNKSTORE_S3_REGION") is { Length: > 0 } r ? r : "us-east-1";

    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static string RequireEndpoint() => Endpoint ?? throw new InvalidOperationException(MissingMessage);
}
