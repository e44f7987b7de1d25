using System.Text.Json;
using System.Text.Json.Serialization;

namespace ChunkStore.FileSystem;

/// <summary>
/// The store's identity file, <c>.chunkstore.json</c>: its format version and the settings every process sharing
/// the store must agree on (lock directory and stripe count).
/// </summary>
internal sealed record StoreConfig(
    [property: JsonPropertyName("format")] int Format,
    [property: JsonPropertyName("lockStripes")] int LockStripes,
    [property: JsonPropertyName("lockDirectory")] string? LockDirectory)
{
    public const int CurrentFormat = 1;

    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true };

    public static StoreConfig Read(string path, string store)
    {
        StoreConfig? config;
        try
        {
            config = JsonSerializer.Deserialize<StoreConfig>(File.ReadAllBytes(path), s_json);
        }
        catch (JsonException ex)
        {
            throw new InvalidStoreException(store, $"its {ChunkLayout.ConfigFileName} is not valid JSON ({ex.Message}).");
        }

        if (config is null || config.Format <= 0)
        {
            throw new InvalidStoreException(store, $"its {ChunkLayout.ConfigFileName} has no format version.");
        }

        if (config.Format > CurrentFormat)
        {
            throw new InvalidStoreException(store, $"it has format {config.Format}; this version of ChunkStore reads format {CurrentFormat} only. Upgrade the package.");
        }

        if (config.LockStripes < 16 || config.LockStripes > 65536 || (config.LockStripes & (config.LockStripes - 1)) != 0)
        {
            throw new InvalidStoreException(store, $"its {ChunkLayout.ConfigFileName} has an invalid lockStripes value {config.LockStripes}.");
        }

        return config;
    }

    /// <summary>The prefix of the temporary names the identity file is written under before it is renamed into place.</summary>
    public static string TemporaryPrefix => ChunkLayout.ConfigFileName + ".tmp-";

    /// <summary>Writes the file atomically (temporary file, rename) and only if none exists yet; false when one does.</summary>
    /// <remarks>Callers must ensure: they hold the root's creation lock (<see cref="StoreRoot"/>), so that no other
    /// creator writes the file at the same time.</remarks>
    public bool TryWriteNew(string path)
    {
        string temp = Path.Combine(Path.GetDirectoryName(path)!, TemporaryPrefix + Environment.ProcessId);
        File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(this, s_json));

        // Safety (RenameNoReplace): the caller's creation lock keeps every other creator out.
        if (ChunkFiles.RenameNoReplace(temp, path))
        {
            return true;
        }

        File.Delete(temp);
        return false;
    }
}
