using System.Buffers;
using ChunkStore.Remote;

namespace ChunkStore.Tests.Remote;

/// <summary>
/// An <see cref="IRemoteStorage"/> in memory, for tests only: objects in a sorted dictionary under one lock, an atomic
/// put-if-absent, listings in small pages (so paging is exercised), last-modified times from a <see cref="TimeProvider"/>.
/// Its clock is the local one (skew zero, no rounding).
/// </summary>
internal sealed class InMemoryRemoteStorage(TimeProvider? time = null, int pageSize = 7) : IRemoteStorage
{
    private readonly Lock _lock = new();
    private readonly SortedDictionary<string, (byte[] Data, DateTimeOffset Modified)> _objects = new(StringComparer.Ordinal);
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public string Description => "memory://test";

    public RemoteStorageCapabilities Capabilities { get; } = new(AtomicPutIfAbsent: true, ClockSkewTolerance: TimeSpan.Zero);

    /// <summary>Replaces an object's bytes behind the store's back (bit rot), keeping its time; creates it when absent.</summary>
    public void SetRaw(string key, byte[] data)
    {
        lock (_lock)
        {
            var modified = _objects.TryGetValue(key, out var old) ? old.Modified : _time.GetUtcNow();
            _objects[key] = (data.ToArray(), modified);
        }
    }

    /// <summary>Moves every object's last-modified time back by <paramref name="age"/>.</summary>
    public void AgeAll(TimeSpan age)
    {
        lock (_lock)
        {
            foreach (var key in _objects.Keys.ToList())
            {
                var (data, modified) = _objects[key];
                _objects[key] = (data, modified - age);
            }
        }
    }

    /// <summary>Gets or sets what runs at the start of every put, before the object is stored (it may wait, look at the
    /// local root while the request is "in flight", or throw to fail the put).</summary>
    public Func<string, Task>? BeforePut { get; set; }

    public ValueTask<bool> PutAsync(string key, ReadOnlyMemory<byte> data, bool ifAbsent, ChunkDigest? digest, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return BeforePut is { } hook ? PutAfterAsync(hook, key, data, ifAbsent) : ValueTask.FromResult(Put(key, data, ifAbsent));
    }

    private async ValueTask<bool> PutAfterAsync(Func<string, Task> hook, string key, ReadOnlyMemory<byte> data, bool ifAbsent)
    {
        await hook(key);
        return Put(key, data, ifAbsent);
    }

    private bool Put(string key, ReadOnlyMemory<byte> data, bool ifAbsent)
    {
        lock (_lock)
        {
            if (ifAbsent && _objects.ContainsKey(key))
            {
                return false;
            }

            _objects[key] = (data.ToArray(), _time.GetUtcNow());
            return true;
        }
    }

    public ValueTask<bool> ExistsAsync(string key, ChunkDigest? digest, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            return ValueTask.FromResult(_objects.ContainsKey(key));
        }
    }

    public ValueTask<RemoteRead?> ReadAsync(string key, ChunkDigest? digest, IBufferWriter<byte> destination, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        byte[] data;
        DateTimeOffset modified;
        lock (_lock)
        {
            if (!_objects.TryGetValue(key, out var found))
            {
                return ValueTask.FromResult<RemoteRead?>(null);
            }

            (data, modified) = found;
        }

        var memory = destination.GetMemory(data.Length)[..data.Length];
        data.CopyTo(memory);
        return ValueTask.FromResult<RemoteRead?>(new RemoteRead(memory, modified));
    }

    /// <summary>Gets or sets what runs at the start of every listing request, with its continuation (null for the first
    /// page); it may throw to fail the request.</summary>
    public Action<string?>? BeforeList { get; set; }

    public ValueTask<RemoteListPage> ListPageAsync(string prefix, string? continuation, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        BeforeList?.Invoke(continuation);
        List<RemoteObject> page;
        lock (_lock)
        {
            page = _objects
                .Where(o => o.Key.StartsWith(prefix, StringComparison.Ordinal) && (continuation is null || string.CompareOrdinal(o.Key, continuation) > 0))
                .Take(pageSize)
                .Select(o => new RemoteObject(o.Key, o.Value.Data.Length, o.Value.Modified))
                .ToList();
        }

        return ValueTask.FromResult(new RemoteListPage(page, page.Count < pageSize ? null : page[^1].Key));
    }

    public ValueTask<bool> CopyAsync(string source, string target, ChunkDigest? digest)
    {
        lock (_lock)
        {
            if (!_objects.TryGetValue(source, out var found))
            {
                return ValueTask.FromResult(false);
            }

            _objects[target] = (found.Data, _time.GetUtcNow());
            return ValueTask.FromResult(true);
        }
    }

    public ValueTask<IReadOnlyList<RemoteDeleteError>> DeleteAsync(IReadOnlyList<string> keys, Action beforeAttempt)
    {
        ArgumentOutOfRangeException.ThrowIfZero(keys.Count);
        beforeAttempt();
        lock (_lock)
        {
            foreach (var key in keys)
            {
                _objects.Remove(key);
            }
        }

        return ValueTask.FromResult<IReadOnlyList<RemoteDeleteError>>([]);
    }

    public TimeSpan? ClockSkew(TimeProvider localClock) => TimeSpan.Zero;

    public void Dispose()
    {
    }
}
