using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace ChunkStore.S3.Tests;

/// <summary>
/// Every operating-system call lives in the core (<c>ChunkStore.Native</c>, reached through <c>ChunkStore.FileSystem</c>
/// helpers such as <c>LocalEntries</c>), so that porting to another OS touches one layer: the S3 package declares no
/// P/Invoke of its own and references no type of the native layer.
/// </summary>
public sealed class S3OperatingSystemLayerTests
{
    /// <summary>What <paramref name="select"/> finds in the S3 assembly's metadata.</summary>
    private static List<string> FindInS3Assembly(Func<MetadataReader, IEnumerable<string>> select)
    {
        using var pe = new PEReader(File.OpenRead(typeof(S3ChunkStore).Assembly.Location));
        return select(pe.GetMetadataReader()).Distinct().ToList();
    }

    [Fact]
    public void S3Assembly_ReferencesNoTypeOfTheNativeLayer()
    {
        var native = FindInS3Assembly(md => md.TypeReferences
            .Select(h => md.GetTypeReference(h))
            .Where(t => md.GetString(t.Namespace) == "ChunkStore.Native")
            .Select(t => md.GetString(t.Name)));

        Assert.True(native.Count == 0, $"ChunkStore.S3 uses ChunkStore.Native directly: {string.Join(", ", native)}");
    }

    [Fact]
    public void S3Assembly_DeclaresNoPlatformInvoke()
    {
        var pinvokes = FindInS3Assembly(md => md.MethodDefinitions
            .Select(h => md.GetMethodDefinition(h))
            .Where(m => (m.Attributes & MethodAttributes.PinvokeImpl) != 0)
            .Select(m => md.GetString(m.Name)));

        Assert.True(pinvokes.Count == 0, $"ChunkStore.S3 declares P/Invokes: {string.Join(", ", pinvokes)}");
    }
}
