using ChunkStore.Backends;
using ChunkStore.FileSystem;

namespace ChunkStore.Remote;

/// <summary>Rename-corrupt: lock → local rename → LRU removal → copy to the <c>.bad</c> key → delete (races R3, R4).</summary>
internal partial class RemoteChunkBackend
{
    public async ValueTask<int?> RenameCorruptAsync(ChunkDigest digest, bool onlyIfCorrupt, CancellationToken cancellationToken)
    {
        using var chunkLock = await _locks.AcquireAsync(digest, _lockTimeout, cancellationToken).ConfigureAwait(false);
        string key = ObjectKey(digest);
        string path = _layout.ChunkPath(digest);
        if (onlyIfCorrupt)
        {
            // Re-check the object itself under the lock: a concurrent insert may have repaired it.
            var fetched = await _storage.ReadAsync(key, digest, new ExactArrayWriter(), cancellationToken).ConfigureAwait(false);
            if (fetched is null)
            {
                // The object is gone: any local marker or cache entry claims a chunk the storage does not hold. Drop them.
                chunkLock.EnsureCovers(digest, _locks);
                DropStaleLocalLocked(digest);
                return null;
            }

            if (ChunkDigest.Compute(fetched.Value.Bytes.Span) == digest)
            {
                return null;
            }
        }

        cancellationToken.ThrowIfCancellationRequested();
        chunkLock.EnsureCovers(digest, _locks);
        int index = ChunkFiles.FirstFreeBadIndex(_layout, digest);

        // The delete of step 3 is recorded before anything changes: if the record cannot be written (disk full),
        // nothing is renamed. If this process dies after sending it, inserts wait until it has settled; if the rename
        // stops before the delete is sent, disposing the record removes it (nothing can land).
        using var intent = _pendingDeletes.Begin([key]);

        // 1. Local first, so that from here on no insert can deduplicate against the corrupt copy. The local .bad entry
        //    (full or empty) is what GC classifies the bad object by; create an empty one when there was no local file.
        string badPath = _layout.BadPath(digest, index);
        bool hadLocal;
        using (_sections.Enter(digest))
        {
            hadLocal = StatLocal(digest) is not null;
            try
            {
                if (hadLocal)
                {
                    File.Move(path, badPath, overwrite: true);
                }
                else
                {
                    Directory.CreateDirectory(_layout.PrefixDirectory(digest));
                    File.WriteAllBytes(badPath, []);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw FileSystem.FileErrors.Wrap(Description, digest, path, "rename to " + badPath, ex);
            }
        }

        // 2. Bug #6961: the LRU must not claim the chunk any more.
        // Safety: we hold the chunk's lock; its local file was just renamed away; the chunk is corrupt.
        _cache.UnsafeRemove(digest);

        await Hooks.S3RenamingAsync(digest).ConfigureAwait(false);

        // 3. Remote: copy to the .bad key, then delete the chunk key — still under the lock, so no insert can PUT
        //    (and get 412 from the corrupt object) in between.
        string badKey = RemoteChunkKey.ForBad(digest, index).ToKey(_options.KeyPrefix);
        if (!await _storage.CopyAsync(key, badKey, digest).ConfigureAwait(false))
        {
            // Nothing remote to move. The local rename stands if there was a local entry (it claimed a chunk that is
            // not there); otherwise undo the placeholder and report "nothing renamed".
            intent.Answered(); // nothing was deleted
            if (!hadLocal)
            {
                DeleteLocal(badPath, digest);
                return null;
            }

            return index;
        }

        // A failure leaves the corrupt object, which still blocks a conditional PUT; a later rename (verify) retries.
        var errors = await _storage.DeleteAsync([key], intent.Sending).ConfigureAwait(false);
        intent.Answered();
        if (errors.Count > 0)
        {
            throw new ChunkStorageException(
                $"Store {Description}: delete of {key} after copying it to {badKey} failed: {errors[0].Code} {errors[0].Message}. The corrupt object stays until a later verify renames it again.",
                StorageErrorKind.Network,
                isTransient: true,
                null)
            { Store = Description, Digest = digest };
        }

        RemoteLog.RenamedCorrupt(_logger, Description, digest, badKey);
        return index;
    }
}
