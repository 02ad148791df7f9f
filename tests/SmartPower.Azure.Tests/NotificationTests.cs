using System.Text.Json;
using Microsoft.Azure.Cosmos;
using SmartPower.Alerts;
using SmartPower.Cosmos;
using SmartPower.Functions;
using SmartPower.Notifications;
using SmartPower.Webhooks;

namespace SmartPower.Azure.Tests;

/// <summary>
/// Notifications on Azure: alert documents as the change feed delivers them go through the local host's notifier (the
/// core's routing, the outbox in Cosmos DB on the test server, the dispatcher, signed webhooks) to a real HTTP receiver.
/// The outbox's two queries (due notifications, an alert's deliveries) run only on Azure; the retry here is driven the
/// way the <c>outbox</c> timer drives it, one notification at a time.
/// </summary>
public sealed class NotificationTests : CosmosNightTests
{
    private const string ManagerSecret = "manager-secret-0123456789";
    private const string StationSecret = "station-secret-0123456789";
    private readonly WebhookReceiver _receiver = new(FreePorts.Next());
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(5) };

    [Fact]
    public async Task Each_transition_in_a_changed_alert_is_posted_once_to_each_recipient_signed()
    {
        _receiver.Up();
        var leakage = Night.Transitions.Where(t => t.Alert.Type == AlertType.Leakage).ToList(); // critical: the manager and the fire station
        await Store.CommitAsync(new BatchCommit(0, leakage, [], null), CancellationToken.None);
        var function = new NotificationFunction(Changes());
        var document = await DocumentAsync(leakage[0].Alert.AlertId);

        await function.RunAsync([document], CancellationToken.None);
        await function.RunAsync([document], CancellationToken.None); // the change feed delivers at least once
        var received = _receiver.Received;
        Assert.Equal(leakage.Count * 2, received.Count);
        Assert.Equal(received.Count, received.Select(r => r.IdempotencyKey).Distinct().Count());
        Assert.Equal(leakage.Count, received.Count(r => r.IsSignedWith(ManagerSecret)));
        Assert.Equal(leakage.Count, received.Count(r => r.IsSignedWith(StationSecret)));
        foreach (var r in received)
        {
            var delivery = await Store.GetDeliveryAsync(r.IdempotencyKey);
            Assert.Equal((DeliveryState.Delivered, 1), (delivery!.State, delivery.Attempts.Count));
            Assert.Equal(leakage[0].Alert.AlertId, delivery.AlertId);
        }
    }

    [Fact]
    public async Task A_notification_whose_receiver_is_down_stays_pending_with_its_next_attempt_and_is_delivered_later()
    {
        var overload = Night.Transitions.Where(t => t.Alert.Type == AlertType.Overload && t.Kind == TransitionKind.Opened).ToList(); // warning: the manager
        await Store.CommitAsync(new BatchCommit(0, overload, [], null), CancellationToken.None);
        var dispatcher = Dispatcher();
        await new NotificationFunction(new NotifyingAlertChanges(Night.Registry, Store, dispatcher)).RunAsync([await DocumentAsync(overload[0].Alert.AlertId)], CancellationToken.None);

        var id = Notification.ForTransitions(overload, Night.Registry).Single().NotificationId;
        var pending = await Store.GetDeliveryAsync(id);
        Assert.Equal(DeliveryState.Pending, pending!.State);
        var attempt = Assert.Single(pending.Attempts);
        Assert.NotNull(attempt.Error);
        Assert.NotNull(attempt.NextAttemptAt);

        _receiver.Up();
        Assert.Equal(DeliveryState.Delivered, await dispatcher.DeliverAsync(new PendingNotification(id, pending.Recipient, Notification.ForTransitions(overload, Night.Registry).Single().Body, 1, pending.CreatedAt), CancellationToken.None));
        Assert.Equal([DeliveryState.Delivered], [(await Store.GetDeliveryAsync(id))!.State]);
        Assert.True(Assert.Single(_receiver.Received).IsSignedWith(ManagerSecret));
    }

    [Fact]
    public async Task A_change_to_an_alert_a_month_on_does_not_notify_its_first_steps_again()
    {
        // The outbox keeps finished notifications 30 days; after that an acknowledgement of a still-open alert brings
        // its whole history through the change feed again, and the opening would be sent a second time (found in review).
        var leakage = Night.Transitions.Where(t => t.Alert.Type == AlertType.Leakage && t.Kind == TransitionKind.Opened).ToList();
        await Store.CommitAsync(new BatchCommit(0, leakage, [], null), CancellationToken.None);
        var document = await DocumentAsync(leakage[0].Alert.AlertId);
        var aMonthOn = new ManualTime(DateTimeOffset.UtcNow + Store.OutboxRetention);
        var dispatcher = Dispatcher();
        await new NotificationFunction(new NotifyingAlertChanges(Night.Registry, Store, dispatcher, aMonthOn)).RunAsync([document], CancellationToken.None);
        foreach (var n in Notification.ForTransitions(leakage, Night.Registry))
        {
            Assert.Null(await Store.GetDeliveryAsync(n.NotificationId));
        }

        Assert.Empty(_receiver.Received);
    }

    public override async Task DisposeAsync()
    {
        await _receiver.DisposeAsync();
        _http.Dispose();
        await base.DisposeAsync();
    }

    private NotifyingAlertChanges Changes() => new(Night.Registry, Store, Dispatcher());

    private OutboxDispatcher Dispatcher() => new(Store, new WebhookNotifier(_http, new WebhookEndpoints(
    [
        new WebhookEndpoint(RecipientKind.Manager, "pm-greenleaf", _receiver.Url, ManagerSecret),
        new WebhookEndpoint(RecipientKind.FireStation, "xihu-3", _receiver.Url, StationSecret),
    ])));

    private async Task<JsonElement> DocumentAsync(string alertId)
    {
        using var response = await CosmosServer.Client.GetContainer(Options.Database, CosmosSchema.Alerts).ReadItemStreamAsync(alertId, new PartitionKey(alertId));
        using var document = await JsonDocument.ParseAsync(response.Content);
        return document.RootElement.Clone();
    }
}
