using System.Text.Json.Serialization;
using ChunkStore.Backup.Chunking;

namespace ChunkStore.Backup.Snapshots;

/// <summary>One backup: every file of the source tree with its chunks, in order. Stored as JSON (see README).</summary>
internal sealed class Snapshot
{
    /// <summary>The format written: v2 files carry no whole-file SHA-256 (every chunk is checked against its digest).</summary>
    public const string CurrentFormat = "chunkstore-backup/snapshot/v2";

    /// <summary>v1 (files with a whole-file <c>sha256</c>, checked by restore) is still read.</summary>
    public const string FormatV1 = "chunkstore-backup/snapshot/v1";

    [JsonPropertyName("format")]
    public string Format { get; set; } = CurrentFormat;

    [JsonPropertyName("id")]
    public string Id { get; set; } = "";

    [JsonPropertyName("createdAt")]
    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>The absolute path that was backed up (informational).</summary>
    [JsonPropertyName("source")]
    public string Source { get; set; } = "";

    [JsonPropertyName("host")]
    public string Host { get; set; } = "";

    [JsonPropertyName("chunker")]
    public ChunkerSpec Chunker { get; set; } = new("cdc", 0, 0, 0);

    [JsonPropertyName("summary")]
    public SnapshotSummary Summary { get; set; } = new();

    /// <summary>Directories (relative, '/'-separated), so empty ones are restored too.</summary>
    [JsonPropertyName("directories")]
    public List<string> Directories { get; set; } = [];

    [JsonPropertyName("files")]
    public List<SnapshotFile> Files { get; set; } = [];

    /// <summary>Enumerates every chunk reference of the snapshot (repeats included).</summary>
    public IEnumerable<ChunkDigest> AllDigests()
    {
        foreach (var file in Files)
        {
            foreach (string hex in file.Chunks)
            {
                yield return ChunkDigest.Parse(hex);
            }
        }
    }
}

/// <summary>A regular file in a snapshot.</summary>
internal sealed class SnapshotFile
{
    /// <summary>Path relative to the backed-up directory, '/'-separated, never rooted, never containing "..".</summary>
    [JsonPropertyName("path")]
    public string Path { get; set; } = "";

    [JsonPropertyName("size")]
    public long Size { get; set; }

    /// <summary>Unix permission bits (e.g. 420 = 0644).</summary>
    [JsonPropertyName("mode")]
    public int Mode { get; set; }

    [JsonPropertyName("mtime")]
    public DateTimeOffset ModifiedAt { get; set; }

    /// <summary>SHA-256 of the whole file, in v1 snapshots only (checked on restore); null in v2.</summary>
    [JsonPropertyName("sha256")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Sha256 { get; set; }

    /// <summary>The file's chunks in order: 64-hex SHA-256 digests.</summary>
    [JsonPropertyName("chunks")]
    public List<string> Chunks { get; set; } = [];
}

/// <summary>Counters of the backup run that made the snapshot.</summary>
internal sealed class SnapshotSummary
{
    [JsonPropertyName("files")]
    public long Files { get; set; }

    [JsonPropertyName("bytes")]
    public long Bytes { get; set; }

    [JsonPropertyName("chunks")]
    public long Chunks { get; set; }

    [JsonPropertyName("newChunks")]
    public long NewChunks { get; set; }

    [JsonPropertyName("newBytes")]
    public long NewBytes { get; set; }
}
