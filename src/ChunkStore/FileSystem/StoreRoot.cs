using System.Diagnostics;
using ChunkStore.Diagnostics;
using ChunkStore.Native;
using Microsoft.Extensions.Logging;

namespace ChunkStore.FileSystem;

/// <summary>
/// Creates and opens a store's root directory and identity file (<c>.chunkstore.json</c>), safely against other
/// threads and processes doing the same on the same root at the same time.
/// </summary>
/// <remarks>
/// <para>The identity file is written last and atomically (temporary name, rename without replace), so a root that
/// has it is a complete store, opened without any lock. Deciding what a root without it is — empty, so create; a
/// half-made store of a racing creator; or not a store — is done only under an exclusive <c>flock</c> on the root
/// directory itself, which every creator holds from that decision until its identity file is in place. A racing
/// create-or-open therefore sees an empty root or a whole store, never a half-made one, and of racing creates
/// exactly one finds the root empty. The lock is a leaf (<c>docs/locking.md</c>): nothing else is taken under it.</para>
/// <para>Every error names the root or the file: a root the process may not read is <c>PermissionDenied</c>, not
/// "not a store".</para>
/// </remarks>
internal static class StoreRoot
{
    private static readonly TimeSpan CreationLockTimeout = TimeSpan.FromSeconds(30);

    public static StoreConfig Prepare(ChunkStoreOptions options, bool create, bool open, ILogger logger)
    {
        var layout = new ChunkLayout(options.Root);
        string root = layout.Root;
        try
        {
            if (TryOpen(layout, options, open, logger) is { } existing)
            {
                return existing;
            }

            int err = Libc.Stat(root, out var st);
            if (err == 0 && !st.IsDirectory)
            {
                throw new InvalidStoreException(root, "it is a file, not a directory.");
            }

            if (err == Libc.ENOENT && !create)
            {
                throw new StoreNotFoundException(root);
            }

            if (err != 0 && err != Libc.ENOENT)
            {
                throw FileErrors.Create(root, null, root, "open the store at", err);
            }

            if (err == Libc.ENOENT)
            {
                Directory.CreateDirectory(root); // Racing creators all succeed here (an existing directory is fine).
            }

            using var creation = LockForCreation(root);

            // Under the lock: a creator that got here first has finished, so what is there now is the whole truth.
            if (TryOpen(layout, options, open, logger) is { } created)
            {
                return created;
            }

            if (!create)
            {
                throw new InvalidStoreException(root, $"it has no {ChunkLayout.ConfigFileName}; it is not a chunk store.");
            }

            if (!IsEmptyOrOurInterruptedCreation(layout))
            {
                throw open
                    ? new InvalidStoreException(root, $"it holds files but no {ChunkLayout.ConfigFileName}; refusing to turn a non-empty directory into a store.")
                    : new StoreAlreadyExistsException(root, $"the directory is not empty and holds no {ChunkLayout.ConfigFileName}; refusing to create a store over other files.");
            }

            return CreateLocked(layout, options, logger);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw FileErrors.Wrap(root, null, root, create ? "create or open the store at" : "open the store at", ex);
        }
    }

    /// <summary>Opens the store when its identity file is there; null when it is not (yet).</summary>
    private static StoreConfig? TryOpen(ChunkLayout layout, ChunkStoreOptions options, bool open, ILogger logger)
    {
        string root = layout.Root;
        int err = Libc.Stat(layout.ConfigPath, out _);
        if (err is Libc.ENOENT or Libc.ENOTDIR)
        {
            return null;
        }

        if (err != 0)
        {
            // EACCES on the root (or above it): say so, and where; "not a store" would send the operator elsewhere.
            throw FileErrors.Create(root, null, layout.ConfigPath, "open the store's identity file", err);
        }

        if (!open)
        {
            throw new StoreAlreadyExistsException(root, "a chunk store already exists there.");
        }

        var found = StoreConfig.Read(layout.ConfigPath, root);
        if (options.LockDirectory is not null && !string.Equals(options.LockDirectory, found.LockDirectory ?? layout.DefaultLocksDirectory, StringComparison.Ordinal))
        {
            throw new InvalidStoreException(root, $"it was created with lock directory {found.LockDirectory ?? layout.DefaultLocksDirectory}, but the options ask for {options.LockDirectory}; every process must use the same lock files.");
        }

        Log.StoreOpened(logger, root);
        return found;
    }

    /// <summary>True for an empty root, or one holding only what a creation killed before its identity file leaves.</summary>
    private static bool IsEmptyOrOurInterruptedCreation(ChunkLayout layout)
    {
        foreach (string entry in Directory.EnumerateFileSystemEntries(layout.Root))
        {
            string name = Path.GetFileName(entry);
            bool ours = name switch
            {
                ChunkLayout.ChunksDirectoryName or ChunkLayout.WritersDirectoryName => Directory.Exists(entry) && !Directory.EnumerateFileSystemEntries(entry).Any(),
                ChunkLayout.GcLockFileName => File.Exists(entry) && new FileInfo(entry).Length == 0,
                _ => name.StartsWith(StoreConfig.TemporaryPrefix, StringComparison.Ordinal) && File.Exists(entry),
            };
            if (!ours)
            {
                return false;
            }
        }

        return true;
    }

    private static StoreConfig CreateLocked(ChunkLayout layout, ChunkStoreOptions options, ILogger logger)
    {
        foreach (string stale in Directory.EnumerateFiles(layout.Root, StoreConfig.TemporaryPrefix + "*"))
        {
            File.Delete(stale);
        }

        Directory.CreateDirectory(layout.ChunksDirectory);
        Directory.CreateDirectory(layout.WritersDirectory);

        // Reserved now, while there is room: garbage collection locks this file and uses it as its clock probe,
        // so it needs no new inode when it runs on a full disk.
        File.WriteAllBytes(layout.GcLockPath, []);

        // Last: from the moment the identity file is in place, the store is complete and opened without the lock.
        var config = new StoreConfig(StoreConfig.CurrentFormat, options.LockStripes, options.LockDirectory);
        if (!config.TryWriteNew(layout.ConfigPath))
        {
            // Only something outside this protocol (an older version of the library) can have written it meanwhile.
            throw new StoreAlreadyExistsException(layout.Root, "a chunk store was created there concurrently.");
        }

        Log.StoreCreated(logger, layout.Root);
        return config;
    }

    /// <summary>Takes the exclusive creation lock on the root directory, polling (a creator holds it for milliseconds).</summary>
    private static LockFile LockForCreation(string root)
    {
        int err = LockFile.TryOpen(root, Libc.O_RDONLY | Libc.O_DIRECTORY, 0, out var file);
        if (file is null)
        {
            throw FileErrors.Create(root, null, root, "open the store directory", err);
        }

        var waited = Stopwatch.StartNew();
        while (true)
        {
            err = file.TryLock(exclusive: true);
            if (err == 0)
            {
                return file;
            }

            if (err != Libc.EWOULDBLOCK || waited.Elapsed > CreationLockTimeout)
            {
                file.Dispose();
                throw err != Libc.EWOULDBLOCK
                    ? FileErrors.Create(root, null, root, "lock the store directory", err)
                    : new ChunkStoreException($"Store {root}: another thread or process has been creating the store for {CreationLockTimeout.TotalSeconds:F0} s (it holds the directory's lock); try again.") { Store = root, IsTransient = true };
            }

            Thread.Sleep(1);
        }
    }
}
