namespace ChunkStore.Server.Tests.Infrastructure;

/// <summary>The S3 server the S3 tests use, from the environment <c>scripts/s3-local.sh</c> writes (<c>test.sh</c> starts one).</summary>
public static class S3Environment
{
    public const string MissingMessage =
        "CHUNKSTORE_S3_ENDPOINT is not set: start a local Ceph RGW with `scripts/s3-local.sh start` and `source` the env file it prints. (In CI this test fails instead of skipping.)";

    public static string? Endpoint => Environment.GetEnvironmentVariable("CHUNKSTORE_S3_ENDPOINT") is { Length: > 0 } e ? e : null;

    public static string AccessKey => Environment.GetEnvironmentVariable("CHUNKSTORE_S3_ACCESS_KEY") ?? "";

    public static string SecretKey => Environment.GetEnvironmentVariable("CHUNKSTORE_S3_SECRET_KEY") ?? "";

    public static string Region => Environment.GetEnvironmentVariable("CHUNKSTORE_S3_REGION") is { Length: > 0 } r ? r : "us-east-1";

    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
}

/// <summary>A test that needs the S3 server: skipped with a message outside CI when it is not configured; in CI (<c>CI=true</c>) it runs and fails.</summary>
public sealed class S3FactAttribute : FactAttribute
{
    public S3FactAttribute()
    {
        if (S3Environment.Endpoint is null && !S3Environment.IsCi)
        {
            Skip = S3Environment.MissingMessage;
        }
    }
}
