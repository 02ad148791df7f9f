using SmartPower.Alerts;

namespace SmartPower.Pipeline.Tests;

/// <summary>The local pipeline end to end over real MQTT: devices publish, the store ends up with exactly the engine's alerts.</summary>
public sealed class EndToEndTests
{
    [Fact]
    public async Task Devices_over_mqtt_yield_exactly_the_expected_alerts_in_the_store_and_the_pile_is_stopped()
    {
        var messages = Story.Messages();
        var expected = Story.Expected(messages);
        Assert.Equal(
            ["arc-fault", "leakage", "overload", "port-overpower"],
            expected.Values.Select(a => AlertNames.Of(a.Type)).Order(StringComparer.Ordinal));

        await using var harness = await PipelineHarness.StartAsync();
        var devices = new Dictionary<string, TestDevice>();
        foreach (var id in Story.Devices)
        {
            devices[id] = await harness.ConnectAsync(id);
        }

        await devices["p-0001"].SubscribeAsync(Feed.Topic("p-0001", "pile", "command"));
        await Story.PlayAsync(messages, id => devices[id], CancellationToken.None);

        await harness.WaitCaughtUpAsync();
        var stored = await harness.Pipeline.Store.GetAlertsAsync();
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), stored.Select(s => s.Alert.AlertId).Order(StringComparer.Ordinal));
        foreach (var s in stored)
        {
            Assert.Equal(expected[s.Alert.AlertId], s.Alert with { Evidence = expected[s.Alert.AlertId].Evidence });
            Assert.Equal(AlertJson.ToJson(expected[s.Alert.AlertId]), AlertJson.ToJson(s.Alert));
        }

        var overpower = stored.Single(s => s.Alert.Type == AlertType.PortOverpower).Alert;
        var history = await harness.Pipeline.Store.GetTransitionsAsync(overpower.AlertId);
        Assert.Equal("opened", history[0].Kind);

        // The stop-port command reached the pile's own command topic.
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (devices["p-0001"].Commands.Count == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        // The test pile does not stop its port, so the stop comes again 5 min of event time into the episode.
        var command = devices["p-0001"].Commands.Distinct().Single();
        Assert.Contains("\"command\":\"stop-port\"", command, StringComparison.Ordinal);
        Assert.Contains("\"port\":2", command, StringComparison.Ordinal);
        Assert.Contains(overpower.AlertId, command, StringComparison.Ordinal);

        var device = await harness.Pipeline.Store.GetDeviceAsync("m-0002");
        Assert.NotNull(device);
        Assert.Contains(Feed.Ts(590), device.ReadingJson, StringComparison.Ordinal);
        Assert.Equal(0, harness.Pipeline.Metrics.Rejected);

        foreach (var d in devices.Values)
        {
            await d.DisposeAsync();
        }
    }

    [Fact]
    public async Task Sending_the_whole_story_again_adds_nothing()
    {
        var messages = Story.Messages(300);
        await using var harness = await PipelineHarness.StartAsync();
        await using var device = await harness.ConnectAsync("m-0001");
        for (var round = 0; round < 2; round++)
        {
            foreach (var (_, topic, payload) in messages.Where(m => m.DeviceId == "m-0001"))
            {
                await device.PublishReliablyAsync(topic, payload, CancellationToken.None);
            }
        }

        await harness.WaitCaughtUpAsync();
        Assert.Single(await harness.Pipeline.Store.GetAlertsAsync());
        Assert.Equal(30, harness.Pipeline.Metrics.Duplicates);
        Assert.Equal(30, harness.Pipeline.Metrics.Accepted);
    }
    [Fact]
    public async Task A_stop_right_after_a_port_over_power_still_delivers_the_stop_port_command_and_stores_the_alert()
    {
        // One record a batch keeps detection behind the devices, so the stop finds the over-power still in the log:
        // its drain raises the stop-port command, which must still reach the pile, and must not hold the stop back.
        await using var harness = await PipelineHarness.StartAsync(configure: o => o.Consumer.MaxBatch = 1);
        var devices = new Dictionary<string, TestDevice>();
        foreach (var id in Story.Devices)
        {
            devices[id] = await harness.ConnectAsync(id);
        }

        await devices["p-0001"].SubscribeAsync(Feed.Topic("p-0001", "pile", "command"));
        await Story.PlayAsync(Story.Messages(200), id => devices[id], CancellationToken.None); // over 600 W from 150 s: opens at 180 s

        var stopping = System.Diagnostics.Stopwatch.StartNew();
        await harness.Pipeline.StopAsync();
        Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(20), $"the stop took {stopping.Elapsed.TotalSeconds:F1} s");

        var overpower = Assert.Single(await harness.Pipeline.Store.GetAlertsAsync(), s => s.Alert.Type == AlertType.PortOverpower).Alert;
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (devices["p-0001"].Commands.Count == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.Contains(overpower.AlertId, devices["p-0001"].Commands.Distinct().Single(), StringComparison.Ordinal);
        foreach (var d in devices.Values)
        {
            await d.DisposeAsync();
        }
    }
}
