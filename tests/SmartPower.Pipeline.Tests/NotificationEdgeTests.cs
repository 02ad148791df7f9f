using System.Net;
using System.Text;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using SmartPower.Detection;
using SmartPower.Host;
using SmartPower.Notifications;
using SmartPower.Sqlite;
using SmartPower.Webhooks;

namespace SmartPower.Pipeline.Tests;

/// <summary>
/// The notification path (outbox, dispatcher, webhooks) in sequences found in review at stop 19, each of which failed
/// before its fix: redirects, a clock stepped back under pending retries, a hanging receiver on the new-delivery path.
/// </summary>
public sealed class NotificationEdgeTests : IAsyncLifetime
{
    private const string StationSecret = "station-secret-9876543210";
    private const string ManagerSecret = "manager-secret-0123456789";

    private readonly TempDirectory _directory = new("notification-edge");
    private SqliteStore _store = null!;

    public async Task InitializeAsync() => _store = await SqliteStore.OpenAsync(new SqliteStoreOptions { Path = _directory.File("store.db") });

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        SqliteConnection.ClearAllPools();
        _directory.Dispose();
    }

    /// <summary>
    /// Sequence: a critical alert's notifications are stored; the fire station's configured webhook answers the POST
    /// with 302 Found (Location: /moved on the same server, e.g. a reverse proxy sending a moved path to a login or status
    /// page), and GET /moved answers 200. The host's HttpClient (NotificationService) follows redirects by default, so it
    /// turns the POST into a GET without body and signature and takes the 200 of that GET as the delivery.
    /// What went wrong: the notification is recorded 'delivered' and never retried, though no receiver ever got its
    /// body: a critical alert lost with no trace of a failure.
    /// </summary>
    [Fact]
    public async Task A_302_redirect_is_a_failed_delivery_not_a_GET_whose_200_counts()
    {
        await using var station = new WebhookReceiver(FreePorts.Next(), (request, _) =>
            request.HttpMethod == "POST" ? (302, "/moved") : (200, null));
        station.Up();
        var notifications = await StoreCriticalAsync();
        var settings = Settings(station.Url, station.Url);
        await using var service = new NotificationService(_store, Story.Registry(), settings, NullLogger.Instance);

        await service.Dispatcher.DeliverDueAsync(CancellationToken.None);

        // No POST carrying a notification body was answered 2xx...
        Assert.DoesNotContain(station.Received, r => r.Method == "POST" && r.Status is >= 200 and < 300);

        // ...so no notification may be recorded as delivered: each must stay pending for a retry.
        foreach (var n in notifications)
        {
            var delivery = (await _store.GetDeliveriesAsync(n.AlertId, CancellationToken.None)).Single(d => d.NotificationId == n.NotificationId);
            Assert.NotEqual(DeliveryState.Delivered, delivery.State);
        }
    }

    /// <summary>
    /// Sequence: the configured webhook (its host taken over, or a misconfigured proxy) answers 307 Temporary Redirect
    /// with a Location on another origin (here another port). The host's HttpClient follows it: it re-posts the signed
    /// body with its X-SmartPower-Signature, Timestamp and Idempotency-Key headers to that other server, and records the
    /// other server's 200 as a delivery to the fire station.
    /// What went wrong: a signed notification (site, address, alert) goes to a server that is not the configured
    /// recipient, verifiable there and replayable within its 5 minutes, and the real recipient never gets it
    /// (recorded 'delivered', never retried).
    /// </summary>
    [Fact]
    public async Task A_307_redirect_to_another_origin_is_not_followed_with_the_signed_body()
    {
        await using var elsewhere = new WebhookReceiver(FreePorts.Next(), (_, _) => (200, null));
        await using var station = new WebhookReceiver(FreePorts.Next(), (_, _) => (307, elsewhere.At("/collect").ToString()));
        elsewhere.Up();
        station.Up();
        var notifications = await StoreCriticalAsync();
        var settings = Settings(station.Url, station.Url);
        await using var service = new NotificationService(_store, Story.Registry(), settings, NullLogger.Instance);

        await service.Dispatcher.DeliverDueAsync(CancellationToken.None);

        Assert.NotEmpty(station.Received); // the configured webhook was asked
        Assert.Empty(elsewhere.Received); // a signed body must never be posted to a URL that was not configured
        foreach (var n in notifications)
        {
            var delivery = (await _store.GetDeliveriesAsync(n.AlertId, CancellationToken.None)).Single(d => d.NotificationId == n.NotificationId);
            Assert.NotEqual(DeliveryState.Delivered, delivery.State);
        }
    }

    /// <summary>
    /// Sequence: the host's clock runs an hour fast; a critical alert is stored and its first attempts fail (the
    /// receivers briefly unreachable), so each is scheduled for a retry 1-2 s later, by that fast clock. NTP then
    /// steps the clock back the hour. The receivers are up again at once; a minute passes.
    /// What went wrong: the retries' next_attempt_at is still an hour ahead of the corrected clock, and GetDueAsync only
    /// takes rows with next_attempt_at &lt;= now, so the critical alert's notifications to the manager and the fire
    /// station wait an hour for a retry that was due in 2 s. (The earlier fix made only new notifications due at once.)
    /// </summary>
    [Fact]
    public async Task After_the_clock_steps_back_a_failed_critical_notification_is_retried_within_its_backoff_not_an_hour_later()
    {
        var time = new SettableTime(DateTimeOffset.UtcNow.AddHours(1)); // fast by an hour
        await using var store = await SqliteStore.OpenAsync(new SqliteStoreOptions { Path = _directory.File("stepped.db") }, time);
        var (opened, _) = EscalationStoreContractTests.Lifecycle(Alerts.Severity.Critical);
        var notifications = Notification.ForTransitions([opened], Story.Registry());
        await store.CommitAsync(new BatchCommit(0, [opened], [], null) { Notifications = notifications }, CancellationToken.None);

        var down = true;
        var notifier = new DelegateNotifier((_, _) => Task.FromResult(down ? DeliveryResult.Failure(null, "connection refused") : DeliveryResult.Success(200)));
        var dispatcher = new OutboxDispatcher(store, notifier, DeliveryRetry.Default, time);
        await dispatcher.DeliverDueAsync(CancellationToken.None); // first attempts fail: retry in 1-2 s

        time.Now -= TimeSpan.FromHours(1); // NTP steps the clock back
        down = false;
        time.Now += TimeSpan.FromMinutes(1); // far past any first retry's 2 s
        await dispatcher.DeliverDueAsync(CancellationToken.None);

        foreach (var delivery in await store.GetDeliveriesAsync(opened.Alert.AlertId, CancellationToken.None))
        {
            Assert.Equal(DeliveryState.Delivered, delivery.State);
        }
    }

    /// <summary>
    /// Sequence (Azure: NotifyingAlertChanges and EscalationFunction call DeliverNewAsync with what they added): a change
    /// feed batch holds several critical alerts of sites under one manager; each alert's notifications are the manager's
    /// then the fire station's. The manager's webhook hangs (each attempt until the HttpClient's 10 s timeout).
    /// What went wrong: DeliverNewAsync posts one notification at a time, so the fire station's notification of the
    /// n-th alert waits for n hung manager attempts (100 alerts: over 16 minutes) before its first attempt, the very
    /// head-of-line blocking the local dispatcher was fixed for (MaxParallel, MaxPerRecipient are not applied here).
    /// Here the manager hangs until released; the fire station's notifications must all be sent meanwhile.
    /// </summary>
    [Fact]
    public async Task DeliverNewAsync_does_not_hold_the_fire_station_behind_a_hanging_manager_webhook()
    {
        var (opened, _) = EscalationStoreContractTests.Lifecycle(Alerts.Severity.Critical);
        var added = Enumerable.Range(0, 5)
            .SelectMany(i => Notification.For(opened.Alert with { AlertId = $"alert-{i}" }, "opened", opened.Alert.OpenedAt.AddSeconds(i), null, false, Story.Registry()))
            .ToList();
        Assert.Equal(10, added.Count);
        await _store.CommitAsync(new BatchCommit(0, [], [], null) { Notifications = added }, CancellationToken.None);

        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var stationSent = 0;
        var allStationsSent = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var notifier = new DelegateNotifier(async (n, ct) =>
        {
            if (n.Recipient.Kind == RecipientKind.Manager)
            {
                await release.Task.WaitAsync(ct); // hangs (in production: until the 10 s timeout)
                return DeliveryResult.Failure(null, "no answer within 10 s");
            }

            if (Interlocked.Increment(ref stationSent) == 5)
            {
                allStationsSent.TrySetResult();
            }

            return DeliveryResult.Success(200);
        });
        var dispatcher = new OutboxDispatcher(_store, notifier);
        var delivering = dispatcher.DeliverNewAsync(added, CancellationToken.None);
        try
        {
            await allStationsSent.Task.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (TimeoutException)
        {
            Assert.Fail($"with the manager's webhook hanging, {Volatile.Read(ref stationSent)} of 5 fire-station notifications were sent");
        }
        finally
        {
            release.TrySetResult();
            await delivering;
        }
    }

    private static NotificationSettings Settings(Uri manager, Uri station) => NotificationSettings.Default with
    {
        Webhooks = new WebhookEndpoints([
            new WebhookEndpoint(RecipientKind.Manager, "pm-greenleaf", manager, ManagerSecret),
            new WebhookEndpoint(RecipientKind.FireStation, "xihu-3", station, StationSecret)]),
    };

    /// <summary>The story's first critical transition stored with its notifications (manager and fire station), as the consumer stores it.</summary>
    private async Task<IReadOnlyList<Notification>> StoreCriticalAsync()
    {
        var engine = new DetectionEngine(Story.Registry());
        var sink = new CollectingSink();
        foreach (var (_, topic, payload) in Story.Messages(seconds: 900))
        {
            engine.Process(Encoding.UTF8.GetBytes(topic), Encoding.UTF8.GetBytes(payload), sink);
        }

        var critical = sink.Transitions.First(t => t.Alert.Severity == Alerts.Severity.Critical);
        var notifications = Notification.ForTransitions([critical], Story.Registry());
        Assert.Equal(2, notifications.Count);
        await _store.CommitAsync(new BatchCommit(0, [critical], [], null) { Notifications = notifications }, CancellationToken.None);
        return notifications;
    }
}

internal sealed class SettableTime(DateTimeOffset now) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = now;

    public override DateTimeOffset GetUtcNow() => Now;
}

internal sealed class DelegateNotifier(Func<PendingNotification, CancellationToken, Task<DeliveryResult>> send) : INotifier
{
    public Task<DeliveryResult> SendAsync(PendingNotification notification, int attempt, CancellationToken cancellationToken) => send(notification, cancellationToken);
}
