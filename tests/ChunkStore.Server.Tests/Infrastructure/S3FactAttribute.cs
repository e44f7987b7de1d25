using ChunkStore.S3.Tests.Infrastructure;

namespace ChunkStore.Server.Tests.Infrastructure;

/// <summary>A test that needs the S3 server: skipped with a message outside CI when it is not configured; in CI (<c>CI=true</c>) it runs and fails.</summary>
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
