using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using SmartPower.Alerts;
using SmartPower.Api.Access;
using SmartPower.Api.Live;
using SmartPower.Pipeline;
using SmartPower.Registry;

namespace SmartPower.Api;

/// <summary>The query string of an alert listing, as it came (checked by the handler, so every host refuses alike).</summary>
public sealed record AlertFilter(
    string? State = null,
    string? Type = null,
    string? Severity = null,
    string? From = null,
    string? To = null,
    string? Limit = null,
    string? ContinuationToken = null);

/// <summary>
/// The status API's handlers, free of any web framework: each takes the request's API key (the <c>X-Api-Key</c>
/// header) and its parameters, and answers an <see cref="ApiResult"/>. The local host maps them to routes; the Azure
/// Functions app calls the same. Every handler authenticates first (401), then checks the role (403), then the scope:
/// a site, alert or device the key may not see is answered exactly as one that does not exist (404).
/// </summary>
public sealed partial class StatusApi
{
    public const int DefaultPageSize = 50;
    public const int MaxPageSize = 500;
    public const int MaxBodyBytes = 16 * 1024;

    private readonly DeviceRegistry _registry;
    private readonly IStatusStore _store;
    private readonly IApiKeyStore _keys;
    private readonly IDeviceCredentials _tokens;
    private readonly Notifications.AlertDeliveriesHandler? _deliveries;
    private readonly TimeProvider _time;
    private readonly ILookup<string, Device> _devicesBySite;
    private readonly ILookup<string, string> _sitesByStation;

    public StatusApi(
        DeviceRegistry registry,
        IStatusStore store,
        IApiKeyStore keys,
        IDeviceCredentials tokens,
        AlertFeed? feed = null,
        TimeProvider? time = null,
        Notifications.AlertDeliveriesHandler? deliveries = null)
    {
        ArgumentNullException.ThrowIfNull(registry);
        _registry = registry;
        _deliveries = deliveries;
        _store = store;
        _keys = keys;
        _tokens = tokens;
        _time = time ?? TimeProvider.System;
        Feed = feed ?? new AlertFeed();
        _devicesBySite = registry.Devices.ToLookup(d => d.SiteId, StringComparer.Ordinal);
        _sitesByStation = registry.Sites.Where(s => s.FireStation is not null).ToLookup(s => s.FireStation!, s => s.SiteId, StringComparer.Ordinal);
    }

    /// <summary>Where changed alerts are announced to live watchers.</summary>
    public AlertFeed Feed { get; }

    /// <summary>How often a quiet console stream sends a heartbeat.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary><c>GET sites/{siteId}/status</c>: devices online and offline, open alerts by severity, and each device's status.</summary>
    public Task<ApiResult> SiteStatusAsync(string? apiKey, string siteId, CancellationToken cancellationToken) =>
        AsCallerAsync(apiKey, async caller =>
        {
            if (VisibleSite(caller, siteId) is not { } site)
            {
                return ApiResult.NotFound("site");
            }

            var heard = (await _store.GetDevicesAsync(siteId, cancellationToken).ConfigureAwait(false)).ToDictionary(d => d.DeviceId, StringComparer.Ordinal);
            var open = (await AllAsync(new AlertQuery(Set(siteId)) { State = AlertState.Open }, cancellationToken).ConfigureAwait(false)).ToLookup(a => a.Alert.DeviceId, StringComparer.Ordinal);
            var devices = _devicesBySite[siteId].Select(d => DeviceView(d, heard.GetValueOrDefault(d.DeviceId), [.. open[d.DeviceId]])).ToList();
            var online = devices.Count(d => d.Online);
            var critical = open.Sum(g => g.Count(a => a.Alert.Severity == Severity.Critical));
            var warning = open.Sum(g => g.Count(a => a.Alert.Severity == Severity.Warning));
            var status = new SiteStatus(SiteView(site), online, devices.Count - online, new SeverityCounts(critical, warning), devices);
            return ApiResult.Ok(status, ApiJson.Default.SiteStatus);
        }, cancellationToken);

