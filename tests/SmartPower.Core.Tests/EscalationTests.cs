using Microsoft.Extensions.Time.Testing;
using SmartPower.Alerts;
using SmartPower.Escalation;
using SmartPower.Notifications;
using SmartPower.Registry;

namespace SmartPower.Tests;

/// <summary>
/// Escalation at and around its limits. The clock is a <see cref="FakeTimeProvider"/>: the limits are a quarter of an
/// hour and more, and each test steps to a millisecond either side of them instead of waiting.
/// </summary>
public sealed class EscalationTests
{
    private static readonly DateTimeOffset Stored = new(2026, 11, 26, 21, 0, 0, TimeSpan.Zero);
    private static readonly DeviceRegistry Registry = RegistryLoader.Parse(Feed.RegistryJson);

    private readonly FakeTimeProvider _time = new(Stored);
    private readonly MemoryEscalationStore _store = new();

    [Fact]
    public async Task A_warning_nobody_acknowledges_is_escalated_at_its_limit_and_not_a_millisecond_before()
    {
        _store.Add(Alert(AlertType.Overload, Severity.Warning), Stored);
        var escalator = new Escalator(_store, Registry, time: _time);

        _time.Advance(TimeSpan.FromMinutes(15) - TimeSpan.FromMilliseconds(1));
        Assert.Empty(await escalator.RunOnceAsync(CancellationToken.None));

        _time.Advance(TimeSpan.FromMilliseconds(1));
        var step = Assert.Single(await escalator.RunOnceAsync(CancellationToken.None));
        Assert.Equal(EscalationPolicy.Escalated, step.Kind);
        Assert.Equal(Stored.AddMinutes(15), step.At);
        Assert.Equal("not acknowledged within 15 min: notified again", step.Reason);

        // Notified again to the manager only: an overload warning is not a fire station's business.
        var notified = Assert.Single(_store.Recorded).Notifications;
        Assert.Equal([new Recipient(RecipientKind.Manager, "pm-greenleaf")], notified.Select(n => n.Recipient));

        _time.Advance(TimeSpan.FromHours(3));
        Assert.Empty(await escalator.RunOnceAsync(CancellationToken.None));
        Assert.Single(_store.Recorded);
    }

    [Theory]
    [InlineData(AlertType.IllegalCharging, true)]
    [InlineData(AlertType.Leakage, true)]
    [InlineData(AlertType.Overload, false)]
    [InlineData(AlertType.Overtemperature, false)]
    [InlineData(AlertType.Offline, false)]
    public async Task Illegal_charging_and_leakage_warnings_are_raised_to_the_fire_station(AlertType type, bool raised)
    {
        _store.Add(Alert(type, Severity.Warning), Stored);
        _time.Advance(TimeSpan.FromMinutes(15));
        var step = Assert.Single(await new Escalator(_store, Registry, time: _time).RunOnceAsync(CancellationToken.None));

        Assert.Equal(raised, step.RaisedToFireStation);
        Assert.Equal(raised, step.Reason.EndsWith("raised to the duty officers of the site's fire station", StringComparison.Ordinal));
        var expected = raised ? new[] { "manager pm-greenleaf", "fire-station xihu-3" } : ["manager pm-greenleaf"];
        Assert.Equal(expected, _store.Recorded[0].Notifications.Select(n => n.Recipient.ToString()));
    }

