using ChunkStore.Server.Configuration;
using ChunkStore.Server.Diagnostics;
using Microsoft.Extensions.Options;

namespace ChunkStore.Server.Operations;

/// <summary>The store's size at one moment: chunks listed, and their bytes where the backend lets us know them cheaply.</summary>
/// <param name="Chunks">Chunks the listing returned.</param>
/// <param name="Bytes">Their bytes; <see langword="null"/> for S3 stores (the local root holds markers, not the objects).</param>
/// <param name="At">When the listing started.</param>
/// <param name="Took">How long the listing took.</param>
internal sealed record StoreSize(long Chunks, long? Bytes, DateTimeOffset At, TimeSpan Took);

/// <summary>Lists the store now and then (and on demand) to know its chunk count and size.</summary>
/// <remarks>One <c>ListInfoAsync</c>: sizes come with the listing on both backends (on S3 the objects' sizes).</remarks>
internal sealed class StoreStatistics(ChunkRepository store, TimeProvider time, ILogger<StoreStatistics> logger)
{
    private readonly SemaphoreSlim _refreshing = new(1, 1);
    private StoreSize? _current;

    public StoreSize? Current => Volatile.Read(ref _current);

    /// <summary>Lists the store; concurrent callers share one listing at a time.</summary>
    public async Task<StoreSize> RefreshAsync(CancellationToken cancellationToken)
    {
        await _refreshing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var at = time.GetUtcNow();
            long start = time.GetTimestamp();
            long chunks = 0, bytes = 0;
            await foreach (var chunk in store.ListInfoAsync(cancellationToken).ConfigureAwait(false))
            {
                chunks++;
                bytes += chunk.Size;
            }

            var size = new StoreSize(chunks, bytes, at, time.GetElapsedTime(start));
            Volatile.Write(ref _current, size);
            return size;
        }
        finally
        {
            _refreshing.Release();
        }
    }

    /// <summary>Refreshes, logging instead of throwing (for the background refresh).</summary>
    public async Task TryRefreshAsync(CancellationToken cancellationToken)
    {
        try
        {
            await RefreshAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is ChunkStoreException or IOException or UnauthorizedAccessException)
        {
            ServerLog.StatisticsFailed(logger, ex);
        }
    }
}

/// <summary>Refreshes <see cref="StoreStatistics"/> at start and every <see cref="StatusOptions.StatisticsInterval"/>.</summary>
internal sealed class StatisticsRefreshService(StoreStatistics statistics, IOptions<ServerOptions> options, TimeProvider time) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await statistics.TryRefreshAsync(stoppingToken).ConfigureAwait(false);
            using var timer = new PeriodicTimer(options.Value.Status.StatisticsInterval, time);
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                await statistics.TryRefreshAsync(stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
