using SmartPower.Alerts;
using SmartPower.Pipeline;

namespace SmartPower.Api;

/// <summary>Where a page of alerts ends: the last alert's <c>openedAt</c> and id (alerts are ordered newest first, then by id).</summary>
public readonly record struct AlertCursor(long OpenedAtMs, string AlertId);

/// <summary>
/// Which alerts to list: those of <see cref="SiteIds"/> matching every filter given, newest first. The store runs it
/// as a query; <see cref="Matches"/> is the same test for one alert in memory (a live watcher's).
/// </summary>
public sealed record AlertQuery(IReadOnlySet<string> SiteIds)
{
    public string? DeviceId { get; init; }

    public AlertState? State { get; init; }

    public AlertType? Type { get; init; }

    public Severity? Severity { get; init; }

    /// <summary>Opened at or after (event time).</summary>
    public DateTimeOffset? From { get; init; }

    /// <summary>Opened before (event time).</summary>
    public DateTimeOffset? To { get; init; }

    /// <summary>Leave out alerts a person has resolved.</summary>
    public bool UnresolvedOnly { get; init; }

    /// <summary>Only critical alerts and warnings that escalation raised to the fire station: a duty officer's list.</summary>
    public bool CriticalOrRaisedToStation { get; init; }

    /// <summary>Continue after this alert.</summary>
    public AlertCursor? After { get; init; }

    public int Limit { get; init; } = 50;

    /// <summary>Whether <paramref name="stored"/> is one of the alerts this query lists (paging aside).</summary>
    public bool Matches(StoredAlert stored)
    {
        ArgumentNullException.ThrowIfNull(stored);
        var a = stored.Alert;
        return SiteIds.Contains(a.SiteId)
            && (DeviceId is null || a.DeviceId == DeviceId)
            && (State is null || a.State == State)
            && (Type is null || a.Type == Type)
            && (Severity is null || a.Severity == Severity)
            && (From is null || a.OpenedAt >= From)
            && (To is null || a.OpenedAt < To)
            && (!UnresolvedOnly || stored.ResolvedAt is null)
            && (!CriticalOrRaisedToStation || a.Severity == Alerts.Severity.Critical || stored.RaisedToStationAt is not null);
    }
}

/// <summary>
/// What the status API reads and records: the port the store implements (SQLite locally, Cosmos DB on Azure). Alert
/// history is whatever the store holds, of any kind (the engine's transitions, people's acts, escalations).
/// </summary>
public interface IStatusStore
{
    /// <summary>Alerts matching <paramref name="query"/>, newest first (<c>openedAt</c> descending, then id), at most its limit.</summary>
    Task<IReadOnlyList<StoredAlert>> QueryAlertsAsync(AlertQuery query, CancellationToken cancellationToken);

    Task<StoredAlert?> GetAlertAsync(string alertId, CancellationToken cancellationToken);

    /// <summary>One alert's history, oldest first.</summary>
    Task<IReadOnlyList<StoredTransition>> GetTransitionsAsync(string alertId, CancellationToken cancellationToken);

    /// <summary>The latest status of every device of a site that has been heard from.</summary>
    Task<IReadOnlyList<StoredDevice>> GetDevicesAsync(string siteId, CancellationToken cancellationToken);

    Task<StoredDevice?> GetDeviceAsync(string deviceId, CancellationToken cancellationToken);

    Task<HumanActOutcome> AcknowledgeAsync(string alertId, string actor, string? note, CancellationToken cancellationToken);

    Task<HumanActOutcome> ResolveAsync(string alertId, string actor, string? note, CancellationToken cancellationToken);
}
