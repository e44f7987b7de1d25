using ChunkStore.Native;

namespace ChunkStore.FileSystem;

/// <summary>A held <c>flock</c> on an open descriptor (the single-GC lock, the root's creation lock); disposing releases it and closes the descriptor.</summary>
internal sealed class HeldFileLock(int fd) : IDisposable
{
    public void Dispose()
    {
        // Unlock explicitly before closing: a child process forked by this process (Process.Start) briefly
        // shares the descriptor until its exec, and a flock lives as long as any descriptor of it does.
        Libc.FlockRetry(fd, Libc.LOCK_UN);
        Libc.Close(fd);
    }
}
