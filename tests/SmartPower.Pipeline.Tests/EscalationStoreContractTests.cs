using System.Collections.Concurrent;
using Microsoft.Extensions.Time.Testing;
using SmartPower.Alerts;
using SmartPower.Api;
using SmartPower.Escalation;
using SmartPower.Notifications;
using SmartPower.Registry;

namespace SmartPower.Pipeline.Tests;

/// <summary>
/// The escalation store contract every <see cref="IEscalationStore"/> passes (SQLite here, Cosmos DB in
/// SmartPower.Azure.Tests against a real server): a step is in the alert's history once, with its reason, across
/// repeated, restarted and concurrent passes; its notifications are in the outbox once; a step that raises the alert to
/// the fire station puts it in the station's listing. The clock is a <see cref="FakeTimeProvider"/>: the limits are a
/// quarter of an hour and more. How each store finds its watches is its own (SQL locally; the Cosmos DB query runs
/// only on Azure, so there the test answers it by point reads with the query's condition).
/// </summary>
public abstract class EscalationStoreContractTests : IAsyncLifetime
{
    protected static readonly DateTimeOffset Start = new(2026, 11, 26, 21, 0, 0, TimeSpan.Zero);

    protected FakeTimeProvider Time { get; } = new(Start);

    protected DeviceRegistry Registry { get; } = RegistryLoader.Parse(Feed.RegistryJson);

    /// <summary>The alerts this test stored (for a store whose watches the test answers by point reads).</summary>
    protected ConcurrentQueue<string> StoredAlerts { get; } = new();

    protected abstract IPipelineStore Store { get; }

    protected abstract IEscalationStore Escalation { get; }

    /// <summary>The same store's outbox.</summary>
    protected abstract IOutboxStore Outbox { get; }

    public abstract Task InitializeAsync();

    public abstract Task DisposeAsync();

    /// <summary>The store closed and opened again over the same data (a restart of the host).</summary>
    protected abstract Task RestartAsync();

    protected abstract Task<StoredAlert?> GetAlertAsync(string alertId);

    protected abstract Task<IReadOnlyList<StoredTransition>> GetTransitionsAsync(string alertId);

    protected abstract Task<HumanActOutcome> AcknowledgeAsync(string alertId, string actor, string? note);

    /// <summary>Every notification in the outbox for <paramref name="alertId"/>.</summary>
    protected abstract Task<IReadOnlyList<NotificationDelivery>> GetDeliveriesAsync(string alertId);

    [Fact]
    public async Task An_escalation_step_is_recorded_once_in_the_history_with_its_reason_and_notifications_across_restarts()
    {
        var id = await StoreWarningAsync();
        var escalator = new Escalator(Escalation, Registry, time: Time);

        Time.Advance(TimeSpan.FromMinutes(15) - TimeSpan.FromMilliseconds(1));
        Assert.Empty(await escalator.RunOnceAsync(CancellationToken.None));
        Time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Single(await escalator.RunOnceAsync(CancellationToken.None));
        Assert.Empty(await escalator.RunOnceAsync(CancellationToken.None));

        // A restart: the store reopened, a new escalator, later.
        await RestartAsync();
        Time.Advance(TimeSpan.FromMinutes(10));
        escalator = new Escalator(Escalation, Registry, time: Time);
        Assert.Empty(await escalator.RunOnceAsync(CancellationToken.None));

        var escalated = Assert.Single(await GetTransitionsAsync(id), t => t.Kind == EscalationPolicy.Escalated);
        Assert.Equal(Start.AddMinutes(15), escalated.At);
        Assert.Equal("not acknowledged within 15 min: notified again, and raised to the duty officers of the site's fire station", escalated.Note);
        Assert.Null(escalated.Actor);
        Assert.Equal(["escalated manager", "escalated fire-station"], await EscalationDeliveriesAsync(id));

        // Raised to the fire station: in the station's listing although it is a warning.
        var stored = await GetAlertAsync(id);
        Assert.Equal(Start.AddMinutes(15), stored!.RaisedToStationAt);
        Assert.True(StationListing().Matches(stored));

        // Acknowledged, and still open an hour later: re-alarmed, once, to the manager and (it was escalated) the fire station.
        Assert.Equal(HumanActOutcome.Done, await AcknowledgeAsync(id, "pm-zhao", "on my way"));
        var acknowledged = Time.GetUtcNow();
        Time.Advance(TimeSpan.FromMinutes(60));
        var step = Assert.Single(await escalator.RunOnceAsync(CancellationToken.None));
        Assert.Equal((EscalationPolicy.ReAlarmed, acknowledged.AddMinutes(60)), (step.Kind, step.At));
        Time.Advance(TimeSpan.FromHours(1));
        Assert.Empty(await escalator.RunOnceAsync(CancellationToken.None));
        Assert.Equal(["opened", "escalated", "acknowledged", "re-alarmed"], (await GetTransitionsAsync(id)).Select(t => t.Kind));
        Assert.Equal(["escalated manager", "escalated fire-station", "re-alarmed manager", "re-alarmed fire-station"], await EscalationDeliveriesAsync(id));
        Assert.Equal(Start.AddMinutes(15), (await GetAlertAsync(id))!.RaisedToStationAt); // the first raise stays
    }