    [Fact]
    public async Task A_warning_acknowledged_within_its_limit_is_not_escalated()
    {
        var alert = Alert(AlertType.IllegalCharging, Severity.Warning);
        _store.Add(alert, Stored);
        var escalator = new Escalator(_store, Registry, time: _time);
        _time.Advance(TimeSpan.FromMinutes(15) - TimeSpan.FromMilliseconds(1));
        _store.Acknowledge(alert.AlertId, _time.GetUtcNow());

        _time.Advance(TimeSpan.FromMinutes(30));
        Assert.Empty(await escalator.RunOnceAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Critical_and_cleared_alerts_are_not_escalated()
    {
        _store.Add(Alert(AlertType.Leakage, Severity.Critical), Stored); // already went to the fire station
        _store.Add(Alert(AlertType.Overload, Severity.Warning, AlertState.Cleared, device: "m-0002"), Stored); // the hazard is gone
        _time.Advance(TimeSpan.FromHours(2));
        Assert.Empty(await new Escalator(_store, Registry, time: _time).RunOnceAsync(CancellationToken.None));
    }

    [Theory]
    [InlineData(Severity.Critical, 30, "30 min")]
    [InlineData(Severity.Warning, 60, "1 h")]
    public async Task An_acknowledged_alert_still_open_re_alarms_at_its_limit_once(Severity severity, int limitMinutes, string limit)
    {
        var alert = Alert(AlertType.ArcFault, severity);
        _store.Add(alert, Stored);
        var escalator = new Escalator(_store, Registry, time: _time);
        _time.Advance(TimeSpan.FromMinutes(2));
        var acknowledged = _time.GetUtcNow();
        _store.Acknowledge(alert.AlertId, acknowledged);

        _time.Advance(TimeSpan.FromMinutes(limitMinutes) - TimeSpan.FromMilliseconds(1));
        Assert.Empty(await escalator.RunOnceAsync(CancellationToken.None));

        _time.Advance(TimeSpan.FromMilliseconds(1));
        var step = Assert.Single(await escalator.RunOnceAsync(CancellationToken.None));
        Assert.Equal(EscalationPolicy.ReAlarmed, step.Kind);
        Assert.Equal(acknowledged.AddMinutes(limitMinutes), step.At);
        Assert.Equal($"still open {limit} after it was acknowledged", step.Reason);
        var expected = severity == Severity.Critical ? new[] { "manager pm-greenleaf", "fire-station xihu-3" } : ["manager pm-greenleaf"];
        Assert.Equal(expected, _store.Recorded[0].Notifications.Select(n => n.Recipient.ToString()));

        _time.Advance(TimeSpan.FromHours(5));
        Assert.Empty(await escalator.RunOnceAsync(CancellationToken.None));
    }

    [Fact]
    public async Task An_escalated_leakage_warning_that_re_alarms_tells_the_fire_station_again()
    {
        var alert = Alert(AlertType.Leakage, Severity.Warning);
        _store.Add(alert, Stored);
        var escalator = new Escalator(_store, Registry, time: _time);
        _time.Advance(TimeSpan.FromMinutes(15));
        Assert.Single(await escalator.RunOnceAsync(CancellationToken.None));
        _time.Advance(TimeSpan.FromMinutes(5));
        _store.Acknowledge(alert.AlertId, _time.GetUtcNow());

        _time.Advance(TimeSpan.FromMinutes(60));
        var step = Assert.Single(await escalator.RunOnceAsync(CancellationToken.None));
        Assert.Equal(EscalationPolicy.ReAlarmed, step.Kind);
        Assert.True(step.RaisedToFireStation);
        Assert.Equal(["manager pm-greenleaf", "fire-station xihu-3"], _store.Recorded[1].Notifications.Select(n => n.Recipient.ToString()));
    }

    [Fact]
    public async Task The_limits_are_configurable()
    {
        var policy = new EscalationPolicy(new EscalationOptions { AcknowledgeWithin = TimeSpan.FromSeconds(90), ReAlarmWarningAfter = TimeSpan.FromHours(2) });
        var alert = Alert(AlertType.Overtemperature, Severity.Warning);
        _store.Add(alert, Stored);
        var escalator = new Escalator(_store, Registry, policy, _time);

        _time.Advance(TimeSpan.FromSeconds(90));
        Assert.Equal("not acknowledged within 90 s: notified again", Assert.Single(await escalator.RunOnceAsync(CancellationToken.None)).Reason);
        _store.Acknowledge(alert.AlertId, _time.GetUtcNow());
        _time.Advance(TimeSpan.FromHours(2) - TimeSpan.FromMilliseconds(1));
        Assert.Empty(await escalator.RunOnceAsync(CancellationToken.None));
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal("still open 2 h after it was acknowledged", Assert.Single(await escalator.RunOnceAsync(CancellationToken.None)).Reason);
    }

    [Fact]
    public async Task A_step_noticed_late_or_again_after_a_restart_is_the_same_step_and_is_recorded_once()
    {
        var alert = Alert(AlertType.IllegalCharging, Severity.Warning);
        _store.Add(alert, Stored);

        // The host was down when the limit ran out: the step is dated at the limit, not when it was noticed.
        _time.Advance(TimeSpan.FromMinutes(47));
        var step = Assert.Single(await new Escalator(_store, Registry, time: _time).RunOnceAsync(CancellationToken.None));
        Assert.Equal(Stored.AddMinutes(15), step.At);
        var ids = _store.Recorded[0].Notifications.Select(n => n.NotificationId).ToArray();
        Assert.Equal(ids, Notification.For(alert, EscalationPolicy.Escalated, Stored.AddMinutes(15), step.Reason, true, Registry).Select(n => n.NotificationId));

        // A fresh escalator (a restarted host) over the same history, and the policy asked about a stale view of it.
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.Empty(await new Escalator(_store, Registry, time: _time).RunOnceAsync(CancellationToken.None));
        var stale = new AlertWatch(alert, Stored, null, Escalated: false, ReAlarmed: false);
        var again = Assert.Single(new EscalationPolicy().Due(stale, _time.GetUtcNow()));
        Assert.Null(await _store.RecordAsync(again, [], CancellationToken.None));
        Assert.Single(_store.Recorded);
    }

    [Fact]
    public void A_leakage_warning_acknowledged_late_whose_re_alarm_is_due_in_the_same_pass_re_alarms_the_fire_station_too()
    {
        // Acknowledged 20 min after it was stored (its 15 min ran out unseen); a pass only an hour after that finds
        // both steps due at once: the re-alarm goes where the escalation just went, the fire station included.
        var watch = new AlertWatch(Alert(AlertType.Leakage, Severity.Warning), Stored, Stored.AddMinutes(20), Escalated: false, ReAlarmed: false);
        var steps = new EscalationPolicy().Due(watch, Stored.AddMinutes(90));
        Assert.Equal([(EscalationPolicy.Escalated, true), (EscalationPolicy.ReAlarmed, true)], steps.Select(s => (s.Kind, s.RaisedToFireStation)));
    }

    private static Alert Alert(AlertType type, Severity severity, AlertState state = AlertState.Open, string device = "m-0001") => new(
        SmartPower.Alerts.Alert.IdFor(Feed.Site, device, type, null, Feed.T0.ToUnixTimeMilliseconds()),
        type,
        severity,
        device,
        Feed.Site,
        null,
        Feed.T0,
        state == AlertState.Cleared ? Feed.T0.AddMinutes(5) : null,
        state,
        new Evidence([]));

    /// <summary>The escalation side of a store, in memory: open alerts, acknowledgements, and the steps recorded.</summary>
    private sealed class MemoryEscalationStore : IEscalationStore
    {
        private readonly Dictionary<string, (Alert Alert, DateTimeOffset StoredAt, DateTimeOffset? AcknowledgedAt)> _alerts = [];

        public List<(EscalationStep Step, IReadOnlyList<Notification> Notifications)> Recorded { get; } = [];

        public void Add(Alert alert, DateTimeOffset storedAt) => _alerts[alert.AlertId] = (alert, storedAt, null);

        public void Acknowledge(string alertId, DateTimeOffset at) => _alerts[alertId] = _alerts[alertId] with { AcknowledgedAt = at };

        public Task<IReadOnlyList<AlertWatch>> GetWatchesAsync(CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyList<AlertWatch>>([.. _alerts.Values.Where(a => a.Alert.State == AlertState.Open).Select(a => new AlertWatch(
                a.Alert, a.StoredAt, a.AcknowledgedAt, Taken(a.Alert.AlertId, EscalationPolicy.Escalated), Taken(a.Alert.AlertId, EscalationPolicy.ReAlarmed)))]);

        public Task<IReadOnlyList<Notification>?> RecordAsync(EscalationStep step, IReadOnlyList<Notification> notifications, CancellationToken cancellationToken)
        {
            if (Recorded.Any(r => r.Step.Alert.AlertId == step.Alert.AlertId && r.Step.Kind == step.Kind && r.Step.At == step.At))
            {
                return Task.FromResult<IReadOnlyList<Notification>?>(null);
            }

            Recorded.Add((step, notifications));
            return Task.FromResult<IReadOnlyList<Notification>?>(notifications);
        }

        private bool Taken(string alertId, string kind) => Recorded.Any(r => r.Step.Alert.AlertId == alertId && r.Step.Kind == kind);
    }
}
