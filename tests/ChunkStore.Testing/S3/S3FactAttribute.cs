namespace ChunkStore.S3.Tests.Infrastructure;

/// <summary>
/// A test that needs the real S3 server named by <c>CHUNKSTORE_S3_ENDPOINT</c>. Outside CI, when the variable is unset,
/// the test is skipped with a message saying how to start the server; in CI (<c>CI=true</c>) it runs and fails.
/// </summary>
public sealed class S3FactAttribute : FactAttribute
{
    public S3FactAttribute()
    {
        if (S3TestEnvironment.Endpoint is null && !S3TestEnvironment.IsCi)
        {
            Skip = S3TestEnvironment.MissingMessage;
        }
    }
}
