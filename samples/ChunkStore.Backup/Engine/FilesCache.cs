using System.Security.Cryptography;
using System.Text;
using ChunkStore.Backup.Chunking;

namespace ChunkStore.Backup.Engine;

/// <summary>One file as the last backup saw it: its stat and its chunks.</summary>
/// <param name="Size">Size in bytes.</param>
/// <param name="ModifiedNs">mtime, ns since the epoch.</param>
/// <param name="ChangedNs">ctime, ns since the epoch.</param>
/// <param name="Inode">Inode number.</param>
/// <param name="RecordedAtNs">The wall clock just before that stat (see <see cref="FilesCache.IsTrusted"/>).</param>
/// <param name="Chunks">The file's chunks in order.</param>
internal sealed record FilesCacheEntry(long Size, long ModifiedNs, long ChangedNs, ulong Inode, long RecordedAtNs, ChunkDigest[] Chunks);

/// <summary>
/// The files cache: path → (size, mtime, ctime, inode → chunk list) of the last backup of one source into one store,
/// so that a file whose stat has not changed is not read again.
/// </summary>
/// <remarks>
/// <para>Where: <c>&lt;store&gt;/files-cache/&lt;16 hex&gt;</c>, next to <c>snapshots/</c>, one file per host and source
/// directory (the name is a hash of both). It lives and dies with the store it describes; deleting it only costs one
/// backup that reads everything.</para>
/// <para>Trust: an entry is only a hint. <see cref="BackupEngine"/> touches every chunk of a hit through its write
/// session before using it, and reads the file again when a chunk is gone; a damaged file (checked with a SHA-256
/// trailer) or one made by another chunker setting is ignored as a whole.</para>
/// <para>Racy files: timestamps have a granularity (the kernel stamps them from a clock that advances in ticks of a
/// few ms; some filesystems keep whole or even two seconds), so a file changed again within the tick in which the
/// backup saw it keeps its size, mtime and ctime. An entry is therefore trusted only when the file's mtime and ctime
/// were at least <see cref="DefaultRacyWindow"/> older than the moment it was stat'ed; a file changed just before the
/// backup is read again next time (the rule git uses for its index; borg and restic have similar ones).</para>
/// </remarks>
internal sealed class FilesCache
{
    public const string DirectoryName = "files-cache";

    /// <summary>A file changed less than this before its stat is read again by the next backup: covers 2-second (FAT) timestamp granularity.</summary>
    public static readonly TimeSpan DefaultRacyWindow = TimeSpan.FromSeconds(2);

    private static readonly byte[] s_magic = Encoding.ASCII.GetBytes("chunkstore-backup/files-cache/v1\n");

    private readonly Dictionary<string, FilesCacheEntry> _entries;

    private FilesCache(Dictionary<string, FilesCacheEntry> entries)
    {
        _entries = entries;
    }

    /// <summary>Gets an empty cache.</summary>
    public static FilesCache Empty => new(new Dictionary<string, FilesCacheEntry>(StringComparer.Ordinal));

    public int Count => _entries.Count;

    /// <summary>The cache file of <paramref name="source"/> (an absolute path) backed up from this host into the store at <paramref name="storeRoot"/>.</summary>
    public static string PathFor(string storeRoot, string source)
    {
        byte[] key = SHA256.HashData(Encoding.UTF8.GetBytes(Environment.MachineName + "\n" + source));
        return Path.Combine(storeRoot, DirectoryName, Convert.ToHexStringLower(key)[..16]);
    }

    /// <summary>Tells whether an entry may stand for a file: same size, mtime, ctime and inode, and not racy.</summary>
    public static bool IsTrusted(FilesCacheEntry entry, FileStat stat, TimeSpan racyWindow) =>
        stat.ChangedNs is { } ctime &&
        entry.Size == stat.Size && entry.ModifiedNs == stat.ModifiedNs && entry.ChangedNs == ctime && entry.Inode == stat.Inode &&
        Math.Max(entry.ModifiedNs, entry.ChangedNs) + (racyWindow.Ticks * 100) <= entry.RecordedAtNs;