    /// <summary><c>GET sites/{siteId}/alerts</c>: filtered by state, type, severity and time range, newest first, paged.</summary>
    public Task<ApiResult> SiteAlertsAsync(string? apiKey, string siteId, AlertFilter filter, CancellationToken cancellationToken) =>
        AsCallerAsync(apiKey, caller => VisibleSite(caller, siteId) is null
            ? Task.FromResult(ApiResult.NotFound("site"))
            : PageAsync(new AlertQuery(Set(siteId)), $"site/{siteId}", filter, cancellationToken), cancellationToken);

    /// <summary><c>GET alerts/{alertId}</c>: one alert with its history.</summary>
    public Task<ApiResult> AlertAsync(string? apiKey, string alertId, CancellationToken cancellationToken) =>
        AsCallerAsync(apiKey, async caller =>
        {
            if (await VisibleAlertAsync(caller, alertId, cancellationToken).ConfigureAwait(false) is not { } stored)
            {
                return ApiResult.NotFound("alert");
            }

            var history = await _store.GetTransitionsAsync(alertId, cancellationToken).ConfigureAwait(false);
            var detail = new AlertDetail(AlertView(stored), [.. history.Select(HistoryEntryView)]);
            return ApiResult.Ok(detail, ApiJson.Default.AlertDetail);
        }, cancellationToken);

    /// <summary>
    /// <c>GET alerts/{alertId}/deliveries</c>: the notifications sent of the alert's history (per step and recipient) and
    /// every attempt to deliver each, for whoever may see the alert. An attempt's error text names the receiver's
    /// address ("Connection refused (host:port)"): it is shown to that recipient and admins only, the other party sees
    /// that the attempt failed and its status code.
    /// </summary>
    public Task<ApiResult> DeliveriesAsync(string? apiKey, string alertId, CancellationToken cancellationToken) =>
        AsCallerAsync(apiKey, async caller =>
        {
            if (_deliveries is null || await VisibleAlertAsync(caller, alertId, cancellationToken).ConfigureAwait(false) is null)
            {
                return ApiResult.NotFound("alert");
            }

            return ApiResult.Ok(await _deliveries.HandleAsync(alertId, caller.Is, cancellationToken).ConfigureAwait(false), ApiJson.Default.AlertDeliveriesResponse);
        }, cancellationToken);

    /// <summary><c>POST alerts/{alertId}/ack</c> with <c>{"actor": ..., "note": ...}</c>.</summary>
    public Task<ApiResult> AcknowledgeAsync(string? apiKey, string alertId, ReadOnlyMemory<byte> body, CancellationToken cancellationToken) =>
        ActAsync(apiKey, alertId, body, "acknowledged", _store.AcknowledgeAsync, cancellationToken);

    /// <summary><c>POST alerts/{alertId}/resolve</c> with <c>{"actor": ..., "note": ...}</c>.</summary>
    public Task<ApiResult> ResolveAsync(string? apiKey, string alertId, ReadOnlyMemory<byte> body, CancellationToken cancellationToken) =>
        ActAsync(apiKey, alertId, body, "resolved", _store.ResolveAsync, cancellationToken);

    /// <summary><c>GET devices/{deviceId}</c>: the latest reading and status.</summary>
    public Task<ApiResult> DeviceAsync(string? apiKey, string deviceId, CancellationToken cancellationToken) =>
        AsCallerAsync(apiKey, async caller =>
        {
            if (!_registry.TryGetDevice(deviceId, out var device) || VisibleSite(caller, device.SiteId) is null)
            {
                return ApiResult.NotFound("device");
            }

            var heard = await _store.GetDeviceAsync(deviceId, cancellationToken).ConfigureAwait(false);
            var open = await AllAsync(new AlertQuery(Set(device.SiteId)) { DeviceId = deviceId, State = AlertState.Open }, cancellationToken).ConfigureAwait(false);
            return ApiResult.Ok(DeviceView(device, heard, open), ApiJson.Default.DeviceView);
        }, cancellationToken);

