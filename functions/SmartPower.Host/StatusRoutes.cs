using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.OpenApi;
using SmartPower.Api;
using SmartPower.Api.Console;
using SmartPower.Notifications;

namespace SmartPower.Host;

/// <summary>
/// The status API's routes on the local host's web app: each route reads the <c>X-Api-Key</c> header and its
/// parameters, calls the shared handler, and writes its <see cref="ApiResult"/> as it is. The OpenAPI document is at
/// <c>/openapi/v1.json</c>, the duty-officer console at <c>/console</c>.
/// </summary>
internal static class StatusRoutes
{
    public const string KeyHeader = "X-Api-Key";

    /// <summary>Problem details for every error (unknown routes and failures too), JSON by <see cref="ApiJson"/>, the OpenAPI document.</summary>
    public static void AddStatusApi(this WebApplicationBuilder builder)
    {
        builder.Services.AddProblemDetails();
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.TypeInfoResolverChain.Insert(0, ApiJson.Default);
            o.SerializerOptions.NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.Strict;
        });
        builder.Services.AddOpenApi(o =>
        {
            o.AddDocumentTransformer((document, _, _) =>
            {
                document.Info = new OpenApiInfo
                {
                    Title = "SmartPower status API",
                    Version = "v1",
                    Description = "Site status, alerts and their history, acknowledging and resolving, a fire station's open critical alerts. "
                        + "Every /api/v1 route needs an API key in the X-Api-Key header; errors are RFC 7807 problem details.",
                };
                document.Components ??= new OpenApiComponents();
                document.Components.SecuritySchemes = new Dictionary<string, IOpenApiSecurityScheme>
                {
                    ["apiKey"] = new OpenApiSecurityScheme { Type = SecuritySchemeType.ApiKey, In = ParameterLocation.Header, Name = KeyHeader },
                };
                var requirement = new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("apiKey", document)] = [] };
                foreach (var (_, item) in document.Paths.Where(p => p.Key.StartsWith("/api/v1/", StringComparison.Ordinal)))
                {
                    foreach (var operation in item.Operations?.Values ?? Enumerable.Empty<OpenApiOperation>())
                    {
                        operation.Security = [requirement];
                    }
                }

                return Task.CompletedTask;
            });
            o.AddSchemaTransformer((schema, context, _) =>
            {
                // Times are written by EventTimeJsonConverter, which the schema exporter cannot see through.
                if (context.JsonTypeInfo.Type == typeof(DateTimeOffset) || context.JsonTypeInfo.Type == typeof(DateTimeOffset?))
                {
                    schema.Type = JsonSchemaType.String;
                    schema.Format = "date-time";
                }

                return Task.CompletedTask;
            });
        });
    }

    /// <summary>Maps the API over <paramref name="pipeline"/>'s store and registry; each stored transition is announced to live watchers.</summary>
    public static StatusApi MapStatusApi(this WebApplication app, LocalPipeline pipeline)
    {
        var api = new StatusApi(pipeline.Registry, pipeline.Store, pipeline.Store, pipeline.Credentials, deliveries: new AlertDeliveriesHandler(pipeline.Store));
        pipeline.AlertStored += t => api.Feed.Publish(t.Alert.AlertId);
        pipeline.Notifications.Escalated += api.Feed.Publish;
        app.Use(async (context, next) =>
        {
            await next(context).ConfigureAwait(false);
            if (context.Request.Path.StartsWithSegments("/api/v1", StringComparison.Ordinal))
            {
                pipeline.ApiRefusals.Count(context.Response.StatusCode);
            }
        });
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.MapOpenApi();
        app.MapGet("/console", () => Results.Bytes(ConsolePage.Html, ConsolePage.ContentType)).ExcludeFromDescription();

        var v1 = app.MapGroup("/api/v1").ProducesProblem(401);
        v1.MapGet("/sites/{siteId}/status", (HttpContext c, string siteId, CancellationToken ct) => Answer(api.SiteStatusAsync(Key(c), siteId, ct)))
            .Produces<SiteStatus>().ProducesProblem(404).WithTags("sites")
            .WithSummary("A site's devices online and offline, open alerts by severity, and each device's latest reading, load and charging ports");
        v1.MapGet("/sites/{siteId}/alerts", (HttpContext c, string siteId, string? state, string? type, string? severity, string? from, string? to, string? limit, string? continuationToken, CancellationToken ct) =>
                Answer(api.SiteAlertsAsync(Key(c), siteId, new AlertFilter(state, type, severity, from, to, limit, continuationToken), ct)))
            .Produces<AlertPage>().ProducesProblem(400).ProducesProblem(404).WithTags("alerts")
            .WithSummary("A site's alerts, newest first, filtered by state (open, cleared), type, severity and time range (from, to: openedAt); paged by continuationToken");
        v1.MapGet("/alerts/{alertId}", (HttpContext c, string alertId, CancellationToken ct) => Answer(api.AlertAsync(Key(c), alertId, ct)))
            .Produces<AlertDetail>().ProducesProblem(404).WithTags("alerts").WithSummary("One alert with its history");
        v1.MapGet("/alerts/{alertId}/deliveries", (HttpContext c, string alertId, CancellationToken ct) => Answer(api.DeliveriesAsync(Key(c), alertId, ct)))
            .Produces<AlertDeliveriesResponse>().ProducesProblem(404).WithTags("alerts")
            .WithSummary("The notifications sent of an alert's history, per recipient, with every delivery attempt");
        v1.MapPost("/alerts/{alertId}/ack", async (HttpContext c, string alertId, CancellationToken ct) => await Answer(api.AcknowledgeAsync(Key(c), alertId, await BodyAsync(c, ct), ct)))
            .Accepts<ActRequest>("application/json").Produces<AlertView>().ProducesProblem(404).ProducesProblem(409).WithTags("alerts")
            .WithSummary("Acknowledge an alert, with the actor and a note recorded in its history");
        v1.MapPost("/alerts/{alertId}/resolve", async (HttpContext c, string alertId, CancellationToken ct) => await Answer(api.ResolveAsync(Key(c), alertId, await BodyAsync(c, ct), ct)))
            .Accepts<ActRequest>("application/json").Produces<AlertView>().ProducesProblem(404).ProducesProblem(409).WithTags("alerts")
            .WithSummary("Resolve an alert (the hazard dealt with), with the actor and a note recorded in its history");
        v1.MapGet("/devices/{deviceId}", (HttpContext c, string deviceId, CancellationToken ct) => Answer(api.DeviceAsync(Key(c), deviceId, ct)))
            .Produces<DeviceView>().ProducesProblem(404).WithTags("devices").WithSummary("One device: its latest reading and status");
        v1.MapGet("/stations/{fireStation}/alerts", (HttpContext c, string fireStation, string? limit, string? continuationToken, CancellationToken ct) =>
                Answer(api.StationAlertsAsync(Key(c), fireStation, limit, continuationToken, ct)))
            .Produces<AlertPage>().ProducesProblem(400).ProducesProblem(403).WithTags("stations")
            .WithSummary("Open critical alerts nobody has resolved, across the sites of a fire station's district, newest first");
        v1.MapGet("/stations/{fireStation}/alerts/stream", WatchAsync(api))
            .Produces<StationSnapshot>(contentType: "text/event-stream").ProducesProblem(403).WithTags("stations")
            .WithSummary("The same list live, as server-sent events: snapshot, then alert (joined or changed), removed, heartbeat");

        v1.MapGet("/me", (HttpContext c, CancellationToken ct) => Answer(api.MeAsync(Key(c), ct)))
            .Produces<CallerView>().WithTags("keys").WithSummary("The calling key's role and scope");
        v1.MapGet("/keys", (HttpContext c, CancellationToken ct) => Answer(api.ListKeysAsync(Key(c), ct)))
            .Produces<IReadOnlyList<ApiKeyView>>().ProducesProblem(403).WithTags("admin").WithSummary("Every API key, without secrets (admin)");
        v1.MapPost("/keys", async (HttpContext c, CancellationToken ct) => await Answer(api.IssueKeyAsync(Key(c), await BodyAsync(c, ct), ct)))
            .Accepts<ApiKeyRequest>("application/json").Produces<IssuedApiKey>(201).ProducesProblem(400).ProducesProblem(403).WithTags("admin")
            .WithSummary("Issue an API key for a role and scope; its secret is in this answer only (admin)");
        v1.MapDelete("/keys/{keyId}", (HttpContext c, string keyId, CancellationToken ct) => Answer(api.RevokeKeyAsync(Key(c), keyId, ct)))
            .Produces<Revocation>().ProducesProblem(403).ProducesProblem(404).WithTags("admin").WithSummary("Revoke an API key (admin)");
        v1.MapPost("/devices/{deviceId}/tokens", (HttpContext c, string deviceId, CancellationToken ct) => Answer(api.IssueDeviceTokenAsync(Key(c), deviceId, ct)))
            .Produces<IssuedDeviceToken>(201).ProducesProblem(403).ProducesProblem(404).WithTags("admin").WithSummary("Issue a device token, the device's MQTT password (admin)");
        v1.MapDelete("/devices/{deviceId}/tokens", (HttpContext c, string deviceId, CancellationToken ct) => Answer(api.RevokeDeviceTokensAsync(Key(c), deviceId, ct)))
            .Produces<Revocation>().ProducesProblem(403).ProducesProblem(404).WithTags("admin").WithSummary("Revoke every token of a device (admin)");
        return api;
    }

    /// <summary>
    /// The station's stream, ended when the host stops as well as when the console goes: an open stream otherwise held the
    /// web server's stop for its whole shutdown timeout (30 s with a console open, measured), long enough for a
    /// supervisor's stop timeout to kill the host.
    /// </summary>
    private static Func<HttpContext, string, CancellationToken, Task<IResult>> WatchAsync(StatusApi api) => async (c, fireStation, ct) =>
    {
        var stopping = c.RequestServices.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
        var either = CancellationTokenSource.CreateLinkedTokenSource(ct, stopping);
        c.Response.RegisterForDispose(either);
        var watch = await api.WatchStationAsync(Key(c), fireStation, either.Token).ConfigureAwait(false);
        return watch.Refusal is { } refusal
            ? Result(refusal)
            : TypedResults.ServerSentEvents(watch.Items);
    };

    private static string? Key(HttpContext context) => context.Request.Headers[KeyHeader] is [{ } key] ? key : null;

    private static async Task<IResult> Answer(Task<ApiResult> handling) => Result(await handling.ConfigureAwait(false));

    private static IResult Result(ApiResult result) => Results.Json(result.Body, result.BodyType, result.ContentType, result.Status);

    private static Task<ReadOnlyMemory<byte>> BodyAsync(HttpContext context, CancellationToken cancellationToken) =>
        RequestBody.ReadAsync(context.Request.Body, cancellationToken);
}
