using ChunkStore.Server.Diagnostics;
using Microsoft.AspNetCore.Diagnostics;

namespace ChunkStore.Server.Errors;

/// <summary>Answers every exception an endpoint throws with Problem Details (status from <see cref="ProblemMapping"/>) and logs it.</summary>
internal sealed class ServerExceptionHandler(IProblemDetailsService problems, ILogger<ServerExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is OperationCanceledException && context.RequestAborted.IsCancellationRequested)
        {
            // The client went away: the cancellation reached the store (which leaves it consistent); nobody reads an answer.
            return true;
        }

        var answer = ProblemMapping.Map(exception);
        string detail = exception.Message;
        if (answer.Status >= 500)
        {
            if (exception is ChunkCorruptException corrupt)
            {
                ServerLog.CorruptChunkRead(logger, corrupt.Digest.GetValueOrDefault());
            }

            ServerLog.RequestFailed(logger, context.Request.Method, context.Request.Path, answer.Status, detail, exception);
        }
        else
        {
            ServerLog.RequestRejected(logger, context.Request.Method, context.Request.Path, answer.Status, detail);
        }

        if (context.Response.HasStarted)
        {
            return true;
        }

        context.Response.StatusCode = answer.Status;
        if (answer.RetryAfter is { } retry)
        {
            context.Response.Headers.RetryAfter = ((int)retry.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        var problem = new Microsoft.AspNetCore.Mvc.ProblemDetails { Status = answer.Status, Title = answer.Title, Detail = detail };
        if (exception is ChunkStoreException { Digest: { } digest })
        {
            problem.Extensions["digest"] = digest.ToString();
        }

        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = context, ProblemDetails = problem, Exception = exception }).ConfigureAwait(false);
    }
}
