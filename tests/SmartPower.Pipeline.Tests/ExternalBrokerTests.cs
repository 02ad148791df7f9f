using SmartPower.Alerts;
using SmartPower.Mqtt;

namespace SmartPower.Pipeline.Tests;

/// <summary>
/// The host taking telemetry from a real external broker (a mosquitto of the test's own, with a password file) through a
/// shared subscription instead of its embedded broker: the same ingress, log, engine and store; commands go back through
/// mosquitto to the pile. And the bridge alone when the log fails to take a message.
/// </summary>
/// <remarks>
/// Not test.sh's mosquitto: the simulator's tests (another test assembly, run at the same time) publish there as the same
/// devices of the same site (xihu-wutong's m-0001, m-0002 and p-0001), so each side took the other's client ids over,
/// read the other's readings and commands, and either could fail: this run with alerts from the simulator's readings or
/// without some of its own, the simulator's stop-port test with this story's pile readings, still drawing.
/// </remarks>
public sealed class ExternalBrokerTests : IDisposable
{
    private readonly TempDirectory _directory = new("external-broker");

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task Telemetry_through_mosquitto_yields_the_expected_alerts_and_the_pile_is_stopped()
    {
        const string password = "external-broker-test";
        string[] ids = ["m-0001", "m-0002", "p-0001"];
        using var broker = await MosquittoBroker.StartAsync(_directory.File("mosquitto"), ids.Append("observer").ToDictionary(u => u, _ => password));
        var port = broker.Port;
        var messages = Story.Messages().Where(m => ids.Contains(m.DeviceId)).ToArray();
        var expected = Story.Expected(messages);
        Assert.Contains(expected.Values, a => a.Type == AlertType.PortOverpower);

        await using var harness = await PipelineHarness.StartAsync(configure: o => o.ExternalBroker = new BrokerBridgeOptions
        {
            Host = "127.0.0.1",
            Port = port,
            UserName = "observer",
            Password = password,
            ClientId = $"smartpower-test-{Guid.NewGuid():N}",
            ShareGroup = $"test-{Guid.NewGuid():N}",
        });
        var devices = new Dictionary<string, TestDevice>();
        foreach (var id in ids)
        {
            devices[id] = new TestDevice(id, password, port);
            await devices[id].ConnectAsync();
        }

        await devices["p-0001"].SubscribeAsync(Feed.Topic("p-0001", "pile", "command"));
        await Story.PlayAsync(messages, id => devices[id], CancellationToken.None);

        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (harness.Pipeline.Metrics.Accepted < messages.Length && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        await harness.WaitCaughtUpAsync();
        var stored = await harness.Pipeline.Store.GetAlertsAsync();
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), stored.Select(s => s.Alert.AlertId).Order(StringComparer.Ordinal));
        Assert.All(stored, s => Assert.Equal(AlertJson.ToJson(expected[s.Alert.AlertId]), AlertJson.ToJson(s.Alert)));

        while (devices["p-0001"].Commands.Count == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.Contains("\"command\":\"stop-port\"", devices["p-0001"].Commands.Distinct().Single(), StringComparison.Ordinal); // again at 5 min: the test pile does not stop
        foreach (var device in devices.Values)
        {
            await device.DisposeAsync();
        }
    }

    /// <summary>
    /// One append fails (a disk full for a moment, an Event Hubs send that failed after its retries). mosquitto has told
    /// the device both readings are delivered, and sends an unacknowledged one again only to a new session: the bridge
    /// must keep trying it, and the device's next reading must not become durable before it (the engine would then drop
    /// the earlier one as an older seq). Found in review; on the old code the log held only seq 2.
    /// </summary>
    [Fact]
    public async Task A_failed_append_is_tried_again_on_the_same_connection_before_the_device_s_next_reading()
    {
        using var broker = await MosquittoBroker.StartAsync(_directory.File("mosquitto"));
        var log = new TestLog { Failures = 2 };
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

        Assert.Equal([1L, 2L], log.Durable().Select(d => d.Seq));
        Assert.True(bridge.IsConnected);
    }