    [Fact]
    public async Task A_delivered_notification_stays_delivered_when_a_racing_deliverer_records_its_own_attempt()
    {
        // On Azure the change feed and the escalation timer can both post a new escalation's notification: the first
        // record of an attempt stands, and a delivered notification never goes back to pending (to be sent again).
        var id = await StoreWarningAsync();
        var alert = (await GetAlertAsync(id))!.Alert;
        var step = new EscalationStep(alert, EscalationPolicy.Escalated, Start.AddMinutes(15), "not acknowledged within 15 min", RaisedToFireStation: false);
        var notification = Notification.For(alert, step.Kind, step.At, step.Reason, step.RaisedToFireStation, Registry)[0];
        Assert.NotNull(await Escalation.RecordAsync(step, [notification], CancellationToken.None));

        var now = Time.GetUtcNow();
        await Outbox.RecordAttemptAsync(notification.NotificationId, new DeliveryAttempt(1, now, 200, null, TimeSpan.FromMilliseconds(40), null), DeliveryState.Delivered, CancellationToken.None);
        await Outbox.RecordAttemptAsync(notification.NotificationId, new DeliveryAttempt(1, now, null, "timed out", TimeSpan.FromSeconds(10), now.AddSeconds(2)), DeliveryState.Pending, CancellationToken.None);

        var delivery = Assert.Single(await GetDeliveriesAsync(id), d => d.NotificationId == notification.NotificationId);
        Assert.Equal(DeliveryState.Delivered, delivery.State);
        Assert.Equal(200, Assert.Single(delivery.Attempts).StatusCode);
    }

