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
        var log = new FailingLog(failures: 2);
        using var ingress = new Ingress(Story.Registry(), log);
        await using var bridge = new BrokerBridge(new BrokerBridgeOptions { Host = "127.0.0.1", Port = broker.Port, ClientId = $"bridge-{Guid.NewGuid():N}", ShareGroup = null }, ingress);
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

        Assert.Equal([1L, 2L], log.Durable());
        Assert.True(bridge.IsConnected);
    }

    /// <summary>A log whose first appends fail (no space left); keeps the seq of each reading it took.</summary>
    private sealed class FailingLog(int failures) : ITelemetryLog
    {
        private readonly List<long> _durable = [];
        private int _calls;

        public int PartitionCount => 1;

        public List<long> Durable()
        {
            lock (_durable)
            {
                return [.. _durable];
            }
        }

        public ValueTask AppendAsync(TelemetryMessage message, CancellationToken cancellationToken)
        {
            if (Interlocked.Increment(ref _calls) <= failures)
            {
                throw new IOException("No space left on device");
            }

            using var json = System.Text.Json.JsonDocument.Parse(message.Payload);
            lock (_durable)
            {
                _durable.Add(json.RootElement.GetProperty("seq").GetInt64());
            }

            return ValueTask.CompletedTask;
        }
    }
}
