using System.Globalization;
using SmartPower.Alerts;

namespace SmartPower.Escalation;

/// <summary>The time limits of escalation. Wall-clock durations: they measure how long people have had to react.</summary>
public sealed record EscalationOptions
{
    public static EscalationOptions Default { get; } = new();

    /// <summary>A warning not acknowledged this long after it was stored is escalated.</summary>
    public TimeSpan AcknowledgeWithin { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>An acknowledged critical alert still open this long after its acknowledgement re-alarms.</summary>
    public TimeSpan ReAlarmCriticalAfter { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>An acknowledged warning still open this long after its acknowledgement re-alarms.</summary>
    public TimeSpan ReAlarmWarningAfter { get; init; } = TimeSpan.FromMinutes(60);

    public TimeSpan ReAlarmAfter(Severity severity) => severity == Severity.Critical ? ReAlarmCriticalAfter : ReAlarmWarningAfter;
}

/// <summary>
/// An open alert as escalation sees it: when it was first stored (wall clock), when a person acknowledged it (if
/// anyone has), and which escalation steps its history already holds.
/// </summary>
public sealed record AlertWatch(Alert Alert, DateTimeOffset StoredAt, DateTimeOffset? AcknowledgedAt, bool Escalated, bool ReAlarmed);

/// <summary>
/// One escalation step, to be recorded in the alert's history (kind, time, reason) and notified. <see cref="At"/> is
/// the moment the limit ran out, not the moment it was noticed, so the step is the same whenever and however often it
/// is computed: recorded once, notified once.
/// </summary>
public sealed record EscalationStep(Alert Alert, string Kind, DateTimeOffset At, string Reason, bool RaisedToFireStation)
{
    /// <summary>Once recorded (<see cref="Escalator.RunOnceAsync"/>): the notifications the recording added to the outbox.</summary>
    public IReadOnlyList<Notifications.Notification> Added { get; init; } = [];
}

/// <summary>
/// Escalation as deployed programmes run it: the owner first, then the next tier. Pure: it decides from an
/// <see cref="AlertWatch"/> and the time; the host's timer asks, the store records.
/// <list type="bullet">
/// <item>A <c>warning</c> still open and not acknowledged <see cref="EscalationOptions.AcknowledgeWithin"/> after it was
/// stored is <c>escalated</c>: notified again to the manager and, for <c>illegal-charging</c> and <c>leakage</c> (the
/// fire hazards a warning can be), raised to the duty officers of the site's fire station. Critical alerts already go
/// to both.</item>
/// <item>An acknowledged alert still open <see cref="EscalationOptions.ReAlarmAfter"/> after its acknowledgement is
/// <c>re-alarmed</c>: notified again to everyone it has gone to (the fire station too if it was escalated there).</item>
/// </list>
/// Each step happens at most once per alert. A cleared alert has nothing left to escalate.
/// </summary>
public sealed class EscalationPolicy(EscalationOptions? options = null)
{
    public const string Escalated = "escalated";
    public const string ReAlarmed = "re-alarmed";

    private readonly EscalationOptions _options = options ?? EscalationOptions.Default;

    public EscalationOptions Options => _options;

    /// <summary>Whether an unacknowledged warning of this type is raised to the fire station.</summary>
    public static bool RaisesToFireStation(AlertType type) => type is AlertType.IllegalCharging or AlertType.Leakage;

    /// <summary>The steps due for <paramref name="watch"/> at <paramref name="now"/> and not yet taken.</summary>
    public IReadOnlyList<EscalationStep> Due(AlertWatch watch, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(watch);
        var alert = watch.Alert;
        if (alert.State != AlertState.Open)
        {
            return [];
        }

        var steps = new List<EscalationStep>(1);
        if (!watch.Escalated && alert.Severity == Severity.Warning)
        {
            // Due if not acknowledged within the limit: an acknowledgement after it (while no pass ran, a host down) is
            // too late, and the step is taken late, once.
            var due = watch.StoredAt + _options.AcknowledgeWithin;
            if (now >= due && (watch.AcknowledgedAt is not { } acknowledgedAt || acknowledgedAt > due))
            {
                var raised = RaisesToFireStation(alert.Type);
                var reason = $"not acknowledged within {Describe(_options.AcknowledgeWithin)}: notified again"
                    + (raised ? ", and raised to the duty officers of the site's fire station" : "");
                steps.Add(new EscalationStep(alert, Escalated, due, reason, raised));
            }
        }

        if (!watch.ReAlarmed && watch.AcknowledgedAt is { } acknowledged)
        {
            var limit = _options.ReAlarmAfter(alert.Severity);
            var due = acknowledged + limit;
            if (now >= due)
            {
                var raised = (watch.Escalated || steps.Count > 0) && RaisesToFireStation(alert.Type); // escalated now or before
                steps.Add(new EscalationStep(alert, ReAlarmed, due, $"still open {Describe(limit)} after it was acknowledged", raised));
            }
        }

        return steps;
    }

    /// <summary><c>15 min</c>, <c>90 s</c>, <c>2 h</c>: a limit as people say it.</summary>
    public static string Describe(TimeSpan limit) =>
        limit.TotalHours >= 1 && limit.TotalHours % 1 == 0 ? string.Create(CultureInfo.InvariantCulture, $"{limit.TotalHours:0} h")
        : limit.TotalMinutes >= 1 && limit.TotalMinutes % 1 == 0 ? string.Create(CultureInfo.InvariantCulture, $"{limit.TotalMinutes:0} min")
        : string.Create(CultureInfo.InvariantCulture, $"{limit.TotalSeconds:0.###} s");
}
