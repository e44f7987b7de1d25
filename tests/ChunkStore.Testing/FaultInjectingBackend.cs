using System.Runtime.CompilerServices;
using ChunkStore.Backends;

namespace ChunkStore.Tests.Infrastructure;

/// <summary>A decorator that makes chosen operations fail with a given error, for error-path tests.</summary>
internal sealed class FaultInjectingBackend(IChunkBackend inner) : IChunkBackend, IGarbageCollectableBackend
{
    public Func<ChunkDigest, Exception?> ReadFault { get; set; } = _ => null;

    public int RenameCalls { get; private set; }

    public string Description => inner.Description;

    public ChunkBackendCapabilities Capabilities => inner.Capabilities;

    public ValueTask<ChunkInsertResult> InsertAsync(ChunkDigest digest, ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
        inner.InsertAsync(digest, data, cancellationToken);

    public ValueTask<int> ReadAsync(ChunkDigest digest, System.Buffers.IBufferWriter<byte> destination, CancellationToken cancellationToken) =>
        ReadFault(digest) is { } fault ? ValueTask.FromException<int>(fault) : inner.ReadAsync(digest, destination, cancellationToken);

    public ValueTask<byte[]> ReadForVerifyAsync(ChunkDigest digest, CancellationToken cancellationToken) =>
        ReadFault(digest) is { } fault ? ValueTask.FromException<byte[]>(fault) : inner.ReadForVerifyAsync(digest, cancellationToken);

    public ValueTask<bool> ContainsAsync(ChunkDigest digest, CancellationToken cancellationToken) => inner.ContainsAsync(digest, cancellationToken);

    public ValueTask<bool> TouchAsync(ChunkDigest digest, CancellationToken cancellationToken) => inner.TouchAsync(digest, cancellationToken);

    public ValueTask<int?> RenameCorruptAsync(ChunkDigest digest, bool onlyIfCorrupt, CancellationToken cancellationToken)
    {
        RenameCalls++;
        return inner.RenameCorruptAsync(digest, onlyIfCorrupt, cancellationToken);
    }

    public async IAsyncEnumerable<ChunkDigest> ListAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var d in inner.ListAsync(cancellationToken))
        {
            yield return d;
        }
    }

    public IAsyncEnumerable<ChunkInfo> ListInfoAsync(CancellationToken cancellationToken) => inner.ListInfoAsync(cancellationToken);

    public ValueTask FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public ValueTask DisposeAsync() => inner.DisposeAsync();

    public ValueTask CheckAccessTimeAsync(CancellationToken cancellationToken) => ((IGarbageCollectableBackend)inner).CheckAccessTimeAsync(cancellationToken);

    public ValueTask<MarkOutcome> MarkAsync(ChunkDigest digest, CancellationToken cancellationToken) => ((IGarbageCollectableBackend)inner).MarkAsync(digest, cancellationToken);

    public ValueTask<MarkOutcome> MarkWithoutTouchingAsync(ChunkDigest digest, CancellationToken cancellationToken) => ((IGarbageCollectableBackend)inner).MarkWithoutTouchingAsync(digest, cancellationToken);

    public ValueTask SweepAsync(SweepContext context, CancellationToken cancellationToken) => ((IGarbageCollectableBackend)inner).SweepAsync(context, cancellationToken);
}
