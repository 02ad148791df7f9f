using SmartPower.Mqtt;

namespace SmartPower.Pipeline.Tests;

/// <summary>The bridge from an external broker (mosquitto) when the log fails to take a message.</summary>
public sealed class BrokerBridgeTests : IDisposable
{
    private readonly TempDirectory _directory = new("broker-bridge");

    public void Dispose() => _directory.Dispose();

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
