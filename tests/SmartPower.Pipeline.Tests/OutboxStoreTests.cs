using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Data.Sqlite;
using SmartPower.Alerts;
using SmartPower.Escalation;
using SmartPower.Notifications;
using SmartPower.Sqlite;
using SmartPower.Webhooks;

namespace SmartPower.Pipeline.Tests;

/// <summary>
/// The SQLite outbox: notifications land with their transitions or not at all, a replay adds none; and notifications and
/// escalation at their edges (a configuration that comes late, a host down for a day, a clock stepped back, an
/// acknowledgement after the limit: each found in review, failing on the old code). Escalation's records are the
/// escalation store contract's (<see cref="SqliteEscalationTests"/>).
/// </summary>
public sealed class OutboxStoreTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Start = new(2026, 11, 26, 21, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory _directory = new("outbox");
    private readonly SettableTime _time = new(Start);
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
        _time.Now += TimeSpan.FromMinutes(1);
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

    /// <summary>
    /// A critical alert stored while no webhook is configured for the fire station (local: a host started without
    /// --notifications; Azure: the Key Vault reference not resolved at start). It was made undeliverable at its first
    /// attempt and never tried again; now it is retried, and goes once the webhook is configured.
    /// </summary>
    [Fact]
    public async Task A_critical_notification_stored_while_no_webhook_was_configured_is_delivered_once_one_is()
    {
        var (opened, _) = EscalationStoreContractTests.Lifecycle(Severity.Critical);
        await _store.CommitAsync(Batch(opened), CancellationToken.None);

        using var http = new HttpClient();
        var unconfigured = new OutboxDispatcher(_store, new WebhookNotifier(http, WebhookEndpoints.None, _time), DeliveryRetry.Default, _time);
        await unconfigured.DeliverDueAsync(CancellationToken.None);

        // The operator fixes the configuration and restarts: the receiver is up and answers 200.
        var receiver = new RecordingNotifier(_ => DeliveryResult.Success(200));
        var configured = new OutboxDispatcher(_store, receiver, DeliveryRetry.Default, _time);
        _time.Now += TimeSpan.FromMinutes(5);
        await configured.DeliverDueAsync(CancellationToken.None);

        var station = (await _store.GetDeliveriesAsync(opened.Alert.AlertId, CancellationToken.None)).Single(d => d.Recipient.Kind == RecipientKind.FireStation);
        Assert.Equal(DeliveryState.Delivered, station.State);
    }

    /// <summary>
    /// A notification that waited out a host's outage of more than 24 h, whose first attempt fails (the network not up
    /// yet at boot): it was abandoned at once, the give-up time counted from when it was written; now it gets its day.
    /// </summary>
    [Fact]
    public async Task A_notification_that_waited_out_a_day_long_outage_is_not_abandoned_at_its_first_failure()
    {
        var (opened, _) = EscalationStoreContractTests.Lifecycle(Severity.Critical);
        await _store.CommitAsync(Batch(opened), CancellationToken.None);

        _time.Now += TimeSpan.FromHours(25); // host down (or dispatcher stuck) for a day
        var firstFails = new RecordingNotifier(attempt => attempt == 1 ? DeliveryResult.Failure(null, "network unreachable") : DeliveryResult.Success(200));
        var dispatcher = new OutboxDispatcher(_store, firstFails, DeliveryRetry.Default, _time);
        await dispatcher.DeliverDueAsync(CancellationToken.None);

        var station = (await _store.GetDeliveriesAsync(opened.Alert.AlertId, CancellationToken.None)).Single(d => d.Recipient.Kind == RecipientKind.FireStation);
        Assert.Single(station.Attempts);
        Assert.Equal(DeliveryState.Pending, station.State);
    }

    /// <summary>
    /// The wall clock steps back an hour (NTP correcting a fast clock). The store's stamps stayed ahead of it, so a new
    /// critical alert's notifications were not due until the clock caught up; now the stamps follow the clock.
    /// </summary>
    [Fact]
    public async Task After_the_clock_steps_back_a_new_critical_notification_is_due_at_once()
    {
        _time.Now = Start.AddHours(1); // clock fast by an hour
        var earlier = new Notification("earlier", "alert-x", "opened", Start, new Recipient(RecipientKind.Manager, "pm-greenleaf"), "{}");
        await _store.CommitAsync(new BatchCommit(0, [], [], null) { Notifications = [earlier] }, CancellationToken.None); // any write

        _time.Now = Start; // NTP steps it back
        var (opened, _) = EscalationStoreContractTests.Lifecycle(Severity.Critical);
        await _store.CommitAsync(Batch(opened), CancellationToken.None);

        var due = await _store.GetDueAsync(_time.GetUtcNow(), 100, CancellationToken.None);
        var expected = Notification.ForTransitions([opened], Story.Registry()).Select(n => n.NotificationId).ToHashSet();
        Assert.Subset(due.Select(d => d.NotificationId).ToHashSet(), expected);
    }

    /// <summary>
    /// A warning whose limit ran out while no escalation pass ran (a host down, passes failing, the Azure timer's 30 s),
    /// acknowledged afterwards: the acknowledgement came too late, so the step is taken late, once, and for leakage or
    /// illegal charging the fire station is told. It was never escalated (the policy asked "acknowledged at all?").
    /// </summary>
    [Fact]
    public async Task A_warning_acknowledged_after_its_limit_but_before_a_pass_ran_is_still_raised_to_the_fire_station()
    {
        var (opened, _) = EscalationStoreContractTests.Lifecycle(Severity.Warning);
        await _store.CommitAsync(Batch(opened), CancellationToken.None);

        _time.Now = Start.AddMinutes(20); // the limit ran out at +15; no pass ran since (host restarting, pass failing)
        Assert.Equal(HumanActOutcome.Done, await _store.AcknowledgeAsync(opened.Alert.AlertId, "pm", null));
        _time.Now += TimeSpan.FromSeconds(5);
        var steps = await new Escalator(_store, Story.Registry(), time: _time).RunOnceAsync(CancellationToken.None);

        var step = Assert.Single(steps);
        Assert.Equal(Start.AddMinutes(15), step.At);
        Assert.True(step.RaisedToFireStation);
    }

    /// <summary>
    /// A manager webhook that hangs (each attempt to the 10 s timeout in production, 50 ms here) with 320 notifications
    /// pending for it: a new critical alert's notification to a fire station whose receiver is up must not wait behind
    /// that backlog. It did (one queue by due time, 64 at a time: (pending / 8) x timeout, minutes in production); now a
    /// notification never tried comes first, and a pass takes at most four of one recipient's.
    /// </summary>
    [Fact]
    public async Task A_hanging_receiver_s_backlog_does_not_hold_up_a_new_critical_notification_to_another()
    {
        await using var store = await SqliteStore.OpenAsync(new SqliteStoreOptions { Path = _directory.File("hol.db") });
        var backlog = Enumerable.Range(0, 320)
            .Select(i => new Notification($"backlog-{i:D4}", $"alert-{i}", "opened", Start, new Recipient(RecipientKind.Manager, "pm-greenleaf"), "{}"))
            .ToList();
        await store.CommitAsync(new BatchCommit(0, [], [], null) { Notifications = backlog }, CancellationToken.None);

        var delivered = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
        var clock = new Stopwatch();
        var notifier = new DelegateNotifier(async (n, ct) =>
        {
            if (n.Recipient.Kind == RecipientKind.Manager)
            {
                await Task.Delay(50, ct); // hangs until the client's timeout
                return DeliveryResult.Failure(null, "no answer within 10 s");
            }

            delivered.TrySetResult(clock.Elapsed);
            return DeliveryResult.Success(200);
        });
        var dispatcher = new OutboxDispatcher(store, notifier);
        using var cts = new CancellationTokenSource();
        var run = Task.Run(() => dispatcher.RunAsync(cts.Token));
        await Task.Delay(300); // the backlog is being retried

        var (opened, _) = EscalationStoreContractTests.Lifecycle(Severity.Critical);
        clock.Start();
        await store.CommitAsync(Batch(opened), CancellationToken.None);
        dispatcher.Wake();
        var latency = await delivered.Task.WaitAsync(TimeSpan.FromSeconds(60));
        await cts.CancelAsync();
        await run;

        Assert.True(latency < TimeSpan.FromSeconds(1), $"the fire station got the critical alert {latency.TotalMilliseconds:0} ms after it was stored");
    }

    private static BatchCommit Batch(params AlertTransition[] transitions) =>
        new(0, transitions, [], null) { Notifications = Notification.ForTransitions(transitions, Story.Registry()) };

    private static (AlertTransition Opened, AlertTransition Cleared) Lifecycle(Severity severity) => EscalationStoreContractTests.Lifecycle(severity);

    private sealed class SettableTime(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    private sealed class RecordingNotifier(Func<int, DeliveryResult> answer) : INotifier
    {
        public ConcurrentBag<string> Sent { get; } = [];

        public Task<DeliveryResult> SendAsync(PendingNotification notification, int attempt, CancellationToken cancellationToken)
        {
            Sent.Add(notification.NotificationId);
            return Task.FromResult(answer(attempt));
        }
    }

    private sealed class DelegateNotifier(Func<PendingNotification, CancellationToken, Task<DeliveryResult>> send) : INotifier
    {
        public Task<DeliveryResult> SendAsync(PendingNotification notification, int attempt, CancellationToken cancellationToken) => send(notification, cancellationToken);
    }
}
