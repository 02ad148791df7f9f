using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using SmartPower.Api;
using SmartPower.Api.Console;
using SmartPower.Api.Live;

namespace SmartPower.Functions;

/// <summary>
/// The status API as HTTP functions over the same handlers as the local host (<see cref="StatusApi"/>), at the same
/// paths (<c>/api/v1/...</c>) with the same API keys (<c>X-Api-Key</c>), answering the same bytes. The functions are
/// anonymous at the Functions level: the handlers authenticate every request by its API key. The station's stream is
/// here too, with the same events, fed by reading the store (<see cref="StatusApi.PollStationAsync"/>), since the
/// instance serving it does not see detection's changes; and the console page, at <c>/api/console</c>.
/// </summary>
public sealed class StatusFunctions(StatusApi api, StationPolling? polling = null)
{
    private readonly StationPolling _polling = polling ?? new StationPolling();

    public const string KeyHeader = "X-Api-Key";

    [Function("site-status")]
    public Task<IActionResult> SiteStatusAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/sites/{siteId}/status")] HttpRequest request, string siteId, CancellationToken cancellationToken) =>
        AnswerAsync(api.SiteStatusAsync(Key(request), siteId, cancellationToken));

    [Function("site-alerts")]
    public Task<IActionResult> SiteAlertsAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/sites/{siteId}/alerts")] HttpRequest request, string siteId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var q = request.Query;
        if (Repeated(q) is { } refused)
        {
            return refused;
        }

