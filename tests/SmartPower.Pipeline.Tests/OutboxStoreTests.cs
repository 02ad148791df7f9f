using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;
using SmartPower.Alerts;
using SmartPower.Escalation;
using SmartPower.Notifications;
using SmartPower.Sqlite;

namespace SmartPower.Pipeline.Tests;

/// <summary>
/// The SQLite outbox and escalation records: notifications land with their transitions or not at all, a replay adds
/// none, and an escalation step is in the history once, across restarts. The escalation clock is a
/// <see cref="FakeTimeProvider"/>: its limits are a quarter of an hour and more.
/// </summary>
public sealed class OutboxStoreTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Start = new(2026, 11, 26, 21, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory _directory = new("outbox");
    private readonly FakeTimeProvider _time = new(Start);
    private SqliteStore _store = null!;

    private string Database => _directory.File("store.db");

    public async Task InitializeAsync() => _store = await SqliteStore.OpenAsync(new SqliteStoreOptions { Path = Database }, _time);

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        SqliteConnection.ClearAllPools();
        _directory.Dispose();
    }

    [Fact]
    public async Task Notifications_are_stored_with_their_transitions_and_a_replayed_batch_adds_none()
    {
        var (opened, cleared) = Lifecycle(severity: Severity.Critical);
        var batch = Batch(opened, cleared);
        Assert.Equal(4, batch.Notifications.Count); // two steps, each to the manager and the fire station
        await _store.CommitAsync(batch, CancellationToken.None);
        _time.Advance(TimeSpan.FromMinutes(1));
        await _store.CommitAsync(batch, CancellationToken.None); // a replay after a crash before the checkpoint
        await _store.CommitAsync(Batch(opened), CancellationToken.None); // or from an older checkpoint

        var due = await _store.GetDueAsync(_time.GetUtcNow(), 100, CancellationToken.None);
        Assert.Equal(batch.Notifications.Select(n => n.NotificationId).Order(StringComparer.Ordinal), due.Select(d => d.NotificationId).Order(StringComparer.Ordinal));
        Assert.All(due, d => Assert.Equal(Start, d.CreatedAt));
    }

    [Fact]
    public async Task A_batch_that_fails_stores_neither_its_transitions_nor_its_notifications()
    {
        var (opened, _) = Lifecycle(severity: Severity.Critical);
        var good = Batch(opened);
        var broken = good with { Notifications = [.. good.Notifications, good.Notifications[0] with { NotificationId = "x", Body = null! }] };
        await Assert.ThrowsAnyAsync<InvalidOperationException>(() => _store.CommitAsync(broken, CancellationToken.None)); // after the alert's rows
        Assert.Empty(await _store.GetAlertsAsync());
        Assert.Null(await _store.GetNextDueAsync(CancellationToken.None));

        await _store.CommitAsync(good, CancellationToken.None);
        Assert.Single(await _store.GetAlertsAsync());
        Assert.NotNull(await _store.GetNextDueAsync(CancellationToken.None)); // due at once
    }

    [Fact]
    public async Task An_escalation_step_is_recorded_once_in_the_history_with_its_reason_and_notifications_across_restarts()
    {
        var (opened, _) = Lifecycle(severity: Severity.Warning);
        var id = opened.Alert.AlertId;
        await _store.CommitAsync(Batch(opened), CancellationToken.None);
        var escalator = new Escalator(_store, Story.Registry(), time: _time);

        _time.Advance(TimeSpan.FromMinutes(15) - TimeSpan.FromMilliseconds(1));
        Assert.Empty(await escalator.RunOnceAsync(CancellationToken.None));
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Single(await escalator.RunOnceAsync(CancellationToken.None));
        Assert.Empty(await escalator.RunOnceAsync(CancellationToken.None));

        // A restart: the store reopened, a new escalator, later.
        await _store.DisposeAsync();
        _store = await SqliteStore.OpenAsync(new SqliteStoreOptions { Path = Database }, _time);
        _time.Advance(TimeSpan.FromMinutes(10));
        escalator = new Escalator(_store, Story.Registry(), time: _time);
        Assert.Empty(await escalator.RunOnceAsync(CancellationToken.None));

        var escalated = Assert.Single(await _store.GetTransitionsAsync(id), t => t.Kind == EscalationPolicy.Escalated);
        Assert.Equal(Start.AddMinutes(15), escalated.At);
        Assert.Equal("not acknowledged within 15 min: notified again, and raised to the duty officers of the site's fire station", escalated.Note);
        Assert.Null(escalated.Actor);
        var deliveries = await _store.GetDeliveriesAsync(id, CancellationToken.None);
        Assert.Equal(
            ["opened manager", "escalated manager", "escalated fire-station"],
            deliveries.Select(d => $"{d.Kind} {d.Recipient.KindName}"));

        // Acknowledged, and still open an hour later: re-alarmed, once, to the manager and (it was escalated) the fire station.
        Assert.Equal(HumanActOutcome.Done, await _store.AcknowledgeAsync(id, "pm-zhao", "on my way"));
        var acknowledged = _time.GetUtcNow();
        _time.Advance(TimeSpan.FromMinutes(60));
        var step = Assert.Single(await escalator.RunOnceAsync(CancellationToken.None));
        Assert.Equal((EscalationPolicy.ReAlarmed, acknowledged.AddMinutes(60)), (step.Kind, step.At));
        _time.Advance(TimeSpan.FromHours(1));
        Assert.Empty(await escalator.RunOnceAsync(CancellationToken.None));
        Assert.Equal(
            ["opened", "escalated", "acknowledged", "re-alarmed"],
            (await _store.GetTransitionsAsync(id)).Select(t => t.Kind));
        Assert.Equal(5, (await _store.GetDeliveriesAsync(id, CancellationToken.None)).Count);
    }

    private static BatchCommit Batch(params AlertTransition[] transitions) =>
        new(0, transitions, [], null) { Notifications = Notification.ForTransitions(transitions, Story.Registry()) };

    /// <summary>A leakage incident on m-0001 opening and clearing: critical at 400 mA, a warning at 150 mA held 5 minutes.</summary>
    private static (AlertTransition Opened, AlertTransition Cleared) Lifecycle(Severity severity)
    {
        var feed = new Feed();
        var (level, until) = severity == Severity.Critical ? (400.0, 30.0) : (150.0, 600.0);
        feed.MeterSeries("m-0001", 0, 1500, _ => 5, leakageMa: s => s >= 10 && s < until ? level : 2);
        var transitions = feed.Of(AlertType.Leakage).ToArray();
        Assert.All(transitions, t => Assert.Equal(severity, t.Alert.Severity));
        return (transitions.Single(t => t.Kind == TransitionKind.Opened), transitions.Single(t => t.Kind == TransitionKind.Cleared));
    }
}
