using SmartPower.Mqtt;

namespace SmartPower.Pipeline.Tests;

/// <summary>
/// The pipelined bridge (<see cref="BrokerBridge"/> with its RoundGate) against a real mosquitto, in sequences found in
/// review at stop 19 that lost readings or stalled the session; each test failed before its fix.
/// </summary>
public sealed class BridgeBacklogTests : IDisposable
{
    private readonly TempDirectory _directory = new("bridge-backlog");

    public void Dispose() => _directory.Dispose();

    /// <summary>
    /// Sequence: the bridge's persistent session exists (plain subscription), the bridge goes away (a host restart, or an
    /// Event Hubs outage during which nothing is acknowledged and mosquitto queues); one meter publishes 100 readings
    /// meanwhile (17 minutes at one every 10 s) and mosquitto tells it each one is delivered (PUBACK Success); the
    /// bridge comes back and mosquitto replays the backlog at the bridge's speed (hundreds a second since ce901e8).
    /// What went wrong: the ingress's per-device token bucket (5/s, burst 60), meant for a device publishing live, is
    /// applied at the bridge's drain speed: after 60 readings the rest are refused as rate-limited, and the bridge
    /// acknowledges refused messages, so mosquitto deletes them. Readings the device was told were delivered are lost,
    /// and any alert they carried is never raised.
    /// </summary>
    [Fact]
    public async Task A_backlog_replayed_to_the_bridge_after_it_was_away_is_not_refused_as_over_the_rate_and_acknowledged()
    {
        using var broker = await MosquittoBroker.StartAsync(_directory.File("mosquitto"));
        var options = broker.BridgeOptions();

        // The first run of the host makes the persistent session and its subscription, then stops.
        using (var firstIngress = new Ingress(Story.Registry(), new TestLog()))
        {
            await using var first = new BrokerBridge(options, firstIngress);
            await first.StartAsync(CancellationToken.None);
        }

        const int readings = 100;
        await using var device = new TestDevice("m-0001", "-", broker.Port);
        await device.ConnectAsync();
        for (var seq = 1; seq <= readings; seq++)
        {
            Assert.Equal(MQTTnet.MqttClientPublishReasonCode.Success, (await device.PublishAsync(Feed.Topic("m-0001"), Feed.MeterPayload(seq * 10, seq, 6))).ReasonCode);
        }

        // The host is back: a new ingress (a fresh token bucket, the most lenient case) and the same session.
        var log = new TestLog();
        using var ingress = new Ingress(Story.Registry(), log);
        var bridge = new BrokerBridge(options, ingress); // disposed below, once (a second DisposeAsync throws)
        await bridge.StartAsync(CancellationToken.None);

        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (log.Durable().Count + ingress.RefusedFor(IngressRefusal.RateLimited) < readings && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        await Task.Delay(500);
        var durable = log.Durable();
        var refused = ingress.RefusedFor(IngressRefusal.RateLimited);
        await bridge.DisposeAsync();

        // What mosquitto still holds for the session (unacknowledged) comes to the next connection: nothing does, the
        // refused readings were acknowledged.
        var again = new TestLog();
        using (var thirdIngress = new Ingress(Story.Registry(), again))
        {
            await using var third = new BrokerBridge(options, thirdIngress);
            await third.StartAsync(CancellationToken.None);
            await Task.Delay(2000);
        }

        Assert.True(refused == 0 && durable.Count == readings,
            $"{durable.Count} of {readings} readings durable, {refused} refused as rate-limited and acknowledged, {again.Durable().Count} still with the broker");
        Assert.Equal(Enumerable.Range(1, readings).Select(i => ("m-0001", (long)i)), durable);
    }

    /// <summary>
    /// Sequence: a meter publishes seq 1 and seq 2; the log's append of seq 1 ends in an <see cref="OperationCanceledException"/>
    /// that is not the bridge's stop (a send that timed out: HttpClient and many SDKs surface a timeout as
    /// <see cref="TaskCanceledException"/>); the bridge is not stopping.
    /// What went wrong: AppendAsync retries every exception except an OperationCanceledException, DeliverAsync's
    /// catch-all logs "could not acknowledge" and its finally marks seq 1 done at the gate: seq 1 is neither retried nor
    /// acknowledged (mosquitto sends it again only to a new session, and meanwhile it holds one of the session's 20
    /// in-flight slots; 20 such and the session stalls), and the device's seq 2 becomes durable ahead of it. When seq 1
    /// comes back after a reconnect the engine drops it as an older seq: a lost reading.
    /// </summary>
    [Fact]
    public async Task An_append_cancelled_by_the_log_itself_is_tried_again_before_the_device_s_next_reading()
    {
        using var broker = await MosquittoBroker.StartAsync(_directory.File("mosquitto"));
        var log = new TestLog { Failures = 1, Fault = () => new TaskCanceledException("the send timed out") };
        using var ingress = new Ingress(Story.Registry(), log);
        await using var bridge = new BrokerBridge(broker.BridgeOptions(), ingress);
        await bridge.StartAsync(CancellationToken.None);

        await using var device = new TestDevice("m-0001", "-", broker.Port);
        await device.ConnectAsync();
        Assert.Equal(MQTTnet.MqttClientPublishReasonCode.Success, (await device.PublishAsync(Feed.Topic("m-0001"), Feed.MeterPayload(0, 1, 6))).ReasonCode);
        Assert.Equal(MQTTnet.MqttClientPublishReasonCode.Success, (await device.PublishAsync(Feed.Topic("m-0001"), Feed.MeterPayload(10, 2, 6))).ReasonCode);

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (log.Durable().Count < 2 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.Equal([("m-0001", 1L), ("m-0001", 2L)], log.Durable());
        Assert.True(bridge.IsConnected);
    }
}
