using System.Runtime.CompilerServices;
using System.Text.Json;
using SmartPower.Alerts;
using SmartPower.Api.Access;
using SmartPower.Api.Live;
using SmartPower.Pipeline;

namespace SmartPower.Api;

/// <summary>
/// What a fire station's duty officers watch: the open critical alerts of the sites in its district that nobody has
/// resolved, as a page (<c>GET stations/{fireStation}/alerts</c>) or live (its <c>/stream</c>, the console's feed).
/// </summary>
public sealed partial class StatusApi
{
    /// <summary><c>GET stations/{fireStation}/alerts</c>: open, unresolved critical alerts of the station's sites, newest first.</summary>
    public Task<ApiResult> StationAlertsAsync(string? apiKey, string fireStation, string? limit, string? continuationToken, CancellationToken cancellationToken) =>
        AsCallerAsync(apiKey, caller => caller.Watches(fireStation)
            ? PageAsync(StationQuery(fireStation), $"station/{fireStation}", new AlertFilter(Limit: limit, ContinuationToken: continuationToken), cancellationToken)
            : Task.FromResult(ForbiddenStation), cancellationToken);

    /// <summary>
    /// <c>GET stations/{fireStation}/alerts/stream</c>: first a <c>snapshot</c> of the station's list, then an <c>alert</c>
    /// event for each alert that joins or changes on it, <c>removed</c> for each that leaves (cleared, resolved), and a
    /// <c>heartbeat</c> when nothing happened for <see cref="HeartbeatInterval"/>. Changes come from <see cref="Feed"/>,
    /// as the host stores them (the local host).
    /// </summary>
    public Task<LiveWatch> WatchStationAsync(string? apiKey, string fireStation, CancellationToken cancellationToken) =>
        WatchAsync(apiKey, fireStation, station => WatchAsync(station, fireStation, cancellationToken), cancellationToken);

    /// <summary>
    /// The same stream, the same events, for a host that does not see the changes as they are stored (the Functions
    /// app): the station's list is read every <see cref="StationPolling.Interval"/> and each alert that joined or
    /// changed since the last read is sent, each that left is <c>removed</c>; the stream ends after
    /// <see cref="StationPolling.Lifetime"/>. Like the live feed, it sends no event ids: every connection starts with a
    /// snapshot, which the console takes as the whole list, so nothing is lost across a reconnection.
    /// </summary>
    public Task<LiveWatch> PollStationAsync(string? apiKey, string fireStation, StationPolling polling, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(polling);
        return WatchAsync(apiKey, fireStation, station => PollAsync(station, fireStation, polling, cancellationToken), cancellationToken);
    }

    private async Task<LiveWatch> WatchAsync(string? apiKey, string fireStation, Func<AlertQuery, IAsyncEnumerable<LiveEvent>> events, CancellationToken cancellationToken)
    {
        var caller = await ApiKeys.AuthenticateAsync(_keys, apiKey, cancellationToken).ConfigureAwait(false);
        var refusal = caller is null ? ApiResult.Unauthorized : caller.Watches(fireStation) ? null : ForbiddenStation;
        return new LiveWatch(refusal, refusal is null ? WhileKeyHoldsAsync(apiKey!, fireStation, events(StationQuery(fireStation)), cancellationToken) : AsyncEnumerable.Empty<LiveEvent>());
    }

