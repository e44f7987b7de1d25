namespace ChunkStore.Server.Endpoints;

/// <summary>Digests in routes, and the answers about them.</summary>
internal static class Digests
{
    /// <summary>Parses a digest from a route; otherwise <paramref name="problem"/> is the 400 to answer.</summary>
    public static bool TryParse(string text, out ChunkDigest digest, out IResult problem)
    {
        if (ChunkDigest.TryParse(text, out digest))
        {
            problem = TypedResults.Empty;
            return true;
        }

        problem = TypedResults.Problem(
            statusCode: StatusCodes.Status400BadRequest,
            title: "Malformed digest",
            detail: $"'{(text.Length <= 80 ? text : text[..77] + "...")}' is not a chunk digest: 64 hex characters (the SHA-256 of the chunk).");
        return false;
    }

    public static IResult NotFound(ChunkDigest digest) => TypedResults.Problem(
        statusCode: StatusCodes.Status404NotFound,
        title: "Chunk not found",
        detail: $"Chunk {digest} is not stored.",
        extensions: new Dictionary<string, object?> { ["digest"] = digest.ToString() });
}