        var filter = new AlertFilter(Text(q, "state"), Text(q, "type"), Text(q, "severity"), Text(q, "from"), Text(q, "to"), Text(q, "limit"), Text(q, "continuationToken"));
        return AnswerAsync(api.SiteAlertsAsync(Key(request), siteId, filter, cancellationToken));
    }

    [Function("alert")]
    public Task<IActionResult> AlertAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/alerts/{alertId}")] HttpRequest request, string alertId, CancellationToken cancellationToken) =>
        AnswerAsync(api.AlertAsync(Key(request), alertId, cancellationToken));

    [Function("alert-deliveries")]
    public Task<IActionResult> DeliveriesAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/alerts/{alertId}/deliveries")] HttpRequest request, string alertId, CancellationToken cancellationToken) =>
        AnswerAsync(api.DeliveriesAsync(Key(request), alertId, cancellationToken));

    [Function("alert-ack")]
    public async Task<IActionResult> AcknowledgeAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/alerts/{alertId}/ack")] HttpRequest request, string alertId, CancellationToken cancellationToken) =>
        await AnswerAsync(api.AcknowledgeAsync(Key(request), alertId, await BodyAsync(request, cancellationToken).ConfigureAwait(false), cancellationToken)).ConfigureAwait(false);

    [Function("alert-resolve")]
    public async Task<IActionResult> ResolveAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/alerts/{alertId}/resolve")] HttpRequest request, string alertId, CancellationToken cancellationToken) =>
        await AnswerAsync(api.ResolveAsync(Key(request), alertId, await BodyAsync(request, cancellationToken).ConfigureAwait(false), cancellationToken)).ConfigureAwait(false);

    [Function("device")]
    public Task<IActionResult> DeviceAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/devices/{deviceId}")] HttpRequest request, string deviceId, CancellationToken cancellationToken) =>
        AnswerAsync(api.DeviceAsync(Key(request), deviceId, cancellationToken));

    [Function("station-alerts")]
    public Task<IActionResult> StationAlertsAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/stations/{fireStation}/alerts")] HttpRequest request, string fireStation, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Repeated(request.Query) ?? AnswerAsync(api.StationAlertsAsync(Key(request), fireStation, Text(request.Query, "limit"), Text(request.Query, "continuationToken"), cancellationToken));
    }

    /// <summary>
    /// The station's list as server-sent events, the same events as on the local host (snapshot, alert, removed,
    /// heartbeat), each change within one polling interval; the response ends after the polling lifetime (Azure ends an
    /// HTTP response at 230 s) and the console reconnects. Refusals (401, 403) are the handler's, as JSON problems.
    /// </summary>
    [Function("station-alerts-stream")]
    public async Task<IActionResult> StationStreamAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/stations/{fireStation}/alerts/stream")] HttpRequest request, string fireStation, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var watch = await api.PollStationAsync(Key(request), fireStation, _polling, cancellationToken).ConfigureAwait(false);
        if (watch.Refusal is { } refusal)
        {
            return ResultOf(refusal);
        }

        var response = request.HttpContext.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache,no-store";
        response.Headers["X-Accel-Buffering"] = "no";
        request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseBodyFeature>()?.DisableBuffering();
        try
        {
            await watch.WriteAsync(response.Body, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The console went away.
        }

        return new EmptyResult();
    }

    /// <summary>The duty console page (the local host's <c>/console</c>), with its API at <c>v1/</c> beside it.</summary>
    [Function("console")]
    public static IActionResult Console([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "console")] HttpRequest request) =>
        new FileContentResult(ConsolePageHere, ConsolePage.ContentType);

    [Function("me")]
    public Task<IActionResult> MeAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/me")] HttpRequest request, CancellationToken cancellationToken) =>
        AnswerAsync(api.MeAsync(Key(request), cancellationToken));

    [Function("keys-list")]
    public Task<IActionResult> ListKeysAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/keys")] HttpRequest request, CancellationToken cancellationToken) =>
        AnswerAsync(api.ListKeysAsync(Key(request), cancellationToken));

    [Function("keys-issue")]
    public async Task<IActionResult> IssueKeyAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/keys")] HttpRequest request, CancellationToken cancellationToken) =>
        await AnswerAsync(api.IssueKeyAsync(Key(request), await BodyAsync(request, cancellationToken).ConfigureAwait(false), cancellationToken)).ConfigureAwait(false);

    [Function("keys-revoke")]
    public Task<IActionResult> RevokeKeyAsync([HttpTrigger(AuthorizationLevel.Anonymous, "delete", Route = "v1/keys/{keyId}")] HttpRequest request, string keyId, CancellationToken cancellationToken) =>
        AnswerAsync(api.RevokeKeyAsync(Key(request), keyId, cancellationToken));

    [Function("device-tokens-issue")]
    public Task<IActionResult> IssueDeviceTokenAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/devices/{deviceId}/tokens")] HttpRequest request, string deviceId, CancellationToken cancellationToken) =>
        AnswerAsync(api.IssueDeviceTokenAsync(Key(request), deviceId, cancellationToken));

    [Function("device-tokens-revoke")]
    public Task<IActionResult> RevokeDeviceTokensAsync([HttpTrigger(AuthorizationLevel.Anonymous, "delete", Route = "v1/devices/{deviceId}/tokens")] HttpRequest request, string deviceId, CancellationToken cancellationToken) =>
        AnswerAsync(api.RevokeDeviceTokensAsync(Key(request), deviceId, cancellationToken));

    /// <summary>The console as served here: at <c>{routePrefix}/console</c>, so its API is <c>v1/</c> relative to it, whatever the prefix.</summary>
    private static readonly byte[] ConsolePageHere = ConsolePage.WithApiBase("v1/").ToArray();

    /// <summary>A handler's answer as it is: its status, content type and body written through its own type information.</summary>
    public static IActionResult ResultOf(ApiResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return new ContentResult { StatusCode = result.Status, ContentType = result.ContentType, Content = JsonSerializer.Serialize(result.Body, result.BodyType) };
    }

    private static async Task<IActionResult> AnswerAsync(Task<ApiResult> handling) => ResultOf(await handling.ConfigureAwait(false));

    private static string? Key(HttpRequest request) => request?.Headers[KeyHeader] is [{ } key] ? key : null;

    private static string? Text(IQueryCollection query, string name) => query.TryGetValue(name, out var value) && value.Count > 0 ? value[0] : null;

    /// <summary>A 400 for a query parameter given more than once (<c>?state=open&amp;state=cleared</c>), as the local host answers; else null.</summary>
    private static Task<IActionResult>? Repeated(IQueryCollection query) =>
        query.FirstOrDefault(p => p.Value.Count > 1).Key is { } name
            ? Task.FromResult(ResultOf(ApiResult.BadRequest($"{name} is given more than once")))
            : null;

    private static Task<ReadOnlyMemory<byte>> BodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        return RequestBody.ReadAsync(request.Body, cancellationToken);
    }
}