    /// <summary>
    /// A log that takes its time (Event Hubs: a batch waits up to 50 ms to fill, then a round trip) must not set the pace
    /// for all devices together: the bridge keeps several devices' appends in flight at once, and each device's in its
    /// order. On the old code one append at a time: at most 1 in flight, 48 messages took 48 round trips.
    /// </summary>
    [Fact]
    public async Task The_bridge_appends_several_devices_at_once_and_each_device_in_order()
    {
        using var broker = await MosquittoBroker.StartAsync(_directory.File("mosquitto"));
        var devices = Enumerable.Range(1, 8).Select(i => $"m-{i:0000}").ToArray();
        var log = new TestLog { Latency = TimeSpan.FromMilliseconds(100) };
        using var ingress = new Ingress(Meters(devices), log);
        await using var bridge = new BrokerBridge(broker.BridgeOptions(), ingress);
        await bridge.StartAsync(CancellationToken.None);

        const int readings = 6;
        var clients = new List<TestDevice>();
        foreach (var id in devices)
        {
            var device = new TestDevice(id, "-", broker.Port);
            await device.ConnectAsync();
            clients.Add(device);
        }

        await Task.WhenAll(clients.Select(async d =>
        {
            for (var seq = 1; seq <= readings; seq++)
            {
                Assert.Equal(MQTTnet.MqttClientPublishReasonCode.Success, (await d.PublishAsync(Feed.Topic(d.DeviceId), Feed.MeterPayload(seq * 10, seq, 6))).ReasonCode);
            }
        }));

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (log.Durable().Count < devices.Length * readings && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        var durable = log.Durable();
        Assert.Equal(devices.Length * readings, durable.Count);
        foreach (var id in devices)
        {
            Assert.Equal(Enumerable.Range(1, readings).Select(i => (long)i), durable.Where(d => d.DeviceId == id).Select(d => d.Seq));
        }

        Assert.True(log.MostInFlight >= 4, $"at most {log.MostInFlight} appends were in flight at once");
        Assert.True(log.MostInFlightForOneDevice == 1, $"{log.MostInFlightForOneDevice} appends of one device were in flight at once");
        foreach (var client in clients)
        {
            await client.DisposeAsync();
        }
    }

    /// <summary>
    /// One device's append keeps failing for a while: that device's next reading waits behind it (so it is not dropped
    /// later as an older seq), and the other devices go on by one reading at most (so that none runs ahead of it in event
    /// time far enough for the engine to call it offline); once it is through, everything follows in order.
    /// </summary>
    [Fact]
    public async Task A_device_whose_append_fails_holds_the_others_to_one_reading_ahead()
    {
        using var broker = await MosquittoBroker.StartAsync(_directory.File("mosquitto"));
        var log = new TestLog { Failing = "m-0001", Failures = 5 };
        using var ingress = new Ingress(Story.Registry(), log);
        await using var bridge = new BrokerBridge(broker.BridgeOptions(), ingress);
        await bridge.StartAsync(CancellationToken.None);

        await using var failing = new TestDevice("m-0001", "-", broker.Port);
        await using var other = new TestDevice("m-0002", "-", broker.Port);
        await failing.ConnectAsync();
        await other.ConnectAsync();
        await failing.PublishAsync(Feed.Topic("m-0001"), Feed.MeterPayload(0, 1, 6));
        await other.PublishAsync(Feed.Topic("m-0002"), Feed.MeterPayload(0, 1, 6));
        await failing.PublishAsync(Feed.Topic("m-0001"), Feed.MeterPayload(10, 2, 6));
        await other.PublishAsync(Feed.Topic("m-0002"), Feed.MeterPayload(10, 2, 6));
        await other.PublishAsync(Feed.Topic("m-0002"), Feed.MeterPayload(20, 3, 6));

        // The failing device's retries take 0.1 + 0.2 + 0.4 + 0.8 + 1.6 s; the other device's first reading is through long before.
        var deadline = DateTime.UtcNow.AddSeconds(1.5);
        while (!log.Durable().Any(d => d.DeviceId == "m-0002") && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        await Task.Delay(200);
        Assert.Equal([("m-0002", 1L)], log.Durable());

        deadline = DateTime.UtcNow.AddSeconds(10);
        while (log.Durable().Count < 5 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.Equal([1L, 2L], log.Durable().Where(d => d.DeviceId == "m-0001").Select(d => d.Seq));
        Assert.Equal([1L, 2L, 3L], log.Durable().Where(d => d.DeviceId == "m-0002").Select(d => d.Seq));
    }

    /// <summary>
    /// Bridges on disjoint sites (plain subscriptions) share one broker: each takes only its sites' devices, so a device's
    /// readings all go one way, in order (a share group hands them out one by one and can reorder them).
    /// </summary>
    [Fact]
    public async Task A_bridge_given_sites_takes_only_those_sites_devices()
    {
        using var broker = await MosquittoBroker.StartAsync(_directory.File("mosquitto"));
        var registry = Tenancy.Registry();
        var acacia = new TestLog();
        var others = new TestLog();
        using var acaciaIngress = new Ingress(registry, acacia);
        using var othersIngress = new Ingress(registry, others);
        await using var first = new BrokerBridge(broker.BridgeOptions(["acacia"]), acaciaIngress);
        await using var second = new BrokerBridge(broker.BridgeOptions(["birch", "cedar", "dogwood"]), othersIngress);
        await first.StartAsync(CancellationToken.None);
        await second.StartAsync(CancellationToken.None);

        string[] devices = ["acacia-m1", "dogwood-m1"];
        foreach (var id in devices)
        {
            await using var device = new TestDevice(id, "-", broker.Port);
            await device.ConnectAsync();
            for (var seq = 1; seq <= 3; seq++)
            {
                await device.PublishAsync(Tenancy.Topic(id), Feed.MeterPayload(seq * 10, seq, 6));
            }
        }

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((acacia.Durable().Count < 3 || others.Durable().Count < 3) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        await Task.Delay(200);
        Assert.Equal([("acacia-m1", 1L), ("acacia-m1", 2L), ("acacia-m1", 3L)], acacia.Durable());
        Assert.Equal([("dogwood-m1", 1L), ("dogwood-m1", 2L), ("dogwood-m1", 3L)], others.Durable());
        Assert.Throws<ArgumentException>(() => new BrokerBridge(new BrokerBridgeOptions { Sites = ["no-such-site"] }, acaciaIngress));
    }

    private static Registry.DeviceRegistry Meters(IEnumerable<string> ids) => Registry.RegistryLoader.Parse(
        """{"sites":[{"siteId":"xihu-wutong","name":"Wutong","address":"88 Wutong Rd","fireStation":"xihu-3","managerId":"pm-greenleaf","timeZone":"Asia/Shanghai"}],"devices":["""
        + string.Join(",", ids.Select(id => $$"""{"deviceId":"{{id}}","siteId":"xihu-wutong","kind":"meter","circuit":"dwelling","ratedCurrentA":40,"reportIntervalS":10}"""))
        + "]}");
}
