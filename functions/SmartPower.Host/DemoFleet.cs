using System.Text.Json;
using MQTTnet;
using MQTTnet.Protocol;

namespace SmartPower.Host;

/// <summary>
/// The demo's devices: plays a recorded night (contract JSON Lines) to a broker as the devices themselves would, one
/// MQTT client per device (username = deviceId, password = its token), QoS 1, a retained <c>online</c> status and a
/// Last Will <c>offline</c>, paced by the readings' own timestamps at <c>speed</c> times real time.
/// </summary>
internal sealed class DemoFleet(string host, int port, IReadOnlyDictionary<string, string> tokens, double speed)
{
    private readonly Dictionary<string, IMqttClient> _clients = new(StringComparer.Ordinal);

    public long Published { get; private set; }

    public async Task PlayAsync(IEnumerable<string> lines, Action<long, DateTimeOffset> progress, CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        DateTimeOffset? first = null;
        try
        {
            foreach (var line in lines)
            {
                using var doc = JsonDocument.Parse(line);
                var topic = doc.RootElement.GetProperty("topic").GetString()!;
                var payload = doc.RootElement.GetProperty("payload");
                var ts = payload.GetProperty("ts").GetDateTimeOffset();
                first ??= ts;
                var due = TimeSpan.FromTicks((long)((ts - first.Value).Ticks / speed));
                if (due > started.Elapsed)
                {
                    await Task.Delay(due - started.Elapsed, cancellationToken).ConfigureAwait(false);
                }

                var deviceId = topic.Split('/')[4];
                var client = await ClientAsync(deviceId, topic, cancellationToken).ConfigureAwait(false);
                await client.PublishAsync(
                    new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload.GetRawText())
                        .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build(),
                    cancellationToken).ConfigureAwait(false);
                if (++Published % 5000 == 0)
                {
                    progress(Published, ts);
                }
            }
        }
        finally
        {
            foreach (var client in _clients.Values)
            {
                if (client.IsConnected)
                {
                    await client.DisconnectAsync().ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                }

                client.Dispose();
            }
        }
    }

    private async Task<IMqttClient> ClientAsync(string deviceId, string telemetryTopic, CancellationToken cancellationToken)
    {
        if (_clients.TryGetValue(deviceId, out var client) && client.IsConnected)
        {
            return client;
        }

        client ??= new MqttClientFactory().CreateMqttClient();
        var status = telemetryTopic[..telemetryTopic.LastIndexOf('/')] + "/status";
        var options = new MqttClientOptionsBuilder().WithTcpServer(host, port).WithClientId(deviceId)
            .WithCredentials(deviceId, tokens[deviceId])
            .WithWillTopic(status).WithWillPayload("""{"online":false}""").WithWillRetain().WithWillQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .Build();
        await client.ConnectAsync(options, cancellationToken).ConfigureAwait(false);
        await client.PublishAsync(
            new MqttApplicationMessageBuilder().WithTopic(status).WithPayload("""{"online":true}""").WithRetainFlag()
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build(),
            cancellationToken).ConfigureAwait(false);
        _clients[deviceId] = client;
        return client;
    }
}