    /// <summary>
    /// The key is checked again before each event (heartbeats too): a key revoked while its stream is open (a console
    /// left running, a stolen key) ends the stream within a heartbeat instead of receiving the station's alerts for as
    /// long as the connection lasts.
    /// </summary>
    private async IAsyncEnumerable<LiveEvent> WhileKeyHoldsAsync(string apiKey, string fireStation, IAsyncEnumerable<LiveEvent> events, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var e in events.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            if (await ApiKeys.AuthenticateAsync(_keys, apiKey, cancellationToken).ConfigureAwait(false) is not { } caller || !caller.Watches(fireStation))
            {
                yield break;
            }

            yield return e;
        }
    }

    private static ApiResult ForbiddenStation { get; } = ApiResult.Forbidden("only that fire station's duty-officer keys (and admins) watch its alerts");

    /// <summary>
    /// The station's list: open alerts of its sites that nobody has resolved and that are critical, or warnings that
    /// escalation raised to the station (illegal charging or leakage nobody acknowledged in time).
    /// </summary>
    private AlertQuery StationQuery(string fireStation) =>
        new(Set(_sitesByStation[fireStation])) { State = AlertState.Open, CriticalOrRaisedToStation = true, UnresolvedOnly = true };

    private async IAsyncEnumerable<LiveEvent> WatchAsync(AlertQuery station, string fireStation, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var changes = Feed.Subscribe();
        yield return await SnapshotAsync(station, fireStation, cancellationToken).ConfigureAwait(false);
        var lastSent = _time.GetUtcNow();
        Task<bool>? waiting = null;
        while (!cancellationToken.IsCancellationRequested)
        {
            if (changes.Overflowed)
            {
                changes.Reset();
                yield return await SnapshotAsync(station, fireStation, cancellationToken).ConfigureAwait(false);
                lastSent = _time.GetUtcNow();
            }

            // The heartbeat is due a fixed time after the last event sent to this station, however often other
            // stations' changes wake the loop (a quiet station among busy ones would otherwise get none).
            var heartbeatIn = lastSent + HeartbeatInterval - _time.GetUtcNow();
            if (heartbeatIn <= TimeSpan.Zero)
            {
                yield return HeartbeatEvent();
                lastSent = _time.GetUtcNow();
                continue;
            }

            if (!changes.Changes.TryRead(out var alertId))
            {
                waiting ??= changes.Changes.WaitToReadAsync(cancellationToken).AsTask();
                if (await Task.WhenAny(waiting, Task.Delay(heartbeatIn, _time, cancellationToken)).ConfigureAwait(false) == waiting)
                {
                    waiting = null;
                }

                continue;
            }

            var stored = await _store.GetAlertAsync(alertId, cancellationToken).ConfigureAwait(false);
            if (stored is null || !station.SiteIds.Contains(stored.Alert.SiteId))
            {
                continue;
            }

            yield return station.Matches(stored) ? AlertEvent(stored) : RemovedEvent(alertId);
            lastSent = _time.GetUtcNow();
        }
    }

    private async IAsyncEnumerable<LiveEvent> PollAsync(AlertQuery station, string fireStation, StationPolling polling, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var ends = _time.GetUtcNow() + polling.Lifetime;
        var alerts = await AllAsync(station, cancellationToken).ConfigureAwait(false);
        var shown = alerts.ToDictionary(a => a.Alert.AlertId, a => AlertEvent(a).Data, StringComparer.Ordinal);
        yield return SnapshotEvent(fireStation, alerts);
        var lastSent = _time.GetUtcNow();
        while (true)
        {
            var left = ends - _time.GetUtcNow();
            if (left <= TimeSpan.Zero)
            {
                yield break;
            }

            await Task.Delay(left < polling.Interval ? left : polling.Interval, _time, cancellationToken).ConfigureAwait(false);
            if (_time.GetUtcNow() >= ends)
            {
                yield break;
            }

            // What the console would show now, compared with what it was sent: the same JSON is the same alert.
            var now = await AllAsync(station, cancellationToken).ConfigureAwait(false);
            var current = new Dictionary<string, string>(now.Count, StringComparer.Ordinal);
            var sent = false;
            foreach (var stored in Enumerable.Reverse(now))
            {
                var alert = AlertEvent(stored);
                current[stored.Alert.AlertId] = alert.Data;
                if (!shown.TryGetValue(stored.Alert.AlertId, out var before) || before != alert.Data)
                {
                    sent = true;
                    yield return alert;
                }
            }

            foreach (var gone in shown.Keys.Where(id => !current.ContainsKey(id)).ToList())
            {
                sent = true;
                yield return RemovedEvent(gone);
            }

            shown = current;
            if (sent)
            {
                lastSent = _time.GetUtcNow();
            }
            else if (_time.GetUtcNow() - lastSent >= HeartbeatInterval)
            {
                lastSent = _time.GetUtcNow();
                yield return HeartbeatEvent();
            }
        }
    }

    private async Task<LiveEvent> SnapshotAsync(AlertQuery station, string fireStation, CancellationToken cancellationToken) =>
        SnapshotEvent(fireStation, await AllAsync(station, cancellationToken).ConfigureAwait(false));

    // The stream's four events, one place for both feeds (and so for both hosts).
    private LiveEvent SnapshotEvent(string fireStation, IEnumerable<StoredAlert> alerts) =>
        Event("snapshot", new StationSnapshot(fireStation, _time.GetUtcNow(), [.. alerts.Select(AlertView)]), ApiJson.Default.StationSnapshot);

    private LiveEvent AlertEvent(StoredAlert stored) => Event("alert", AlertView(stored), ApiJson.Default.AlertView);

    private LiveEvent RemovedEvent(string alertId) => Event("removed", new StationNotice(alertId, _time.GetUtcNow()), ApiJson.Default.StationNotice);

    private LiveEvent HeartbeatEvent() => Event("heartbeat", new StationNotice(null, _time.GetUtcNow()), ApiJson.Default.StationNotice);

    private static LiveEvent Event<T>(string name, T data, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) =>
        new(name, JsonSerializer.Serialize(data, type));
}
