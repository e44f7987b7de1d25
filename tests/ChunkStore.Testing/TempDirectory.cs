namespace ChunkStore.Tests.Infrastructure;

/// <summary>A fresh directory under the system temp folder, removed on dispose.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory(string? prefix = null)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"{prefix ?? "chunkstore-test"}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    private TempDirectory(string path, bool _)
    {
        Path = path;
    }

    public string Path { get; }

    /// <summary>Takes an existing directory (created by the test) to remove on dispose.</summary>
    public static TempDirectory Existing(string path)
    {
        Directory.CreateDirectory(path);
        return new TempDirectory(path, true);
    }

    public string Sub(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