    /// <summary>Finds the entry of <paramref name="file"/> when it may be used (see <see cref="IsTrusted"/>).</summary>
    public FilesCacheEntry? Lookup(ScannedFile file, TimeSpan racyWindow) =>
        _entries.TryGetValue(file.RelativePath, out var entry) && IsTrusted(entry, file.Stat, racyWindow) ? entry : null;

    /// <summary>Reads a cache file; a missing one is empty, a damaged one or one for another chunker is ignored (with a warning).</summary>
    public static FilesCache Load(string path, ChunkerSpec chunker, out string? warning)
    {
        warning = null;
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return Empty;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            warning = $"cannot read the files cache {path}: {ex.Message}; every file is read";
            return Empty;
        }

        try
        {
            int body = bytes.Length - SHA256.HashSizeInBytes;
            if (body < s_magic.Length || !bytes.AsSpan(0, s_magic.Length).SequenceEqual(s_magic) ||
                !SHA256.HashData(bytes.AsSpan(0, body)).AsSpan().SequenceEqual(bytes.AsSpan(body)))
            {
                throw new InvalidDataException("bad header or checksum");
            }

            using var reader = new BinaryReader(new MemoryStream(bytes, s_magic.Length, body - s_magic.Length), Encoding.UTF8);
            if (reader.ReadString() != ChunkerKey(chunker))
            {
                return Empty; // another chunker setting: its chunk lists would still be right, but not deduplicate
            }

            int count = reader.ReadInt32();
            var entries = new Dictionary<string, FilesCacheEntry>(count, StringComparer.Ordinal);
            Span<byte> digest = stackalloc byte[ChunkDigest.ByteLength];
            for (int i = 0; i < count; i++)
            {
                string file = reader.ReadString();
                long size = reader.ReadInt64(), mtime = reader.ReadInt64(), ctime = reader.ReadInt64();
                ulong inode = reader.ReadUInt64();
                long recordedAt = reader.ReadInt64();
                var chunks = new ChunkDigest[reader.ReadInt32()];
                for (int c = 0; c < chunks.Length; c++)
                {
                    reader.BaseStream.ReadExactly(digest);
                    chunks[c] = new ChunkDigest(digest);
                }

                entries[file] = new FilesCacheEntry(size, mtime, ctime, inode, recordedAt, chunks);
            }

            return new FilesCache(entries);
        }
        catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException or ArgumentException or IOException or OverflowException)
        {
            warning = $"the files cache {path} is damaged ({ex.Message}); ignored, every file is read";
            return Empty;
        }
    }

    private static string ChunkerKey(ChunkerSpec c) => $"{c.Kind} {c.MinSize} {c.AverageSize} {c.MaxSize}";

    /// <summary>Writes a cache file (temporary file + rename; no fsync: a lost or torn cache is detected and only costs a full read).</summary>
    public static void Save(string path, ChunkerSpec chunker, IEnumerable<(string Path, FilesCacheEntry Entry)> entries)
    {
        var list = entries.ToList();
        using var memory = new MemoryStream();
        memory.Write(s_magic);
        using (var writer = new BinaryWriter(memory, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(ChunkerKey(chunker));
            writer.Write(list.Count);
            Span<byte> digest = stackalloc byte[ChunkDigest.ByteLength];
            foreach (var (file, e) in list)
            {
                writer.Write(file);
                writer.Write(e.Size);
                writer.Write(e.ModifiedNs);
                writer.Write(e.ChangedNs);
                writer.Write(e.Inode);
                writer.Write(e.RecordedAtNs);
                writer.Write(e.Chunks.Length);
                foreach (var d in e.Chunks)
                {
                    d.CopyTo(digest);
                    writer.Write(digest);
                }
            }
        }

        memory.Write(SHA256.HashData(memory.GetBuffer().AsSpan(0, (int)memory.Length)));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        string temp = path + ".tmp-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                stream.Write(memory.GetBuffer().AsSpan(0, (int)memory.Length));
            }

            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }
}
