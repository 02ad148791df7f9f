using System.Globalization;
using System.Text;
using SmartPower.Detection;
using SmartPower.Notifications;
using SmartPower.Sqlite;

using Xunit.Abstractions;

namespace SmartPower.Pipeline.Tests;

/// <summary>
/// At least once across a crash, for real: the host as a child process posting to a real receiver that is down, the
/// host killed (SIGKILL) and restarted while it is still down, then the receiver up. Every notification of every
/// transition arrives; a duplicate is allowed only as at-least-once allows (the same idempotency key and body). Real
/// time with a short retry schedule (0.2-1 s, set in the notifications file); the ten-minute outage itself, with the
/// default schedule, is <see cref="WebhookDeliveryTests"/>' with a fake clock.
/// </summary>
public sealed class NotificationRecoveryTests(ITestOutputHelper output) : IDisposable
{
    private const string Secret = "recovery-secret-0123456789";
    private readonly TempDirectory _directory = new("notify-crash");

    [Fact]
    public async Task A_killed_host_loses_no_notification_for_a_receiver_that_was_down_throughout()
    {
        var (registryPath, db, tokens) = await HostProcess.PrepareAsync(_directory, Story.Devices);
        await using var receiver = new WebhookReceiver(FreePorts.Next()); // down: nothing listens yet
        var settings = _directory.File("notifications.json");
        await File.WriteAllTextAsync(settings, $$$"""
            {"webhooks":[{"recipient":"manager","id":"pm-greenleaf","url":"{{{receiver.Url}}}","secret":"{{{Secret}}}"},
                         {"recipient":"fire-station","id":"xihu-3","url":"{{{receiver.Url}}}","secret":"{{{Secret}}}"}],
             "retry":{"firstDelayS":0.2,"maxDelayS":1}}
            """);
        var mqtt = FreePorts.Next();
        string[] args = ["--registry", registryPath, "--db", db, "--mqtt-port", Text(mqtt), "--http-port", Text(FreePorts.Next()),
            "--rate", "1000", "--checkpoint-ms", "100", "--notifications", settings];
        var messages = Story.Messages(seconds: 900); // long enough for the arc fault to clear: opened and cleared, to both recipients
        var expected = ExpectedNotifications(messages);
        Assert.Contains(expected, n => n.Kind == "cleared");

        var host = await HostProcess.StartAsync(args);
        using var done = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var devices = Story.Devices.Select(id => new TestDevice(id, tokens[id], mqtt)).ToArray();
        var byId = devices.ToDictionary(d => d.DeviceId);

        // The devices publish an instant at a time, as a fleet on one clock does: one that reconnected after the kill a
        // second before its partition's other device would otherwise run minutes of event time ahead of it, and the
        // other would be declared offline (notifications the story does not have). The first part before the kill, the
        // rest after it, so that the kill always falls between the story's notifications.
        var beforeKill = messages.Count / Story.Devices.Length / 3 * Story.Devices.Length;
        await Story.PlayAsync([.. messages.Take(beforeKill)], id => byId[id], done.Token, TimeSpan.FromMilliseconds(15));

        // Killed once it has tried (and failed) to deliver.
        await WaitForAsync(() => FailedAttemptsAsync(db), n => n > 0, "a failed delivery before the kill");
        host.Kill();
        var failedBeforeKill = await FailedAttemptsAsync(db);
        var writtenBeforeKill = await ScalarAsync(db, "SELECT COUNT(*) FROM outbox");
        host.Dispose();
        host = await HostProcess.StartAsync(args);
        await Story.PlayAsync([.. messages.Skip(beforeKill)], id => byId[id], done.Token, TimeSpan.FromMilliseconds(15));
        await WaitForAsync(() => FailedAttemptsAsync(db), n => n > failedBeforeKill, "the restarted host to find the receiver still down");
        Assert.InRange(writtenBeforeKill, 1, expected.Count - 1); // the restarted host wrote the rest, replaying from a checkpoint

        // Every notification written and refused at least once before the receiver comes up: the devices' last readings
        // are in the log once acknowledged, but the consumer may not have reached them yet.
        await WaitForAsync(() => ScalarAsync(db, "SELECT COUNT(*) FROM outbox WHERE attempts >= 1"), n => n >= expected.Count, "every notification refused once");
        receiver.Up();
        var keys = expected.Select(n => n.NotificationId).ToHashSet(StringComparer.Ordinal);
        await WaitForAsync(() => Task.FromResult((long)receiver.Received.Select(r => r.IdempotencyKey).Where(keys.Contains).Distinct().Count()), n => n == keys.Count, "every notification at the receiver");
        Assert.Equal(0, await host.StopAsync());
        host.Dispose();

        var received = receiver.Received;
        Assert.Equal(keys.Order(StringComparer.Ordinal), received.Select(r => r.IdempotencyKey).Distinct().Order(StringComparer.Ordinal));
        foreach (var delivery in received)
        {
            Assert.True(delivery.IsSignedWith(Secret));
            Assert.Equal(expected.Single(n => n.NotificationId == delivery.IdempotencyKey).Body, delivery.Body); // a duplicate is the same notification
        }

        await using var store = await SqliteStore.OpenAsync(new SqliteStoreOptions { Path = db });
        var attempts = 0;
        foreach (var alertId in expected.Select(n => n.AlertId).Distinct())
        {
            var deliveries = await store.GetDeliveriesAsync(alertId, CancellationToken.None);
            Assert.Equal(expected.Where(n => n.AlertId == alertId).Select(n => n.NotificationId).Order(StringComparer.Ordinal), deliveries.Select(d => d.NotificationId).Order(StringComparer.Ordinal));
            Assert.All(deliveries, d => Assert.Equal(DeliveryState.Delivered, d.State));
            Assert.All(deliveries, d => Assert.True(d.Attempts.Count >= 2, "refused at least once before the receiver came up"));
            attempts += deliveries.Sum(d => d.Attempts.Count);
        }

        var distinct = received.Select(r => r.IdempotencyKey).Distinct().Count();
        ReliabilityReport.Record(output, "d) webhook receiver down, host SIGKILLed meanwhile, receiver up (notifications)", keys.Count, distinct, keys.Count - distinct, 0,
            $"{received.Count} deliveries received, {received.Count - distinct} of them a repeat with the same idempotency key and body; {attempts} attempts recorded, all signed");
        foreach (var device in devices)
        {
            await device.DisposeAsync();
        }
    }

    /// <summary>Every notification the story's transitions make, computed by the engine and the routing alone.</summary>
    private static IReadOnlyList<Notification> ExpectedNotifications(IReadOnlyList<(string DeviceId, string Topic, string Payload)> messages)
    {
        var engine = new DetectionEngine(Story.Registry());
        var sink = new CollectingSink();
        foreach (var (_, topic, payload) in messages)
        {
            engine.Process(Encoding.UTF8.GetBytes(topic), Encoding.UTF8.GetBytes(payload), sink);
        }

        return Notification.ForTransitions(sink.Transitions, Story.Registry());
    }

    private static Task<long> FailedAttemptsAsync(string db) => ScalarAsync(db, "SELECT COUNT(*) FROM delivery_attempts WHERE error IS NOT NULL");

    private static async Task<long> ScalarAsync(string db, string sql)
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={db};Mode=ReadOnly;Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private static async Task WaitForAsync(Func<Task<long>> measure, Func<long, bool> until, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!until(await measure()))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"waited 60 s for {what}");
            }

            await Task.Delay(50);
        }
    }

    private static string Text(int n) => n.ToString(CultureInfo.InvariantCulture);

    public void Dispose() => _directory.Dispose();
}
