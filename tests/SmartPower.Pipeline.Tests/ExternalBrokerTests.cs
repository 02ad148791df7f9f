using SmartPower.Alerts;
using SmartPower.Mqtt;

namespace SmartPower.Pipeline.Tests;

/// <summary>
/// The host taking telemetry from a real external broker (mosquitto, started by test.sh) through a shared
/// subscription instead of its embedded broker: the same ingress, log, engine and store; commands go back through
/// mosquitto to the pile.
/// </summary>
public sealed class ExternalBrokerTests
{
    [Fact]
    public async Task Telemetry_through_mosquitto_yields_the_expected_alerts_and_the_pile_is_stopped()
    {
        var port = int.Parse(Environment.GetEnvironmentVariable("SMARTPOWER_TEST_MQTT_PORT")
            ?? throw new InvalidOperationException("SMARTPOWER_TEST_MQTT_PORT is not set: run the tests with ./test.sh, which starts mosquitto"),
            System.Globalization.CultureInfo.InvariantCulture);
        var password = Environment.GetEnvironmentVariable("SMARTPOWER_TEST_MQTT_PASSWORD")
            ?? throw new InvalidOperationException("SMARTPOWER_TEST_MQTT_PASSWORD is not set: run the tests with ./test.sh");
        string[] ids = ["m-0001", "m-0002", "p-0001"]; // the devices test.sh's mosquitto knows
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
            ShareGroup = $"test-{Guid.NewGuid():N}", // a group of its own: other test runs on this broker do not take its share
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

        Assert.Contains("\"command\":\"stop-port\"", Assert.Single(devices["p-0001"].Commands), StringComparison.Ordinal);
        foreach (var device in devices.Values)
        {
            await device.DisposeAsync();
        }
    }
}
