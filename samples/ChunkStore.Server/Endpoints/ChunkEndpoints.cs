using ChunkStore.Server.Auth;
using ChunkStore.Server.Http;
using ChunkStore.Server.Operations;
using Microsoft.Net.Http.Headers;

namespace ChunkStore.Server.Endpoints;

/// <summary><c>PUT /chunks</c>, <c>GET /chunks/{digest}</c>, <c>HEAD /chunks/{digest}</c>.</summary>
internal static class ChunkEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPut("/chunks", PutAsync).RequireAuthorization(ApiPolicies.Write);
        app.MapGet("/chunks/{digest}", GetAsync).RequireAuthorization(ApiPolicies.Read);
        app.MapMethods("/chunks/{digest}", [HttpMethods.Head], HeadAsync).RequireAuthorization(ApiPolicies.Read);
    }

    /// <summary>Stores the body as a chunk outside any session: only the grace period protects it until an index references it.</summary>
    private static Task<IResult> PutAsync(HttpContext context, ChunkRepository store, Traffic traffic) =>
        InsertAsync(context, store, traffic, store.InsertAsync);

    /// <summary>
    /// Reads the body (1 byte to the store's maximum chunk size) and inserts it through <paramref name="insert"/>:
    /// 201 with <c>Location</c> when the chunk is new, 200 for a duplicate (which the insert touched); the body is
    /// <c>{ digest, isNew, size }</c> and the <c>ETag</c> is the digest.
    /// </summary>
    public static async Task<IResult> InsertAsync(
        HttpContext context, ChunkRepository store, Traffic traffic,
        Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask<ChunkInsertResult>> insert, Action<ChunkInsertResult>? inserted = null)
    {
        using var body = await RequestBodies.ReadChunkAsync(context, store.Options.MaxChunkSize, context.RequestAborted).ConfigureAwait(false);
        var result = await insert(body.Memory, context.RequestAborted).ConfigureAwait(false);
        traffic.Inserted(result);
        inserted?.Invoke(result);
        context.Response.Headers.ETag = ETag(result.Digest).ToString();
        return result.IsNew
            ? TypedResults.Created($"/chunks/{result.Digest}", result)
            : TypedResults.Ok(result);
    }

    /// <summary>Answers the verified chunk, with ranges (<c>Range</c>, <c>If-Range</c>) and <c>If-None-Match</c> against the digest ETag.</summary>
    private static async Task<IResult> GetAsync(string digest, HttpContext context, ChunkRepository store, Traffic traffic)
    {
        if (!Digests.TryParse(digest, out var d, out var problem))
        {
            return problem;
        }

        var etag = ETag(d);
        if (IfNoneMatch(context.Request, etag))
        {
            // Content-addressed: a client holding this ETag holds these bytes. Only the chunk's presence is left to tell.
            if (!await store.ContainsAsync(d, context.RequestAborted).ConfigureAwait(false))
            {
                return Digests.NotFound(d);
            }

            context.Response.Headers.ETag = etag.ToString();
            return TypedResults.StatusCode(StatusCodes.Status304NotModified);
        }

        // The library's read returns the whole verified chunk (at most the maximum chunk size); the response is
        // written from it, a range from its slice. A corrupt chunk is never sent (ChunkCorruptException → 500).
        var bytes = await store.ReadAsync(d, context.RequestAborted).ConfigureAwait(false);
        traffic.Read(bytes.Length);
        context.Response.Headers.CacheControl = "public, max-age=31536000, immutable";
        return TypedResults.Bytes(bytes, "application/octet-stream", entityTag: etag, enableRangeProcessing: true);
    }

    /// <summary>Answers whether the chunk is stored (without touching it, so this protects nothing from garbage collection).</summary>
    private static async Task<IResult> HeadAsync(string digest, HttpContext context, ChunkRepository store)
    {
        if (!Digests.TryParse(digest, out var d, out var problem))
        {
            return problem;
        }

        if (!await store.ContainsAsync(d, context.RequestAborted).ConfigureAwait(false))
        {
            return Digests.NotFound(d);
        }

        context.Response.Headers.ETag = ETag(d).ToString();
        context.Response.Headers.AcceptRanges = "bytes";
        return TypedResults.Ok();
    }

    private static EntityTagHeaderValue ETag(ChunkDigest digest) => new($"\"{digest}\"");

    private static bool IfNoneMatch(HttpRequest request, EntityTagHeaderValue etag) =>
        request.Headers.IfNoneMatch.Count > 0
        && EntityTagHeaderValue.TryParseList(request.Headers.IfNoneMatch, out var tags)
        && tags.Any(t => t.Equals(EntityTagHeaderValue.Any) || t.Compare(etag, useStrongComparison: false));
}
