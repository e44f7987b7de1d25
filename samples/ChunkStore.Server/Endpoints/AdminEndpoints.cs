using ChunkStore.Server.Auth;
using ChunkStore.Server.Configuration;
using ChunkStore.Server.Diagnostics;
using ChunkStore.Server.Errors;
using ChunkStore.Server.Http;
using ChunkStore.Server.Operations;
using Microsoft.Extensions.Options;

namespace ChunkStore.Server.Endpoints;

/// <summary>
/// <c>POST /admin/gc</c> (the referenced digests as a streamed body, or <c>?dryRun=true</c>), <c>POST /admin/verify</c>
/// (every chunk, or the digests of the body), <c>POST /admin/verify/{digest}</c>, <c>POST /admin/statistics</c>.
/// All need a write key; all stop when the client goes away (the store stays consistent).
/// </summary>
internal static class AdminEndpoints
{
    private const string LogCategory = "ChunkStore.Server.Admin";

    public static void Map(IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/admin").RequireAuthorization(ApiPolicies.Write);
        admin.MapPost("/gc", GcAsync);
        admin.MapPost("/verify", VerifyAllAsync);
        admin.MapPost("/verify/{digest}", VerifyOneAsync);
        admin.MapPost("/statistics", async (HttpContext context, StoreStatistics statistics) =>
            TypedResults.Ok(await statistics.RefreshAsync(context.RequestAborted).ConfigureAwait(false)));
    }

    /// <summary>
    /// Runs a garbage collection whose referenced set is the request body, read as the collection marks (so a list of
    /// any length costs no memory here). The list must be complete: a malformed line, a body cut short, or a count other
    /// than <paramref name="count"/> stops the collection before its sweep. A real collection with no body at all is
    /// refused unless <c>count=0</c> says that nothing is referenced.
    /// </summary>
    private static async Task<IResult> GcAsync(
        HttpContext context, ChunkRepository store, IOptions<ServerOptions> options, AdminHistory history, StoreStatistics statistics,
        ServerMetrics metrics, TimeProvider time, ILoggerFactory loggers, bool dryRun = false, long? count = null)
    {
        var settings = options.Value;
        var logger = loggers.CreateLogger(LogCategory);
        if (!dryRun && count is null && !RequestBodies.HasBody(context.Request))
        {
            return TypedResults.Problem(
                statusCode: StatusCodes.Status400BadRequest,
                title: "No referenced digests",
                detail: "A garbage collection removes every chunk older than the grace period that the body does not list. Send the referenced digests "
                    + "(one per line), or ?count=0 to collect with nothing referenced, or ?dryRun=true to see what would go.");
        }

        var gcOptions = new GarbageCollectionOptions
        {
            GracePeriod = settings.Gc.GracePeriod,
            WriterSafetyMargin = settings.Gc.WriterSafetyMargin,
            DryRun = dryRun,
        };
        ServerLog.GcRequested(logger, dryRun, gcOptions.GracePeriod, gcOptions.WriterSafetyMargin);
        var referenced = RequestBodies.ReadDigestsAsync(context, settings.Limits.MaxDigestListBytes, count, context.RequestAborted);
        var result = await RunAsync(metrics, dryRun ? "gc_dry_run" : "gc", time, history.GcFailed, (level, ex) => ServerLog.GcFailed(logger, level, ex),
            () => store.Maintenance.GarbageCollectAsync(referenced, gcOptions, progress: null, context.RequestAborted)).ConfigureAwait(false);
        history.GcFinished(result);
        if (!dryRun)
        {
            await statistics.TryRefreshAsync(context.RequestAborted).ConfigureAwait(false);
        }

        return TypedResults.Ok(result);
    }

    /// <summary>Verifies every stored chunk, or only the digests of the body; corrupt chunks are moved aside as <c>.N.bad</c>.</summary>
    private static async Task<IResult> VerifyAllAsync(
        HttpContext context, ChunkRepository store, IOptions<ServerOptions> options, AdminHistory history, ServerMetrics metrics, TimeProvider time,
        ILoggerFactory loggers, int parallelism = 0)
    {
        var logger = loggers.CreateLogger(LogCategory);
        if (parallelism < 0)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Bad parallelism", detail: "parallelism is 0 (the processor count) or more.");
        }

        bool all = !RequestBodies.HasBody(context.Request);
        var digests = all ? null : RequestBodies.ReadDigestsAsync(context, options.Value.Limits.MaxDigestListBytes, null, context.RequestAborted);
        var started = time.GetUtcNow();
        long t0 = time.GetTimestamp();
        var result = await RunAsync(metrics, "verify", time, history.VerifyFailed, (level, ex) => ServerLog.VerifyFailed(logger, level, ex),
            () => store.Maintenance.VerifyAllAsync(digests, parallelism, progress: null, context.RequestAborted)).ConfigureAwait(false);
        history.VerifyFinished(new VerifyRecord(started, time.GetElapsedTime(t0), all, result));
        ServerLog.VerifyFinished(logger, result.Checked, result.Corrupt, result.Missing, result.Errors);
        if (result.Corrupt + result.Missing > 0)
        {
            ServerLog.VerifyFoundBad(logger, result.Corrupt, result.Missing);
        }

        return TypedResults.Ok(result);
    }

    private static async Task<IResult> VerifyOneAsync(string digest, HttpContext context, ChunkRepository store)
    {
        if (!Digests.TryParse(digest, out var d, out var problem))
        {
            return problem;
        }

        return TypedResults.Ok(await store.VerifyAsync(d, context.RequestAborted).ConfigureAwait(false));
    }

    /// <summary>Runs an administrative job, recording a failure (not a cancellation by the client) for the status page and the metrics.</summary>
    private static async Task<T> RunAsync<T>(
        ServerMetrics metrics, string operation, TimeProvider time, Action<DateTimeOffset, Exception> failed, Action<LogLevel, Exception> log, Func<Task<T>> job)
    {
        var started = time.GetUtcNow();
        try
        {
            var result = await job().ConfigureAwait(false);
            metrics.AdminRun(operation, ok: true);
            return result;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            metrics.AdminRun(operation, ok: false);
            failed(started, ex);

            // A malformed list is the client's fault (4xx): a warning; a failure of the store is an error.
            log(ProblemMapping.Map(ex).Status >= 500 ? LogLevel.Error : LogLevel.Warning, ex);
            throw;
        }
    }
}
