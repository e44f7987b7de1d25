using ChunkStore.Server.Auth;
using ChunkStore.Server.Configuration;
using ChunkStore.Server.Health;
using ChunkStore.Server.Leases;
using ChunkStore.Server.Operations;
using ChunkStore.Server.Status;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace ChunkStore.Server.Endpoints;

/// <summary><c>GET /status</c> (HTML), <c>GET /status.json</c>, <c>GET /healthz</c>, <c>GET /metrics</c> (Prometheus); public unless <c>ChunkServer:Status:Public</c> is false.</summary>
internal static class StatusEndpoints
{
    public static void Map(WebApplication app, bool isPublic)
    {
        var endpoints = new List<IEndpointConventionBuilder>
        {
            app.MapGet("/", () => TypedResults.Redirect("/status")),
            app.MapGet("/status", (HttpContext context) => TypedResults.Content(StatusPage.Render(Report(context.RequestServices)), "text/html; charset=utf-8")),
            app.MapGet("/status.json", (HttpContext context) => TypedResults.Ok(Report(context.RequestServices))),
            app.MapHealthChecks("/healthz", new HealthCheckOptions { ResponseWriter = HealthResponse.WriteAsync }),
            app.MapPrometheusScrapingEndpoint("/metrics"),
        };
        if (!isPublic)
        {
            foreach (var endpoint in endpoints)
            {
                endpoint.RequireAuthorization(ApiPolicies.Read);
            }
        }
    }

    private static StatusReport Report(IServiceProvider services) => StatusReport.Build(
        services.GetRequiredService<ChunkRepository>(),
        services.GetRequiredService<IOptions<ServerOptions>>(),
        services.GetRequiredService<StoreStatistics>(),
        services.GetRequiredService<Traffic>(),
        services.GetRequiredService<LeaseManager>(),
        services.GetRequiredService<AdminHistory>(),
        services.GetRequiredService<RecentErrors>(),
        services.GetRequiredService<TimeProvider>());
}