    private Task<ApiResult> ActAsync(
        string? apiKey,
        string alertId,
        ReadOnlyMemory<byte> body,
        string act,
        Func<string, string, string?, CancellationToken, Task<HumanActOutcome>> record,
        CancellationToken cancellationToken) =>
        AsCallerAsync(apiKey, async caller =>
        {
            if (TryRead(body, ApiJson.Default.ActRequest, out var request) is { } invalid)
            {
                return invalid;
            }

            var actor = string.IsNullOrWhiteSpace(request?.Actor) ? caller.Name : request.Actor.Trim();
            var note = string.IsNullOrWhiteSpace(request?.Note) ? null : request.Note.Trim();
            if (actor.Length > 100 || note?.Length > 2000)
            {
                return ApiResult.BadRequest("actor is at most 100 characters, note at most 2000");
            }

            if (await VisibleAlertAsync(caller, alertId, cancellationToken).ConfigureAwait(false) is null)
            {
                return ApiResult.NotFound("alert");
            }

            var outcome = await record(alertId, actor, note, cancellationToken).ConfigureAwait(false);
            var stored = await _store.GetAlertAsync(alertId, cancellationToken).ConfigureAwait(false);
            if (outcome == HumanActOutcome.NotFound || stored is null)
            {
                return ApiResult.NotFound("alert");
            }

            if (outcome == HumanActOutcome.AlreadyDone)
            {
                var (at, by) = act == "resolved" ? (stored.ResolvedAt, stored.ResolvedBy) : (stored.AcknowledgedAt, stored.AcknowledgedBy);
                return ApiResult.Problem(409, $"the alert was already {act} by {by} at {Contract.EventTime.Format(at ?? default)}");
            }

            Feed.Publish(alertId);
            return ApiResult.Ok(AlertView(stored), ApiJson.Default.AlertView);
        }, cancellationToken);

    /// <summary>One page of <paramref name="scope"/>'s alerts after the filter is checked; <paramref name="key"/> names the scope for the token.</summary>
    private async Task<ApiResult> PageAsync(AlertQuery scope, string key, AlertFilter filter, CancellationToken cancellationToken)
    {
        if (ParseFilter(scope, key, filter, out var query, out var fingerprint) is { } invalid)
        {
            return ApiResult.BadRequest(invalid);
        }

        var found = await _store.QueryAlertsAsync(query with { Limit = query.Limit + 1 }, cancellationToken).ConfigureAwait(false);
        var items = found.Take(query.Limit).Select(AlertView).ToList();
        var next = found.Count > query.Limit ? ContinuationToken.Encode(Cursor(found[query.Limit - 1]), fingerprint) : null;
        return ApiResult.Ok(new AlertPage(items, next), ApiJson.Default.AlertPage);
    }

    private static string? ParseFilter(AlertQuery scope, string key, AlertFilter filter, out AlertQuery query, out string fingerprint)
    {
        query = scope;
        fingerprint = key;
        AlertState? state = filter.State switch
        {
            null => scope.State,
            "open" => AlertState.Open,
            "cleared" => AlertState.Cleared,
            _ => null,
        };
        if (filter.State is not null && state is null)
        {
            return "state must be open or cleared";
        }

        AlertType? type = scope.Type;
        if (filter.Type is not null)
        {
            if (!AlertNames.TryParseType(filter.Type, out var t))
            {
                return $"type must be one of {string.Join(", ", AlertNames.AllTypes)}";
            }

            type = t;
        }

        Severity? severity = scope.Severity;
        if (filter.Severity is not null)
        {
            if (!AlertNames.TryParseSeverity(filter.Severity, out var s))
            {
                return "severity must be warning or critical";
            }

            severity = s;
        }

        if (!TryTime(filter.From, out var from) || !TryTime(filter.To, out var to))
        {
            return "from and to must be RFC 3339 times, e.g. 2026-11-26T21:00:00Z";
        }

        if (from is not null && to is not null && from >= to)
        {
            return "from must be before to";
        }

        var limit = DefaultPageSize;
        if (filter.Limit is not null && (!int.TryParse(filter.Limit, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out limit) || limit is < 1 or > MaxPageSize))
        {
            return $"limit must be a whole number from 1 to {MaxPageSize}";
        }

        fingerprint = string.Join('|', key, state, type, severity, from?.ToUnixTimeMilliseconds(), to?.ToUnixTimeMilliseconds());
        AlertCursor? after = null;
        if (filter.ContinuationToken is { } token)
        {
            if (!ContinuationToken.TryDecode(token, fingerprint, out var cursor))
            {
                return "continuationToken is not one this query returned";
            }

            after = cursor;
        }

        query = scope with { State = state, Type = type, Severity = severity, From = from, To = to, After = after, Limit = limit };
        return null;
    }

