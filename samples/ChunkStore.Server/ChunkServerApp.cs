using System.Text.Encodings.Web;
using System.Text.Json.Serialization;
using ChunkStore.S3;
using ChunkStore.Server.Auth;
using ChunkStore.Server.Configuration;
using ChunkStore.Server.Diagnostics;
using ChunkStore.Server.Endpoints;
using ChunkStore.Server.Errors;
using ChunkStore.Server.Health;
using ChunkStore.Server.Http;
using ChunkStore.Server.Leases;
using ChunkStore.Server.Operations;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.DependencyInjection.Extensions;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace ChunkStore.Server;

/// <summary>Builds the chunk server: one store, its HTTP API, telemetry, health checks and status page.</summary>
public static class ChunkServerApp
{
    /// <summary>Short command-line switches for the settings one usually gives by hand.</summary>
    private static readonly Dictionary<string, string> s_switches = new(StringComparer.Ordinal)
    {
        ["--root"] = "ChunkStore:Root",
        ["--max-chunk-size"] = "ChunkStore:MaxChunkSize",
        ["--sync"] = "ChunkStore:SyncMode",
        ["--backend"] = "ChunkServer:Backend",
        ["--write-key"] = "ChunkServer:WriteKeys:0",
        ["--read-key"] = "ChunkServer:ReadKeys:0",
    };

    private static readonly double[] s_secondsBuckets = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800];

    /// <summary>
    /// Builds the application from the command line, the environment and <c>appsettings.json</c>, and opens the store
    /// (so a store that cannot be opened fails here, not at the first request).
    /// </summary>
    /// <param name="args">The command line: <c>--root DIR</c>, <c>--write-key K</c>, <c>--read-key K</c>, <c>--urls URL</c>, or any <c>--Section:Key value</c>.</param>
    /// <returns>The application, not started.</returns>
    /// <exception cref="InvalidOperationException">A required setting is missing or invalid; the message names it.</exception>
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddCommandLine(args, s_switches);
        var settings = new ServerOptions();
        builder.Configuration.GetSection(ServerOptions.Section).Bind(settings);
        settings.Validate();
        if (string.IsNullOrWhiteSpace(builder.Configuration["ChunkStore:Root"]))
        {
            throw new InvalidOperationException("ChunkStore:Root must name the store's directory (--root DIR); for S3 it is the local cache root.");
        }

        var services = builder.Services;
        services.Configure<ServerOptions>(builder.Configuration.GetSection(ServerOptions.Section));
        services.Configure<ChunkStoreOptions>(builder.Configuration.GetSection("ChunkStore"));
        if (settings.Backend == StoreBackend.S3)
        {
            services.Configure<S3BackendOptions>(builder.Configuration.GetSection("S3"));
            services.AddChunkStoreS3();
        }
        else
        {
            services.AddChunkStore();
        }

        services.TryAddSingleton(TimeProvider.System);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;

            // Every request gets this limit; PUT raises it to the maximum chunk size, digest lists to their own limit.
            kestrel.Limits.MaxRequestBodySize = settings.Limits.MaxRequestBodyBytes;
        });
        services.ConfigureHttpJsonOptions(json =>
        {
            json.SerializerOptions.Converters.Add(new ChunkDigestJsonConverter());
            json.SerializerOptions.Converters.Add(new JsonStringEnumConverter());
        });

        AddOperations(builder, settings);
        AddSecurity(services);
        AddTelemetry(builder);
        var health = services.AddHealthChecks()
            .AddCheck<StoreHealthCheck>("store")
            .AddCheck<GcHealthCheck>("gc");
        if (settings.Backend == StoreBackend.S3)
        {
            health.AddCheck<S3HealthCheck>("s3");
        }

        var app = builder.Build();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseAuthentication();
        app.UseAuthorization();
        ChunkEndpoints.Map(app);
        SessionEndpoints.Map(app);
        AdminEndpoints.Map(app);
        StatusEndpoints.Map(app, settings.Status.Public);

        var store = app.Services.GetRequiredService<ChunkRepository>();
        ServerLog.Started(app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("ChunkStore.Server"), store.Description, settings.Backend.ToString(), store.Options.MaxChunkSize);
        return app;
    }

    private static void AddOperations(WebApplicationBuilder builder, ServerOptions settings)
    {
        var services = builder.Services;
        var recent = new RecentErrors(settings.Status.RecentErrors);
        services.AddSingleton(recent);
        builder.Logging.Services.AddSingleton<ILoggerProvider>(provider => new RecentErrorsLoggerProvider(recent, provider.GetRequiredService<TimeProvider>()));
        services.AddSingleton<ServerMetrics>();
        services.AddSingleton<LeaseManager>();
        services.AddSingleton<Traffic>();
        services.AddSingleton<AdminHistory>();
        services.AddSingleton<StoreStatistics>();
        services.AddHostedService<LeaseExpiryService>();
        services.AddHostedService<StatisticsRefreshService>();
    }

    private static void AddSecurity(IServiceCollection services)
    {
        services.AddProblemDetails();
        services.AddExceptionHandler<ServerExceptionHandler>();
        services.AddSingleton<KeySet>();
        // The core services only: AddAuthentication would bring data protection (a key ring on disk) that API keys never use.
        services.TryAddSingleton(UrlEncoder.Default);
        services.AddAuthenticationCore(auth =>
        {
            auth.DefaultScheme = ApiPolicies.Scheme;
            auth.AddScheme<ApiKeyAuthenticationHandler>(ApiPolicies.Scheme, displayName: null);
        });
        services.AddAuthorizationBuilder()
            .AddPolicy(ApiPolicies.Read, policy => policy.RequireRole(ApiPolicies.RoleRead))
            .AddPolicy(ApiPolicies.Write, policy => policy.RequireRole(ApiPolicies.RoleWrite));
    }

    /// <summary>
    /// Metrics of the library (<c>ChunkStore</c>, <c>ChunkStore.S3</c>), the server and ASP.NET Core, scraped at
    /// <c>/metrics</c>. With <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> set, traces of the same sources (and the metrics and
    /// logs) also go out over OTLP; without it no span is recorded, so tracing costs nothing.
    /// </summary>
    private static void AddTelemetry(WebApplicationBuilder builder)
    {
        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("chunkstore-server"))
            .WithMetrics(metrics => metrics
                .AddMeter(ServerMetrics.LibraryName, ServerMetrics.S3LibraryName, ServerMetrics.Name)
                .AddAspNetCoreInstrumentation()

                // The library's duration histograms (unit s) carry no bucket advice; the SDK's default buckets are for milliseconds.
                .AddView(instrument => instrument.Meter.Name.StartsWith(ServerMetrics.LibraryName, StringComparison.Ordinal) && instrument.Unit == "s"
                    ? new ExplicitBucketHistogramConfiguration { Boundaries = s_secondsBuckets }
                    : null)
                .AddPrometheusExporter());
        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            otel.WithTracing(tracing => tracing
                    .AddSource(ServerMetrics.LibraryName, ServerMetrics.S3LibraryName, ServerMetrics.Name)
                    .AddAspNetCoreInstrumentation(aspnet => aspnet.Filter = context => !context.Request.Path.StartsWithSegments("/metrics")))
                .UseOtlpExporter();
        }
    }
}
