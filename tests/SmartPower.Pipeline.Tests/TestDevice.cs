using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace SmartPower.Pipeline.Tests;

/// <summary>
/// A device as the tests drive it: its own MQTT 5 client (username = deviceId, password = token), QoS 1, and the
/// behaviour real firmware has after a lost connection: reconnect with backoff and send again what was not acknowledged.
/// </summary>
internal sealed class TestDevice(string deviceId, string token, int port, string? clientId = null) : IAsyncDisposable
{
    private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();

    public string DeviceId => deviceId;

    public List<string> Commands { get; } = [];

    public bool IsConnected => _client.IsConnected;

    /// <summary>
    /// Whether a PUBACK saying "no matching subscribers" (MQTT 5 reason 16) counts as not delivered, to be sent again
    /// later: what firmware should do when telemetry must reach the cloud through a broker that may have lost its
    /// subscribers (an external broker restarted before the bridge is back).
    /// </summary>
    public bool RetryWhenNobodySubscribed { get; init; }

    public Task<MqttClientConnectResult> ConnectAsync(CancellationToken cancellationToken = default) =>
        _client.ConnectAsync(
            new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId(clientId ?? deviceId).WithCredentials(deviceId, token)
                .WithProtocolVersion(MqttProtocolVersion.V500).WithTimeout(TimeSpan.FromSeconds(5)).Build(),
            cancellationToken);

    public Task<MqttClientPublishResult> PublishAsync(string topic, string payload, bool retain = false, CancellationToken cancellationToken = default) =>
        _client.PublishAsync(
            new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithRetainFlag(retain)
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build(),
            cancellationToken);

    public Task<MqttClientPublishResult> PublishBytesAsync(string topic, byte[] payload) =>
        _client.PublishAsync(
            new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());

    public async Task<MqttClientSubscribeResult> SubscribeAsync(string filter)
    {
        _client.ApplicationMessageReceivedAsync += e =>
        {
            lock (Commands)
            {
                Commands.Add(e.ApplicationMessage.ConvertPayloadToString());
            }

            return Task.CompletedTask;
        };
        return await _client.SubscribeAsync(filter, MqttQualityOfServiceLevel.AtLeastOnce).ConfigureAwait(false);
    }

    /// <summary>Publishes until the broker acknowledges it, reconnecting with backoff in between (as firmware does).</summary>
    public async Task PublishReliablyAsync(string topic, string payload, CancellationToken cancellationToken)
    {
        var delay = 100;
        while (true)
        {
            try
            {
                if (!_client.IsConnected)
                {
                    await ConnectAsync(cancellationToken).ConfigureAwait(false);
                }

                var result = await PublishAsync(topic, payload, cancellationToken: cancellationToken).ConfigureAwait(false);
                if (result.ReasonCode == MqttClientPublishReasonCode.Success
                    || (result.ReasonCode == MqttClientPublishReasonCode.NoMatchingSubscribers && !RetryWhenNobodySubscribed))
                {
                    return;
                }

                if (result.ReasonCode == MqttClientPublishReasonCode.NoMatchingSubscribers)
                {
                    await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                    delay = Math.Min(delay * 2, 1000);
                    continue;
                }

                throw new PublishRefusedException($"{deviceId}: publish refused with {result.ReasonCode}");
            }
            catch (Exception ex) when (ex is not PublishRefusedException && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                delay = Math.Min(delay * 2, 1000);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_client.IsConnected)
        {
            try
            {
                await _client.DisconnectAsync().ConfigureAwait(false);
            }
            catch (MQTTnet.Exceptions.MqttCommunicationException)
            {
                // The broker stopped under it (a host stopped by the test): nothing left to say goodbye to.
            }
        }

        _client.Dispose();
    }
}

/// <summary>The broker answered a publish with a refusal: sending again would not help. (MQTTnet's own InvalidOperationException,
/// such as a reconnect while the last disconnect is still pending, is a lost connection and is retried.)</summary>
internal sealed class PublishRefusedException(string message) : Exception(message);
