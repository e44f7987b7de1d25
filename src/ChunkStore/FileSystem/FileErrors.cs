using ChunkStore.Native;

namespace ChunkStore.FileSystem;

/// <summary>Turns errno values and .NET I/O exceptions into <see cref="ChunkStorageException"/>s with a kind and a message that names store, chunk, path and cause.</summary>
internal static class FileErrors
{
    public static ChunkStorageException Create(string store, ChunkDigest? digest, string path, string action, int errno)
    {
        var kind = KindOf(errno);
        string chunk = digest is { } d ? $" for chunk {d}" : "";
        return new ChunkStorageException(
            $"Store {store}: cannot {action} {path}{chunk}: {Libc.Describe(errno)} ({Describe(kind)}).",
            kind,
            IsTransient(kind),
            null)
        {
            Store = store,
            Digest = digest,
        };
    }

    public static ChunkStorageException Wrap(string store, ChunkDigest? digest, string path, string action, Exception ex)
    {
        var kind = ex switch
        {
            UnauthorizedAccessException => StorageErrorKind.PermissionDenied,
            IOException io when io.HResult is > 0 and < 4096 => KindOf(io.HResult),
            _ => StorageErrorKind.Other,
        };
        if (kind == StorageErrorKind.PermissionDenied && ex.InnerException is IOException { HResult: Libc.EROFS })
        {
            kind = StorageErrorKind.ReadOnly;
        }

        string chunk = digest is { } d ? $" for chunk {d}" : "";
        return new ChunkStorageException(
            $"Store {store}: cannot {action} {path}{chunk}: {ex.Message} ({Describe(kind)}).",
            kind,
            IsTransient(kind),
            ex)
        {
            Store = store,
            Digest = digest,
        };
    }

    public static StorageErrorKind KindOf(int errno) => errno switch
    {
        Libc.ENOSPC or Libc.EDQUOT => StorageErrorKind.DiskFull,
        Libc.EACCES or Libc.EPERM => StorageErrorKind.PermissionDenied,
        Libc.EROFS => StorageErrorKind.ReadOnly,
        Libc.EIO => StorageErrorKind.IOError,
        _ => StorageErrorKind.Other,
    };

    // A full disk can be freed and an I/O error can be a passing device problem; permissions and a
    // read-only mount need someone to act.
    private static bool IsTransient(StorageErrorKind kind) => kind is StorageErrorKind.DiskFull or StorageErrorKind.IOError or StorageErrorKind.Network;

    private static string Describe(StorageErrorKind kind) => kind switch
    {
        StorageErrorKind.DiskFull => "the disk is full; nothing partial was left under a chunk name",
        StorageErrorKind.PermissionDenied => "permission denied; check the owner and mode of the store's directories",
        StorageErrorKind.ReadOnly => "the filesystem is read-only",
        StorageErrorKind.IOError => "a low-level I/O error; the device may be failing",
        _ => "storage error",
    };
}