    [Fact]
    public async Task Concurrent_passes_record_a_step_once_with_its_notifications_once()
    {
        var id = await StoreWarningAsync();
        Time.Advance(TimeSpan.FromMinutes(20));
        var passes = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(() => new Escalator(Escalation, Registry, time: Time).RunOnceAsync(CancellationToken.None))));
        var recorded = Assert.Single(passes.SelectMany(p => p));
        Assert.Equal((EscalationPolicy.Escalated, Start.AddMinutes(15)), (recorded.Kind, recorded.At)); // dated when the limit ran out
        Assert.Single(await GetTransitionsAsync(id), t => t.Kind == EscalationPolicy.Escalated);
        Assert.Equal(["escalated manager", "escalated fire-station"], await EscalationDeliveriesAsync(id));
    }

    [Fact]
    public async Task Recording_a_step_the_history_holds_or_of_an_unknown_alert_writes_nothing()
    {
        var id = await StoreWarningAsync();
        var alert = (await GetAlertAsync(id))!.Alert;
        var step = new EscalationStep(alert, EscalationPolicy.Escalated, Start.AddMinutes(15), "not acknowledged within 15 min", RaisedToFireStation: false);
        var notifications = Notification.For(alert, step.Kind, step.At, step.Reason, step.RaisedToFireStation, Registry);
        Assert.Equal(notifications.Select(n => n.NotificationId), (await Escalation.RecordAsync(step, notifications, CancellationToken.None))!.Select(n => n.NotificationId));
        var added = Assert.Single(await GetDeliveriesAsync(id), d => d.Kind == EscalationPolicy.Escalated); // a warning not raised: the manager only
        Assert.Equal(RecipientKind.Manager, added.Recipient.Kind);
        Time.Advance(TimeSpan.FromMinutes(1));
        Assert.Null(await Escalation.RecordAsync(step, notifications, CancellationToken.None));
        Assert.Null(await Escalation.RecordAsync(step with { Alert = alert with { AlertId = "no-such-alert" } }, notifications, CancellationToken.None));

        Assert.Single(await GetTransitionsAsync(id), t => t.Kind == EscalationPolicy.Escalated);
        var delivery = Assert.Single(await GetDeliveriesAsync(id), d => d.Kind == EscalationPolicy.Escalated);
        Assert.Equal((added.NotificationId, added.CreatedAt), (delivery.NotificationId, delivery.CreatedAt)); // added once, not again a minute later
        Assert.Null((await GetAlertAsync(id))!.RaisedToStationAt);
        Assert.False(StationListing().Matches((await GetAlertAsync(id))!));
    }

    /// <summary>A leakage incident on m-0001 opening and clearing: critical at 400 mA, a warning at 150 mA held 5 minutes.</summary>
    public static (AlertTransition Opened, AlertTransition Cleared) Lifecycle(Severity severity)
    {
        var feed = new Feed();
        var (level, until) = severity == Severity.Critical ? (400.0, 30.0) : (150.0, 600.0);
        feed.MeterSeries("m-0001", 0, 1500, _ => 5, leakageMa: s => s >= 10 && s < until ? level : 2);
        var transitions = feed.Of(AlertType.Leakage).ToArray();
        Assert.All(transitions, t => Assert.Equal(severity, t.Alert.Severity));
        return (transitions.Single(t => t.Kind == TransitionKind.Opened), transitions.Single(t => t.Kind == TransitionKind.Cleared));
    }

    /// <summary>A leakage warning opened and stored now (wall clock <see cref="Start"/>): a fire hazard, so escalation raises it.</summary>
    protected async Task<string> StoreWarningAsync()
    {
        var (opened, _) = Lifecycle(Severity.Warning);
        await Store.CommitAsync(new BatchCommit(0, [opened], [], null) { Notifications = Notification.ForTransitions([opened], Registry) }, CancellationToken.None);
        StoredAlerts.Enqueue(opened.Alert.AlertId);
        return opened.Alert.AlertId;
    }

    /// <summary>The site's fire station's listing, as <c>GET stations/{fireStation}/alerts</c> asks for it.</summary>
    protected static AlertQuery StationListing() =>
        new(new HashSet<string> { Feed.Site }) { State = AlertState.Open, CriticalOrRaisedToStation = true, UnresolvedOnly = true };

    /// <summary>The escalation steps' notifications in the outbox for the alert, "kind recipient", in the order of the steps.</summary>
    protected async Task<string[]> EscalationDeliveriesAsync(string alertId) =>
    [
        .. (await GetDeliveriesAsync(alertId))
            .Where(d => d.Kind is EscalationPolicy.Escalated or EscalationPolicy.ReAlarmed)
            .OrderBy(d => d.At).ThenBy(d => d.Recipient.Kind)
            .Select(d => $"{d.Kind} {d.Recipient.KindName}"),
    ];
}
