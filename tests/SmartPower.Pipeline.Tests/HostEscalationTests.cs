using SmartPower.Escalation;
using SmartPower.Notifications;
using SmartPower.Webhooks;

namespace SmartPower.Pipeline.Tests;

/// <summary>
/// Escalation's timer in the running host: devices over MQTT raise an overload warning that nobody acknowledges, and
/// the host escalates it and posts the step. Real time, so the limit is set to 1 s (the limits themselves are tested
/// with a fake clock in the core's EscalationTests).
/// </summary>
public sealed class HostEscalationTests
{
    [Fact]
    public async Task The_host_escalates_an_unacknowledged_warning_and_posts_the_step()
    {
        await using var receiver = new WebhookReceiver(FreePorts.Next());
        receiver.Up();
        const string secret = "host-escalation-secret-0123";
        await using var harness = await PipelineHarness.StartAsync(configure: o =>
        {
            o.Notifications = NotificationSettings.Default with
            {
                Webhooks = new WebhookEndpoints([new WebhookEndpoint(RecipientKind.Manager, WebhookEndpoint.AnyId, receiver.Url, secret)]),
                Escalation = new EscalationOptions { AcknowledgeWithin = TimeSpan.FromSeconds(1) },
            };
            o.EscalationCheck = TimeSpan.FromMilliseconds(100);
        });
        await using var meter = await harness.ConnectAsync("m-0002");
        foreach (var (_, topic, payload) in Story.Messages().Where(m => m.DeviceId == "m-0002"))
        {
            await meter.PublishReliablyAsync(topic, payload, CancellationToken.None);
        }

        await harness.WaitCaughtUpAsync();
        var overload = Assert.Single(await harness.Pipeline.Store.GetAlertsAsync()).Alert;
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (!receiver.Received.Any(r => r.Body.Contains("\"kind\":\"escalated\"", StringComparison.Ordinal)) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        var history = await harness.Pipeline.Store.GetTransitionsAsync(overload.AlertId);
        var escalated = Assert.Single(history, t => t.Kind == EscalationPolicy.Escalated);
        Assert.Equal("not acknowledged within 1 s: notified again", escalated.Note);
        Assert.Equal(["opened", "escalated"], receiver.Received.Select(r => System.Text.Json.JsonDocument.Parse(r.Body).RootElement.GetProperty("transition").GetProperty("kind").GetString()));
        Assert.All(receiver.Received, r => Assert.True(r.IsSignedWith(secret)));
    }
}