    private static bool TryTime(string? text, out DateTimeOffset? time)
    {
        time = null;
        if (text is null)
        {
            return true;
        }

        if (!Contract.EventTime.TryParse(text, out DateTimeOffset parsed))
        {
            return false;
        }

        // Alerts open on whole milliseconds: a fraction below one moves the bound up to the next, so that `to`
        // (exclusive) still lists an alert opened before it and `from` does not list one opened before it.
        var ms = parsed.ToUnixTimeMilliseconds() + (parsed.UtcTicks % TimeSpan.TicksPerMillisecond == 0 ? 0 : 1);
        time = DateTimeOffset.FromUnixTimeMilliseconds(ms);
        return true;
    }

    /// <summary>Every alert matching <paramref name="query"/>, page by page.</summary>
    private async Task<List<StoredAlert>> AllAsync(AlertQuery query, CancellationToken cancellationToken)
    {
        var all = new List<StoredAlert>();
        while (true)
        {
            var page = await _store.QueryAlertsAsync(query with { Limit = MaxPageSize }, cancellationToken).ConfigureAwait(false);
            all.AddRange(page);
            if (page.Count < MaxPageSize)
            {
                return all;
            }

            query = query with { After = Cursor(page[^1]) };
        }
    }

    private static AlertCursor Cursor(StoredAlert stored) => new(stored.Alert.OpenedAt.ToUnixTimeMilliseconds(), stored.Alert.AlertId);

    private async Task<ApiResult> AsCallerAsync(string? apiKey, Func<Caller, Task<ApiResult>> handle, CancellationToken cancellationToken) =>
        await ApiKeys.AuthenticateAsync(_keys, apiKey, cancellationToken).ConfigureAwait(false) is { } caller
            ? await handle(caller).ConfigureAwait(false)
            : ApiResult.Unauthorized;

    private Site? VisibleSite(Caller caller, string siteId) =>
        _registry.TryGetSite(siteId, out var site) && caller.CanSee(site) ? site : null;

    /// <summary>The alert, if the caller may see it. An id no alert can have (a backslash, a slash) is not looked up: Cosmos DB refuses such ids with a 400 that became a 500 (found in review).</summary>
    private async Task<StoredAlert?> VisibleAlertAsync(Caller caller, string alertId, CancellationToken cancellationToken) =>
        Contract.Ids.IsValid(alertId) && await _store.GetAlertAsync(alertId, cancellationToken).ConfigureAwait(false) is { } stored && VisibleSite(caller, stored.Alert.SiteId) is not null
            ? stored
            : null;

    private static HashSet<string> Set(params IEnumerable<string> ids) => new(ids, StringComparer.Ordinal);

    /// <summary>Reads a JSON body (an empty one reads as null); answers the problem with it, or null.</summary>
    private static ApiResult? TryRead<T>(ReadOnlyMemory<byte> body, JsonTypeInfo<T> type, out T? value)
        where T : class
    {
        value = null;
        if (body.Length > MaxBodyBytes)
        {
            return ApiResult.Problem(413, $"the body is over {MaxBodyBytes} bytes");
        }

        if (body.Span.Trim(" \t\r\n"u8).IsEmpty)
        {
            return null;
        }

        try
        {
            value = JsonSerializer.Deserialize(body.Span, type);
            return null;
        }
        catch (JsonException e)
        {
            return ApiResult.BadRequest($"the body is not the expected JSON object: {e.Message}");
        }
    }
}
