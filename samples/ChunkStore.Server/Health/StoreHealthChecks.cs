using ChunkStore.Server.Configuration;
using ChunkStore.Server.Operations;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace ChunkStore.Server.Health;

/// <summary>
/// The store is open and its root answers. For a filesystem store, a look-up of a chunk no content hashes to (the
/// all-zero digest) is one <c>stat</c> under <c>.chunks/</c>; for an S3 store only the local root is checked here (the
/// bucket is <see cref="S3HealthCheck"/>'s).
/// </summary>
internal sealed class StoreHealthCheck(ChunkRepository store) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var data = new Dictionary<string, object> { ["root"] = store.Root, ["backend"] = store.Description };
        try
        {
            if (!Directory.Exists(store.Root))
            {
                return HealthCheckResult.Unhealthy($"The store's root {store.Root} is gone.", data: data);
            }

            if (!store.IsRemote)
            {
                await store.ContainsAsync(default, cancellationToken).ConfigureAwait(false);
            }

            return HealthCheckResult.Healthy($"Store {store.Description} is open.", data);
        }
        catch (Exception ex) when (ex is ChunkStoreException or IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            return HealthCheckResult.Unhealthy($"Store {store.Description} does not answer: {ex.Message}", ex, data);
        }
    }
}

/// <summary>
/// The S3 server answers for the store's bucket: a look-up of the all-zero digest, which no local state knows, is one
/// HEAD of its object key (404 is the healthy answer), within 5 seconds.
/// </summary>
internal sealed class S3HealthCheck(ChunkRepository store) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        try
        {
            await store.ContainsAsync(default, timeout.Token).ConfigureAwait(false);
            return HealthCheckResult.Healthy($"The S3 server answers for {store.Description}.");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return HealthCheckResult.Unhealthy($"The S3 server did not answer within 5 s for {store.Description}.");
        }
        catch (ChunkStoreException ex)
        {
            return HealthCheckResult.Unhealthy($"The S3 server cannot be used for {store.Description}: {ex.Message}", ex);
        }
    }
}

/// <summary>
/// The last garbage collection: healthy when none has run yet or the last one completed cleanly; degraded when it
/// failed, did not complete, could not remove entries, found referenced chunks missing, or is older than
/// <see cref="GcOptions.MaxAge"/>.
/// </summary>
internal sealed class GcHealthCheck(AdminHistory history, IOptions<ServerOptions> options, TimeProvider time) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (history.LastGcFailure is { } failure)
        {
            return Task.FromResult(HealthCheckResult.Degraded($"The last garbage collection ({failure.At:O}) failed: {failure.Message}"));
        }

        if (history.LastGc is not { } gc)
        {
            return Task.FromResult(HealthCheckResult.Healthy("No garbage collection has run yet."));
        }

        var data = new Dictionary<string, object>
        {
            ["startedAt"] = gc.StartedAt,
            ["dryRun"] = gc.DryRun,
            ["completed"] = gc.Completed,
            ["chunksRemoved"] = gc.ChunksRemoved,
            ["missingChunks"] = gc.MissingChunks,
            ["removeFailed"] = gc.RemoveFailed,
        };
        var age = time.GetUtcNow() - gc.StartedAt;
        string? problem = !gc.Completed ? "did not complete"
            : gc.MissingChunks > 0 ? $"found {gc.MissingChunks} referenced chunks missing"
            : gc.RemoveFailed > 0 ? $"could not remove {gc.RemoveFailed} entries"
            : age > options.Value.Gc.MaxAge ? $"is {age.TotalDays:F1} days old"
            : null;
        return Task.FromResult(problem is null
            ? HealthCheckResult.Healthy($"The last garbage collection ({gc.StartedAt:O}) completed: {gc.ChunksRemoved} chunks removed.", data)
            : HealthCheckResult.Degraded($"The last garbage collection ({gc.StartedAt:O}) {problem}.", data: data));
    }
}
