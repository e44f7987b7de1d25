using ChunkStore.Native;
using Microsoft.Win32.SafeHandles;

namespace ChunkStore.FileSystem;

/// <summary>Checks and writes of chunk-layout files shared by the filesystem backend and the remote backend's local cache.</summary>
internal static class ChunkFiles
{
    /// <summary>
    /// Writes <paramref name="data"/> to a new file at <paramref name="temp"/> (a temporary name in the chunk's prefix
    /// directory, which is created on first use), fsynced with <paramref name="fsync"/>. The caller then publishes it
    /// under the chunk's name with a rename, or removes it: a chunk file is never written in place.
    /// </summary>
    /// <param name="layout">The store's layout.</param>
    /// <param name="digest">The chunk.</param>
    /// <param name="temp">The temporary path (<see cref="ChunkLayout.NewTemporaryPath"/>).</param>
    /// <param name="data">The content (may be empty: a marker).</param>
    /// <param name="fsync">Flush the file's data to the device before returning.</param>
    /// <param name="store">The store's description, for messages.</param>
    /// <exception cref="IOException">The file could not be created or written (the caller wraps it).</exception>
    /// <exception cref="ChunkStorageException">The fsync failed.</exception>
    public static void WriteTemporary(ChunkLayout layout, ChunkDigest digest, string temp, ReadOnlySpan<byte> data, bool fsync, string store)
    {
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None);
        }
        catch (DirectoryNotFoundException)
        {
            // Prefix directories are created lazily, on the first chunk of each prefix.
            Directory.CreateDirectory(layout.PrefixDirectory(digest));
            handle = File.OpenHandle(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None);
        }

        using (handle)
        {
            if (!data.IsEmpty)
            {
                RandomAccess.Write(handle, data, 0);
            }

            if (fsync && LibcHandles.Fsync(handle) != 0)
            {
                throw FileErrors.Create(store, digest, temp, "fsync", Libc.LastError);
            }
        }
    }

    /// <summary>Stats the entry at a chunk's path without following links.</summary>
    /// <returns>The stat, or <see langword="null"/> when nothing is there.</returns>
    /// <exception cref="InvalidChunkEntryException">Something that is not a regular file is there.</exception>
    /// <exception cref="ChunkStorageException">The stat failed for another reason.</exception>
    public static Libc.Statx? StatRegular(string store, ChunkDigest digest, string path)
    {
        int err = Libc.LStat(path, out var st);
        if (err == Libc.ENOENT || err == Libc.ENOTDIR)
        {
            return null;
        }

        if (err != 0)
        {
            throw FileErrors.Create(store, digest, path, "stat", err);
        }

        if (!st.IsRegularFile)
        {
            throw new InvalidChunkEntryException(store, digest, path, st.KindDescription);
        }

        return st;
    }

    /// <summary>Renames <paramref name="from"/> to <paramref name="to"/> unless <paramref name="to"/> exists; false when it does.</summary>
    /// <remarks>Callers must ensure: a plain rename is safe too (the target name is unique, or the caller holds a lock
    /// that keeps other writers of it out), because on a filesystem without <c>RENAME_NOREPLACE</c> this falls back to
    /// a check-then-rename.</remarks>
    public static bool RenameNoReplace(string from, string to)
    {
        if (Libc.Renameat2(Libc.AT_FDCWD, from, Libc.AT_FDCWD, to, Libc.RENAME_NOREPLACE) == 0)
        {
            return true;
        }

        int err = Libc.LastError;
        if (err is not (Libc.EINVAL or Libc.ENOSYS))
        {
            return false;
        }

        try
        {
            File.Move(from, to, overwrite: false);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>The first N in 0..9 with no <c>.N.bad</c> entry; 9 (to be replaced) when all are taken. Caller holds the chunk's lock.</summary>
    public static int FirstFreeBadIndex(ChunkLayout layout, ChunkDigest digest)
    {
        for (int i = 0; i <= ChunkEntryName.MaxBadIndex; i++)
        {
            if (Libc.LStat(layout.BadPath(digest, i), out _) == Libc.ENOENT)
            {
                return i;
            }
        }

        return ChunkEntryName.MaxBadIndex;
    }

    /// <summary>Touches every <c>.N.bad</c> copy of a digest (GC mark of a missing chunk; <paramref name="touch"/> is true when it found the copy); true when any exists.</summary>
    public static bool TouchBadCopies(ChunkLayout layout, ChunkDigest digest, Func<string, bool> touch)
    {
        bool any = false;
        for (int i = 0; i <= ChunkEntryName.MaxBadIndex; i++)
        {
            if (touch(layout.BadPath(digest, i)))
            {
                any = true;
            }
        }

        return any;
    }
}
