using System.Buffers;
using System.Collections.Concurrent;
using System.Text;
using MQTTnet;
using MQTTnet.Protocol;

namespace SmartPower.DeviceSim.Tests;

/// <summary>
/// The mosquitto that test.sh starts on a loopback port (SMARTPOWER_TEST_MQTT_PORT) with a password file where every
/// test device id and the user "observer" have the password SMARTPOWER_TEST_MQTT_PASSWORD. Without it the
/// integration tests fail: a broker that is not there is not a pass.
/// </summary>
internal static class Broker
{
    public static int Port =>
        int.TryParse(Environment.GetEnvironmentVariable("SMARTPOWER_TEST_MQTT_PORT"), out var port)
            ? port
            : throw new InvalidOperationException("SMARTPOWER_TEST_MQTT_PORT is not set: run the tests through ./test.sh, which starts mosquitto");

    /// <summary>The same broker's TLS listener (a self-signed certificate).</summary>
    public static int TlsPort =>
        int.TryParse(Environment.GetEnvironmentVariable("SMARTPOWER_TEST_MQTT_TLS_PORT"), out var port)
            ? port
            : throw new InvalidOperationException("SMARTPOWER_TEST_MQTT_TLS_PORT is not set: run the tests through ./test.sh, which starts mosquitto");

    public static string Password =>
        Environment.GetEnvironmentVariable("SMARTPOWER_TEST_MQTT_PASSWORD")
        ?? throw new InvalidOperationException("SMARTPOWER_TEST_MQTT_PASSWORD is not set: run the tests through ./test.sh");

    public static string Address => $"127.0.0.1:{Port}";
}

/// <summary>A message as an observer received it.</summary>
internal sealed record Received(string Topic, string Payload, MqttQualityOfServiceLevel Qos, bool Retain);

/// <summary>An MQTT client that records every message on a topic filter (subscribed at QoS 1) and can publish commands.</summary>
internal sealed class Observer : IAsyncDisposable
{
    private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();

    private Observer()
    {
        _client.ApplicationMessageReceivedAsync += e =>
        {
            var m = e.ApplicationMessage;
            Messages.Enqueue(new Received(m.Topic, Encoding.UTF8.GetString(m.Payload.ToArray()), m.QualityOfServiceLevel, m.Retain));
            return Task.CompletedTask;
        };
    }

    public ConcurrentQueue<Received> Messages { get; } = new();

    public static async Task<Observer> StartAsync(string filter, string clientId)
    {
        var observer = new Observer();
        var options = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", Broker.Port).WithClientId(clientId)
            .WithCredentials("observer", Broker.Password).WithCleanSession(true).Build();
        await observer._client.ConnectAsync(options);
        await observer._client.SubscribeAsync(new MqttClientFactory().CreateSubscribeOptionsBuilder()
            .WithTopicFilter(filter, MqttQualityOfServiceLevel.AtLeastOnce).Build());
        return observer;
    }

    public Task PublishAsync(string topic, string payload) =>
        _client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());

    /// <summary>Waits until <paramref name="done"/> holds over what was received, or fails after <paramref name="timeoutS"/>.</summary>
    public async Task WaitForAsync(Func<IReadOnlyCollection<Received>, bool> done, string what, double timeoutS = 30)
    {
        var until = DateTime.UtcNow.AddSeconds(timeoutS);
        while (!done(Messages))
        {
            Assert.True(DateTime.UtcNow < until, $"timed out after {timeoutS} s waiting for {what}");
            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_client.IsConnected)
        {
            await _client.DisconnectAsync();
        }

        _client.Dispose();
    }
}
