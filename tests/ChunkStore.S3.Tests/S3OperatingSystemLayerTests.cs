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
    private static MetadataReader Read(Assembly assembly, out PEReader pe)
    {
        pe = new PEReader(File.OpenRead(assembly.Location));
        return pe.GetMetadataReader();
    }

    [Fact]
    public void S3Assembly_ReferencesNoTypeOfTheNativeLayer()
    {
        var md = Read(typeof(S3ChunkStore).Assembly, out var pe);
        using (pe)
        {
            var native = md.TypeReferences
                .Select(h => md.GetTypeReference(h))
                .Where(t => md.GetString(t.Namespace) == "ChunkStore.Native")
                .Select(t => md.GetString(t.Name))
                .Distinct()
                .ToList();
            Assert.True(native.Count == 0, $"ChunkStore.S3 uses ChunkStore.Native directly: {string.Join(", ", native)}");
        }
    }

    [Fact]
    public void S3Assembly_DeclaresNoPlatformInvoke()
    {
        var md = Read(typeof(S3ChunkStore).Assembly, out var pe);
        using (pe)
        {
            var pinvokes = md.MethodDefinitions
                .Select(h => md.GetMethodDefinition(h))
                .Where(m => (m.Attributes & System.Reflection.MethodAttributes.PinvokeImpl) != 0)
                .Select(m => md.GetString(m.Name))
                .ToList();
            Assert.True(pinvokes.Count == 0, $"ChunkStore.S3 declares P/Invokes: {string.Join(", ", pinvokes)}");
        }
    }
}
