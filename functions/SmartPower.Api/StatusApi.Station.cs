using System.Runtime.CompilerServices;
using System.Text.Json;
using SmartPower.Alerts;
using SmartPower.Api.Access;
using SmartPower.Api.Live;

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
    /// <c>heartbeat</c> when nothing happened for <see cref="HeartbeatInterval"/>.
    /// </summary>
    public async Task<LiveWatch> WatchStationAsync(string? apiKey, string fireStation, CancellationToken cancellationToken)
    {
        var caller = await ApiKeys.AuthenticateAsync(_keys, apiKey, cancellationToken).ConfigureAwait(false);
        var refusal = caller is null ? ApiResult.Unauthorized : caller.Watches(fireStation) ? null : ForbiddenStation;
        return new LiveWatch(refusal, refusal is null ? WatchAsync(StationQuery(fireStation), fireStation, cancellationToken) : AsyncEnumerable.Empty<LiveEvent>());
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
        Task<bool>? waiting = null;
        while (!cancellationToken.IsCancellationRequested)
        {
            if (changes.Overflowed)
            {
                changes.Reset();
                yield return await SnapshotAsync(station, fireStation, cancellationToken).ConfigureAwait(false);
            }

            if (!changes.Changes.TryRead(out var alertId))
            {
                waiting ??= changes.Changes.WaitToReadAsync(cancellationToken).AsTask();
                var heartbeat = Task.Delay(HeartbeatInterval, _time, cancellationToken);
                if (await Task.WhenAny(waiting, heartbeat).ConfigureAwait(false) == waiting)
                {
                    waiting = null;
                }
                else if (!cancellationToken.IsCancellationRequested)
                {
                    yield return Event("heartbeat", new StationNotice(null, _time.GetUtcNow()), ApiJson.Default.StationNotice);
                }

                continue;
            }

            var stored = await _store.GetAlertAsync(alertId, cancellationToken).ConfigureAwait(false);
            if (stored is null || !station.SiteIds.Contains(stored.Alert.SiteId))
            {
                continue;
            }

            yield return station.Matches(stored)
                ? Event("alert", AlertView(stored), ApiJson.Default.AlertView)
                : Event("removed", new StationNotice(alertId, _time.GetUtcNow()), ApiJson.Default.StationNotice);
        }
    }

    private async Task<LiveEvent> SnapshotAsync(AlertQuery station, string fireStation, CancellationToken cancellationToken)
    {
        var alerts = await AllAsync(station, cancellationToken).ConfigureAwait(false);
        return Event("snapshot", new StationSnapshot(fireStation, _time.GetUtcNow(), [.. alerts.Select(AlertView)]), ApiJson.Default.StationSnapshot);
    }

    private static LiveEvent Event<T>(string name, T data, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) =>
        new(name, JsonSerializer.Serialize(data, type));
}
