using SmartPower.Alerts;

namespace SmartPower.Pipeline;

/// <summary>An alert as stored, when it was first stored (wall clock), and what people did about it.</summary>
public sealed record StoredAlert(Alert Alert, DateTimeOffset StoredAt)
{
    public DateTimeOffset? AcknowledgedAt { get; init; }

    public string? AcknowledgedBy { get; init; }

    public DateTimeOffset? ResolvedAt { get; init; }

    public string? ResolvedBy { get; init; }

    /// <summary>When escalation raised this (warning) alert to the duty officers of its site's fire station, if it did.</summary>
    public DateTimeOffset? RaisedToStationAt { get; init; }
}

/// <summary>
/// One entry of an alert's history: the engine's <c>opened</c>/<c>updated</c>/<c>cleared</c> (at event time), or a
/// person's <c>acknowledged</c>/<c>resolved</c> (at wall-clock time, with actor and note).
/// </summary>
public sealed record StoredTransition(string Kind, DateTimeOffset At, Alert Alert, DateTimeOffset StoredAt)
{
    public string? Actor { get; init; }

    public string? Note { get; init; }
}

/// <summary>What an acknowledge or resolve did.</summary>
public enum HumanActOutcome
{
    Done,
    AlreadyDone,
    NotFound,
}

/// <summary>A device's latest status as stored.</summary>
public sealed record StoredDevice(string DeviceId, string SiteId, string? ReadingJson, DateTimeOffset HeardAt, bool? Online);
