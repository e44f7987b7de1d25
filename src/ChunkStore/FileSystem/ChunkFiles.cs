using ChunkStore.Native;

namespace ChunkStore.FileSystem;

/// <summary>Checks on chunk-layout files shared by the filesystem backend and the S3 backend's local cache.</summary>
internal static class ChunkFiles
{
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
