using ChunkStore.Server.Auth;
using ChunkStore.Server.Configuration;
using ChunkStore.Server.Http;
using ChunkStore.Server.Leases;
using ChunkStore.Server.Operations;
using Microsoft.Extensions.Options;

namespace ChunkStore.Server.Endpoints;

/// <summary>The state of a lease as the API shows it.</summary>
internal sealed record LeaseState(
    string Id, DateTimeOffset StartedAt, DateTimeOffset ExpiresAt, DateTimeOffset Deadline, double TtlSeconds, bool Completed, long Chunks, long NewChunks, long Bytes)
{
    public static LeaseState Of(Lease lease, LeaseOptions options) => new(
        lease.Id, lease.StartedAt, lease.ExpiresAt, lease.Deadline, options.Ttl.TotalSeconds, lease.IsCompleted, lease.Chunks, lease.NewChunks, lease.Bytes);
}

/// <summary>The answer of a touch: how many of the listed chunks are present (and now protected by the lease), and which are missing.</summary>
internal sealed record TouchResult(long Touched, IReadOnlyList<ChunkDigest> Missing);

/// <summary>
/// Write sessions as leases: <c>POST /sessions</c> opens one, <c>POST /sessions/{id}/renew</c> extends it,
/// <c>PUT /sessions/{id}/chunks</c> and <c>POST /sessions/{id}/touch</c> write through it,
/// <c>POST /sessions/{id}/complete</c> makes its chunks durable, <c>DELETE /sessions/{id}</c> closes it.
/// See <see cref="LeaseManager"/> for what a lease guarantees and when it ends.
/// </summary>
internal static class SessionEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        var sessions = app.MapGroup("/sessions").RequireAuthorization(ApiPolicies.Write);
        sessions.MapPost("", OpenAsync);
        sessions.MapGet("/{id}", (string id, LeaseManager leases) => WithLease(id, leases, lease => Task.FromResult(State(lease, leases))));
        sessions.MapPost("/{id}/renew", Renew);
        sessions.MapPut("/{id}/chunks", InsertAsync);
        sessions.MapPost("/{id}/touch", TouchAsync);
        sessions.MapPost("/{id}/complete", CompleteAsync);
        sessions.MapDelete("/{id}", Close);
    }

    private static async Task<IResult> OpenAsync(HttpContext context, LeaseManager leases)
    {
        if (await leases.OpenAsync(context.RequestAborted).ConfigureAwait(false) is not { } lease)
        {
            context.Response.Headers.RetryAfter = "5";
            return TypedResults.Problem(
                statusCode: StatusCodes.Status429TooManyRequests,
                title: "Too many open sessions",
                detail: $"{leases.ActiveCount} sessions are open (ChunkServer:Leases:MaxActive = {leases.Options.MaxActive}); close one, or retry later.");
        }

        return TypedResults.Created($"/sessions/{lease.Id}", LeaseState.Of(lease, leases.Options));
    }

    private static IResult Renew(string id, LeaseManager leases)
    {
        var found = leases.Find(id);
        return found.Live is { } lease && lease.TryRenew() ? State(lease, leases) : Ended(id, found.Live?.Ended ?? found.Ended);
    }

    private static Task<IResult> InsertAsync(string id, HttpContext context, ChunkRepository store, LeaseManager leases, Traffic traffic) =>
        WithActiveLease(id, leases, lease => ChunkEndpoints.InsertAsync(context, store, traffic, lease.Session.InsertAsync, lease.Count));

    /// <summary>
    /// Touches every digest of the body (one per line) through the session: a present chunk is now protected by the
    /// lease exactly as if it had been inserted through it; the missing ones are listed for the client to upload. Use
    /// it instead of <c>HEAD</c> to deduplicate on the client: a <c>HEAD</c> protects nothing.
    /// </summary>
    private static Task<IResult> TouchAsync(string id, HttpContext context, LeaseManager leases, IOptions<ServerOptions> options) =>
        WithActiveLease(id, leases, async lease =>
        {
            long touched = 0;
            var missing = new List<ChunkDigest>();
            await foreach (var digest in RequestBodies.ReadDigestsAsync(context, options.Value.Limits.MaxDigestListBytes, null, context.RequestAborted).ConfigureAwait(false))
            {
                if (await lease.Session.TouchAsync(digest, context.RequestAborted).ConfigureAwait(false))
                {
                    touched++;
                }
                else
                {
                    missing.Add(digest);
                }
            }

            return TypedResults.Ok(new TouchResult(touched, missing));
        });

    /// <summary>Completes the session (with <c>SyncMode.Batch</c>, one sync makes its chunks durable). The lease stays open: publish, then close it.</summary>
    private static Task<IResult> CompleteAsync(string id, HttpContext context, LeaseManager leases) =>
        WithActiveLease(id, leases, async lease =>
        {
            await lease.Session.CompleteAsync(context.RequestAborted).ConfigureAwait(false);
            return State(lease, leases);
        });

    /// <summary>Closes the lease: 204 means it was live until now, so its chunks were protected until the client's publish before it.</summary>
    private static IResult Close(string id, LeaseManager leases)
    {
        var found = leases.Find(id);
        if (found.Live is not { } lease)
        {
            return Ended(id, found.Ended);
        }

        leases.Close(lease);
        return TypedResults.NoContent();
    }

    /// <summary>Runs <paramref name="action"/> on a live lease that still accepts writes, as one use of it.</summary>
    private static Task<IResult> WithActiveLease(string id, LeaseManager leases, Func<Lease, Task<IResult>> action) =>
        WithLease(id, leases, lease => lease.IsCompleted
            ? Task.FromResult<IResult>(TypedResults.Problem(
                statusCode: StatusCodes.Status409Conflict,
                title: "The session is completed",
                detail: $"Session {id} was completed and takes no more chunks; close it after publishing, and open a new one to write more."))
            : action(lease));

    private static async Task<IResult> WithLease(string id, LeaseManager leases, Func<Lease, Task<IResult>> action)
    {
        var found = leases.Find(id);
        if (found.Live?.TryUse() is not { } use)
        {
            return Ended(id, found.Live?.Ended ?? found.Ended);
        }

        using (use)
        {
            return await action(use.Lease).ConfigureAwait(false);
        }
    }

    private static IResult State(Lease lease, LeaseManager leases) => TypedResults.Ok(LeaseState.Of(lease, leases.Options));

    private static IResult Ended(string id, LeaseEnd? end) => end is null
        ? TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such session", detail: $"No session {id} is known to this server.")
        : TypedResults.Problem(
            statusCode: StatusCodes.Status410Gone,
            title: "The session has ended",
            detail: $"Session {id} ended at {end.At:O} ({Describe(end.Reason)}). Its chunks are protected now only by references and the grace "
                + "period: open a new session and touch them (POST /sessions/<new id>/touch) before relying on them.",
            extensions: new Dictionary<string, object?> { ["reason"] = end.Reason.ToString(), ["endedAt"] = end.At });

    private static string Describe(LeaseEndReason reason) => reason switch
    {
        LeaseEndReason.Closed => "closed by the client",
        LeaseEndReason.Expired => "expired: neither renewed nor used within its TTL",
        LeaseEndReason.MaxLifetime => "it reached the maximum lifetime of a session",
        _ => "the server stopped",
    };
}
