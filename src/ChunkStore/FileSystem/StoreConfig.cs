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

    /// <summary>Writes the file atomically and only if none exists yet; false when another creator won.</summary>
    public bool TryWriteNew(string path)
    {
        string temp = path + ".tmp-" + Environment.ProcessId;
        File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(this, s_json));
        try
        {
            File.Move(temp, path, overwrite: false);
            return true;
        }
        catch (IOException) when (File.Exists(path))
        {
            File.Delete(temp);
            return false;
        }
    }
}
