using ChunkStore.Native;

namespace ChunkStore.FileSystem;

/// <summary>What one entry of a local chunk directory is, from one <c>lstat</c> (a final symbolic link not followed).</summary>
/// <param name="Size">Its size in bytes (0 for a marker or <c>.using</c>).</param>
/// <param name="LastAccess">Its atime: when the chunk was last touched through this entry.</param>
/// <param name="LastModified">Its mtime.</param>
/// <param name="LastChange">Its ctime (changes with a rename onto the path, too).</param>
/// <param name="IsRegularFile">False for a directory, link, device or anything else that is not a plain file.</param>
internal readonly record struct LocalEntry(long Size, DateTimeOffset LastAccess, DateTimeOffset LastModified, DateTimeOffset LastChange, bool IsRegularFile)
{
    /// <summary>The entry a kernel <c>statx</c> describes.</summary>
    public static LocalEntry From(in Libc.Statx st) => new(
        (long)st.Size, FileSystemBackend.ToTime(st.AccessTime), FileSystemBackend.ToTime(st.ModifyTime), FileSystemBackend.ToTime(st.ChangeTime), st.IsRegularFile);
}

/// <summary>
/// The file operations on entries of a local chunk directory (full copies, markers, <c>.using</c>, <c>.bad</c>,
/// temporary files) that code outside the core needs — the S3 backend's local cache — so that every operating-system
/// call stays in this assembly. Each says what "absent" means and throws <see cref="ChunkStorageException"/> for any
/// other failure unless its name starts with <c>Try</c>.
/// </summary>
internal static class LocalEntries
{
    /// <summary>The entry at a chunk's path; null when nothing is there.</summary>
    /// <exception cref="InvalidChunkEntryException">Something that is not a regular file is there.</exception>
    /// <exception cref="ChunkStorageException">The stat failed for another reason.</exception>
    public static LocalEntry? StatRegular(string store, ChunkDigest digest, string path) =>
        ChunkFiles.StatRegular(store, digest, path) is { } st ? LocalEntry.From(st) : null;

    /// <summary>The entry at <paramref name="path"/>, of any kind; null when nothing is there.</summary>
    /// <exception cref="ChunkStorageException">The stat failed for another reason than absence.</exception>
    public static LocalEntry? Stat(string store, ChunkDigest digest, string path)
    {
        int err = Libc.LStat(path, out var st);
        if (err == 0)
        {
            return LocalEntry.From(st);
        }

        return err is Libc.ENOENT or Libc.ENOTDIR ? null : throw FileErrors.Create(store, digest, path, "stat", err);
    }

    /// <summary>The entry at <paramref name="path"/>; null when the stat fails for any reason (gone meanwhile, say).</summary>
    public static LocalEntry? TryStat(string path) => Libc.LStat(path, out var st) == 0 ? LocalEntry.From(st) : null;

    /// <summary>Whether anything is at <paramref name="path"/> (a failed stat counts as nothing).</summary>
    public static bool Exists(string path) => Libc.LStat(path, out _) == 0;

    /// <summary>Sets the entry's atime to now, keeping its mtime; false when it is absent.</summary>
    /// <exception cref="ChunkStorageException">The touch failed for another reason.</exception>
    public static bool Touch(string store, ChunkDigest digest, string path)
    {
        int err = Libc.TouchAccessTime(path);
        if (err == 0)
        {
            return true;
        }

        return err is Libc.ENOENT or Libc.ENOTDIR ? false : throw FileErrors.Create(store, digest, path, "touch", err);
    }

    /// <summary>Sets the entry's atime to now, keeping its mtime; false when that failed for any reason.</summary>
    public static bool TryTouch(string path) => Libc.TouchAccessTime(path) == 0;

    /// <summary>Sets the entry's atime to <paramref name="time"/>, keeping its mtime; a failure is ignored (the entry then looks older, never newer).</summary>
    public static void TrySetAccessTime(string path, DateTimeOffset time) => _ = Libc.SetAccessTime(path, time);

    /// <summary>Removes the entry; false when that failed for any reason (absent included).</summary>
    public static bool TryRemove(string path) => Libc.Unlink(path) == 0;

    /// <summary>Removes the entry; absent is fine.</summary>
    /// <exception cref="ChunkStorageException">The removal failed for another reason.</exception>
    public static void Remove(string store, ChunkDigest digest, string path)
    {
        if (Libc.Unlink(path) != 0)
        {
            int err = Libc.LastError;
            if (err is not (Libc.ENOENT or Libc.ENOTDIR))
            {
                throw FileErrors.Create(store, digest, path, "remove", err);
            }
        }
    }

    /// <summary>
    /// Renames <paramref name="temp"/> over <paramref name="path"/>. With <paramref name="keepLaterTouch"/>, a touch of
    /// the replaced file that lands after the caller read its time (a GC mark in another process touches without the
    /// chunk lock) is carried onto the new file: the old inode is held across the rename and its atime compared after.
    /// </summary>
    /// <exception cref="IOException">The rename failed.</exception>
    public static void Replace(string temp, string path, bool keepLaterTouch)
    {
        int oldFd = keepLaterTouch ? Libc.OpenRetry(path, Libc.O_PATH | Libc.O_NOFOLLOW, 0) : -1;
        try
        {
            File.Move(temp, path, overwrite: true);
            if (oldFd >= 0 && Libc.FStat(oldFd, out var before) == 0 && Libc.LStat(path, out var now) == 0
                && FileSystemBackend.ToTime(before.AccessTime) > FileSystemBackend.ToTime(now.AccessTime))
            {
                TrySetAccessTime(path, FileSystemBackend.ToTime(before.AccessTime));
            }
        }
        finally
        {
            if (oldFd >= 0)
            {
                _ = Libc.Close(oldFd);
            }
        }
    }
}
