using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;

namespace ChunkStore.Backup.Snapshots;

/// <summary>The snapshot files of a store: <c>&lt;store&gt;/snapshots/&lt;id&gt;.snapshot</c>.</summary>
internal sealed class SnapshotStore
{
    public const string DirectoryName = "snapshots";
    public const string Extension = ".snapshot";

    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = false };

    public SnapshotStore(string storeRoot)
    {
        Directory = Path.Combine(storeRoot, DirectoryName);
    }

    public string Directory { get; }

    /// <summary>Makes a new id: UTC time to the millisecond plus 6 random hex digits, so ids sort by time.</summary>
    public static string NewId(DateTimeOffset now) =>
        now.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'.'fff'Z'", CultureInfo.InvariantCulture) + "-" +
        Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));

    public string PathOf(string id) => Path.Combine(Directory, id + Extension);

    /// <summary>Lists the ids of all snapshots, oldest first.</summary>
    public List<string> ListIds()
    {
        if (!System.IO.Directory.Exists(Directory))
        {
            return [];
        }

        var ids = System.IO.Directory.EnumerateFiles(Directory, "*" + Extension)
            .Select(p => Path.GetFileName(p)[..^Extension.Length])
            .ToList();
        ids.Sort(StringComparer.Ordinal);
        return ids;
    }

    /// <summary>Resolves <c>latest</c> or an id (or a unique id prefix) to an existing id.</summary>
    /// <exception cref="UsageException">No such snapshot, or the prefix is ambiguous.</exception>
    public string Resolve(string idOrLatest)
    {
        var ids = ListIds();
        if (string.Equals(idOrLatest, "latest", StringComparison.OrdinalIgnoreCase))
        {
            return ids.Count > 0 ? ids[^1] : throw new UsageException($"the store has no snapshots yet ({Directory} is empty).");
        }

        if (ids.Contains(idOrLatest, StringComparer.Ordinal))
        {
            return idOrLatest;
        }

        var matches = ids.Where(i => i.StartsWith(idOrLatest, StringComparison.Ordinal)).ToList();
        return matches.Count switch
        {
            1 => matches[0],
            0 => throw new UsageException($"no snapshot '{idOrLatest}' in {Directory} (see 'chunkstore-backup snapshots')."),
            _ => throw new UsageException($"snapshot prefix '{idOrLatest}' matches {matches.Count} snapshots; give more of the id."),
        };
    }

    /// <summary>Reads a snapshot.</summary>
    /// <exception cref="IntegrityException">The file is not a valid snapshot.</exception>
    public Snapshot Load(string id)
    {
        string path = PathOf(id);
        Snapshot? snapshot;
        try
        {
            using var stream = File.OpenRead(path);
            snapshot = JsonSerializer.Deserialize<Snapshot>(stream, s_json);
        }
        catch (JsonException ex)
        {
            throw new IntegrityException($"snapshot file {path} is damaged: {ex.Message}", ex);
        }

        if (snapshot is null || snapshot.Format is not (Snapshot.CurrentFormat or Snapshot.FormatV1))
        {
            throw new IntegrityException($"snapshot file {path} has an unknown format '{snapshot?.Format}' (expected {Snapshot.CurrentFormat} or {Snapshot.FormatV1}).");
        }

        foreach (var file in snapshot.Files)
        {
            if (!PathIsSafe(file.Path))
            {
                throw new IntegrityException($"snapshot file {path} lists an unsafe path '{file.Path}'.");
            }

            foreach (string hex in file.Chunks)
            {
                if (!ChunkDigest.TryParse(hex, out _))
                {
                    throw new IntegrityException($"snapshot file {path} lists an invalid chunk digest '{hex}' for {file.Path}.");
                }
            }
        }

        return snapshot;
    }

    /// <summary>Loads every snapshot; any damaged one fails the whole call (a GC must never run on a partial set).</summary>
    public List<Snapshot> LoadAll() => ListIds().Select(Load).ToList();

    /// <summary>Writes a snapshot atomically and durably: temporary file, fsync, rename.</summary>
    public void Save(Snapshot snapshot)
    {
        System.IO.Directory.CreateDirectory(Directory);
        string path = PathOf(snapshot.Id);
        string temp = path + ".tmp-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                JsonSerializer.Serialize(stream, snapshot, s_json);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, path);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>Deletes a snapshot file; its chunks become garbage at the next collection unless others use them.</summary>
    public void Delete(string id) => File.Delete(PathOf(id));

    /// <summary>Tells whether a relative snapshot path stays inside the restore target.</summary>
    public static bool PathIsSafe(string relative)
    {
        if (string.IsNullOrEmpty(relative) || relative.StartsWith('/') || relative.Contains('\0', StringComparison.Ordinal))
        {
            return false;
        }

        foreach (string part in relative.Split('/'))
        {
            if (part.Length == 0 || part == "." || part == "..")
            {
                return false;
            }
        }

        return true;
    }
}
