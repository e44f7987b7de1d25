using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using ChunkStore.Server.Configuration;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace ChunkStore.Server.Auth;

/// <summary>The authorization policies of the endpoints.</summary>
internal static class ApiPolicies
{
    /// <summary>Read chunks, sessions' state and status: a read key or a write key.</summary>
    public const string Read = "read";

    /// <summary>Write chunks, hold leases, run verify and garbage collection: a write key.</summary>
    public const string Write = "write";

    public const string Scheme = "ApiKey";

    public const string RoleRead = "reader";

    public const string RoleWrite = "writer";
}

/// <summary>
/// Authenticates a request by its API key (<c>Authorization: Bearer &lt;key&gt;</c> or <c>X-Api-Key: &lt;key&gt;</c>):
/// a write key gets both roles, a read key only <see cref="ApiPolicies.RoleRead"/>. Keys are compared as SHA-256 hashes
/// in constant time and never logged. Challenges (401) and forbids (403) answer with Problem Details.
/// </summary>
internal sealed class ApiKeyAuthenticationHandler : AuthenticationHandler<AuthenticationSchemeOptions>
{
    private readonly KeySet _keys;
    private readonly IProblemDetailsService _problems;

    public ApiKeyAuthenticationHandler(
        IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, KeySet keys, IProblemDetailsService problems)
        : base(options, logger, encoder)
    {
        _keys = keys;
        _problems = problems;
    }

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (PresentedKey(Request) is not { } key)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        string[]? roles = _keys.RolesOf(key);
        if (roles is null)
        {
            return Task.FromResult(AuthenticateResult.Fail("unknown API key"));
        }

        var identity = new ClaimsIdentity(roles.Select(r => new Claim(ClaimTypes.Role, r)), ApiPolicies.Scheme);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), ApiPolicies.Scheme)));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = "Bearer realm=\"chunkstore\"";
        return WriteProblemAsync(
            "An API key is required",
            PresentedKey(Request) is null
                ? "Send the key as 'Authorization: Bearer <key>' or 'X-Api-Key: <key>'."
                : "The API key is not one of the server's keys.");
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status403Forbidden;
        return WriteProblemAsync("The API key may not do this", "This request needs a write key; the key sent is a read-only key.");
    }

    private Task WriteProblemAsync(string title, string detail) => _problems.WriteAsync(new ProblemDetailsContext
    {
        HttpContext = Context,
        ProblemDetails = { Status = Response.StatusCode, Title = title, Detail = detail },
    }).AsTask();

    private static string? PresentedKey(HttpRequest request)
    {
        string? authorization = request.Headers.Authorization;
        if (authorization is not null && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return authorization["Bearer ".Length..].Trim() is { Length: > 0 } bearer ? bearer : null;
        }

        return request.Headers["X-Api-Key"].ToString() is { Length: > 0 } header ? header : null;
    }
}

/// <summary>The configured keys, kept only as SHA-256 hashes.</summary>
internal sealed class KeySet
{
    private static readonly string[] s_writer = [ApiPolicies.RoleRead, ApiPolicies.RoleWrite];
    private static readonly string[] s_reader = [ApiPolicies.RoleRead];
    private readonly List<byte[]> _write;
    private readonly List<byte[]> _read;

    public KeySet(IOptions<ServerOptions> options)
    {
        _write = options.Value.WriteKeys.Select(Hash).ToList();
        _read = options.Value.ReadKeys.Select(Hash).ToList();
    }

    /// <summary>Returns the roles of a key, or <see langword="null"/> for an unknown key; every configured key is compared, in constant time.</summary>
    public string[]? RolesOf(string key)
    {
        byte[] hash = Hash(key);
        bool write = false, read = false;
        foreach (var k in _write)
        {
            write |= CryptographicOperations.FixedTimeEquals(k, hash);
        }

        foreach (var k in _read)
        {
            read |= CryptographicOperations.FixedTimeEquals(k, hash);
        }

        return write ? s_writer : read ? s_reader : null;
    }

    private static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));
}
