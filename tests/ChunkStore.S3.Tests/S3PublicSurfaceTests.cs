using System.Runtime.Versioning;

namespace ChunkStore.S3.Tests;

/// <summary>The S3 package's surface: options, the open calls, DI and its exceptions; the backend and its parts stay internal.</summary>
public sealed class S3PublicSurfaceTests
{
    [Theory]
    [InlineData(typeof(S3ChunkBackend))]
    [InlineData(typeof(S3Requests))]
    [InlineData(typeof(S3ObjectStorage))]
    public void Type_IsNotPublic(Type type)
    {
        Assert.False(type.IsVisible, $"{type.FullName} is public");
    }

    [Fact]
    public void Assembly_SaysItSupportsLinuxOnly()
    {
        var platforms = typeof(S3ChunkStore).Assembly.GetCustomAttributes(typeof(SupportedOSPlatformAttribute), false)
            .Cast<SupportedOSPlatformAttribute>().Select(a => a.PlatformName);
        Assert.Equal(["linux"], platforms);
    }
}
