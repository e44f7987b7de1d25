namespace ChunkStore.Server.Operations;

/// <summary>What this server stored and served since it started, for the status page (the metrics carry the same and more).</summary>
internal sealed class Traffic(TimeProvider time)
{
    private long _new, _duplicate, _newBytes, _reads, _readBytes;

    public DateTimeOffset Since { get; } = time.GetUtcNow();

    public long NewChunks => Interlocked.Read(ref _new);

    public long DuplicateChunks => Interlocked.Read(ref _duplicate);

    public long NewBytes => Interlocked.Read(ref _newBytes);

    public long Reads => Interlocked.Read(ref _reads);

    public long ReadBytes => Interlocked.Read(ref _readBytes);

    public void Inserted(ChunkInsertResult result)
    {
        if (result.IsNew)
        {
            Interlocked.Increment(ref _new);
            Interlocked.Add(ref _newBytes, result.Size);
        }
        else
        {
            Interlocked.Increment(ref _duplicate);
        }
    }

    public void Read(long bytes)
    {
        Interlocked.Increment(ref _reads);
        Interlocked.Add(ref _readBytes, bytes);
    }
}
