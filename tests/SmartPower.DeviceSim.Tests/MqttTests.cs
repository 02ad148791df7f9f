using System.Text.Json;
using MQTTnet.Protocol;
using SmartPower.DeviceSim.Contract;
using SmartPower.DeviceSim.Mqtt;
using SmartPower.DeviceSim.Simulation;

namespace SmartPower.DeviceSim.Tests;

/// <summary>
/// A small fleet published to a real mosquitto (started by test.sh): every message arrives on its topic at QoS 1,
/// statuses are retained and the Last Will fires, passwords are checked, and a stop-port command stops the port.
/// </summary>
[Collection("broker")]
public sealed class MqttTests
{
    private static string ReplayLine(string topic, string payload) => $"{{\"topic\":\"{topic}\",\"payload\":{payload}}}";

    [Fact]
    public async Task Every_message_arrives_on_its_topic_at_qos_1_and_statuses_are_retained()
    {
        using var dir = new TempDir();
        var scenario = dir.Write("small.json", "{\"seed\":5,\"durationH\":0.5,\"start\":\"2026-11-26T12:00:00Z\",\"fleet\":{\"dwellings\":5,\"commonAreas\":2,\"piles\":2}}");
        var expected = CompoundNight.Generate(ScenarioFile.Load(scenario));
        var registry = RegistryFile.Parse(expected.RegistryJson);
        await using var observer = await Observer.StartAsync("smartpower/v1/#", "observer-all");

        var (exit, stdout, err) = await SimCli.RunAsync("run", "--broker", Broker.Address, "--password", Broker.Password, "--scenario", scenario,
            "--speed", "3600", "--no-progress");
        Assert.True(exit == 0, stdout + err);

        var telemetry = (IReadOnlyCollection<Received> all) => all.Count(m => m.Topic.EndsWith("/telemetry", StringComparison.Ordinal));
        await observer.WaitForAsync(all => telemetry(all) >= expected.Lines.Count, $"{expected.Lines.Count} readings");
        var received = observer.Messages.ToArray();
        var readings = received.Where(m => m.Topic.EndsWith("/telemetry", StringComparison.Ordinal)).ToArray();
        Assert.All(readings, m => Assert.Equal(MqttQualityOfServiceLevel.AtLeastOnce, m.Qos));
        var lines = readings.Select(m => ReplayLine(m.Topic, m.Payload)).Distinct().ToHashSet();
        Assert.Equal(expected.Lines.Count, lines.Count);
        Assert.True(lines.SetEquals(expected.Lines), "the readings received differ from the generated night's");

        // MQTT keeps one client's order, and so must the pipelined publishing: each device's seq only grows.
        foreach (var device in readings.GroupBy(m => m.Topic))
        {
            var seqs = device.Select(m => Seq(m.Payload)).Distinct().ToArray();
            Assert.True(seqs.Zip(seqs.Skip(1)).All(p => p.Second > p.First), $"{device.Key}: readings out of order");
        }

        // Each device said it was online while it ran, and left a retained offline status when it stopped.
        foreach (var device in registry.Devices)
        {
            var status = Topics.Status(device);
            Assert.Contains(received, m => m.Topic == status && m.Qos == MqttQualityOfServiceLevel.AtLeastOnce && Online(m.Payload) == true);
        }

        await using var late = await Observer.StartAsync("smartpower/v1/+/+/+/status", "observer-late");
        var ours = registry.Devices.Select(Topics.Status).ToHashSet();
        await late.WaitForAsync(all => all.Select(m => m.Topic).Where(ours.Contains).Distinct().Count() == ours.Count, "a retained status per device", 10);
        Assert.All(late.Messages.Where(m => ours.Contains(m.Topic)), m => Assert.True(m.Retain && Online(m.Payload) == false, $"{m.Topic}: {m.Payload} retain={m.Retain}"));
    }

    [Fact]
    public async Task Max_rate_publishes_every_reading_at_qos_1_in_order_with_the_same_session_as_a_paced_run()
    {
        using var dir = new TempDir();
        var scenario = dir.Write("fast.json", "{\"seed\":7,\"durationH\":0.5,\"start\":\"2026-11-26T12:00:00Z\",\"fleet\":{\"dwellings\":4,\"commonAreas\":1,\"piles\":1}}");
        var expected = CompoundNight.Generate(ScenarioFile.Load(scenario));
        var registry = RegistryFile.Parse(expected.RegistryJson);
        await using var observer = await Observer.StartAsync("smartpower/v1/#", "observer-fast");

        var (exit, stdout, err) = await SimCli.RunAsync("run", "--broker", Broker.Address, "--password", Broker.Password, "--scenario", scenario,
            "--max-rate", "--no-progress");
        Assert.True(exit == 0, stdout + err);
        Assert.Contains("failed 0;", stdout, StringComparison.Ordinal);

        await observer.WaitForAsync(all => all.Count(m => m.Topic.EndsWith("/telemetry", StringComparison.Ordinal)) >= expected.Lines.Count, $"{expected.Lines.Count} readings");
        var readings = observer.Messages.Where(m => m.Topic.EndsWith("/telemetry", StringComparison.Ordinal)).ToArray();
        Assert.All(readings, m => Assert.Equal(MqttQualityOfServiceLevel.AtLeastOnce, m.Qos));
        Assert.True(readings.Select(m => ReplayLine(m.Topic, m.Payload)).ToHashSet().SetEquals(expected.Lines), "the readings received differ from the generated night's");
        foreach (var device in readings.GroupBy(m => m.Topic))
        {
            var seqs = device.Select(m => Seq(m.Payload)).Distinct().ToArray();
            Assert.True(seqs.Zip(seqs.Skip(1)).All(p => p.Second > p.First), $"{device.Key}: readings out of order");
        }

        var received = observer.Messages.ToArray();
        foreach (var device in registry.Devices)
        {
            var status = Topics.Status(device);
            Assert.Contains(received, m => m.Topic == status && Online(m.Payload) == true);
            Assert.Contains(received, m => m.Topic == status && Online(m.Payload) == false);
        }
    }

    [Fact]
    public async Task The_max_rate_client_acknowledges_a_command_and_leaves_its_status_or_its_last_will()
    {
        var device = new DeviceSpec("m-0055", "xihu-wutong", DeviceKind.Meter, "dwelling", 40, 10, 0, 0, new DeviceLocation(null, null, null, null));
        var options = new BrokerOptions { Host = "127.0.0.1", Port = Broker.Port, Password = Broker.Password };
        await using var observer = await Observer.StartAsync(Topics.Status(device), "observer-lean");
        var stats = new RunStats();
        var commands = new System.Collections.Concurrent.ConcurrentQueue<CommandMessage>();
        var connection = new PipelinedConnection(device, options, stats, TimeProvider.System, () => DateTimeOffset.UnixEpoch, commands.Enqueue);
        await connection.StartAsync(CancellationToken.None);
        await observer.WaitForAsync(all => all.Any(m => Online(m.Payload) == true), "the online status");

        // A command at QoS 1 reaches the device (decoded by MQTTnet), and every reading is acknowledged.
        await using var operatorClient = await Observer.StartAsync("nothing/#", "operator-lean");
        await operatorClient.PublishAsync(Topics.Command(device), "{\"command\":\"stop-port\",\"port\":1,\"alertId\":\"a\",\"reason\":\"r\"}");
        for (var i = 0; i < 1000; i++)
        {
            connection.Enqueue(Topics.Telemetry(device), $"{{\"seq\":{i}}}");
        }

        await connection.StopAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1000, stats.Sent);
        Assert.Equal(0, stats.Failed);
        Assert.Equal(CommandMessage.StopPort, Assert.Single(commands).Command);
        await observer.WaitForAsync(all => all.Any(m => Online(m.Payload) == false), "the offline status");
        await connection.DisposeAsync();

        // A connection lost without DISCONNECT: the broker publishes the Last Will, retained.
        var lost = new PipelinedConnection(device, options, new RunStats(), TimeProvider.System, () => DateTimeOffset.UnixEpoch, _ => { });
        await lost.StartAsync(CancellationToken.None);
        await observer.WaitForAsync(all => all.Count(m => Online(m.Payload) == true) >= 2, "the second online status");
        await lost.DisposeAsync();
        await observer.WaitForAsync(all => all.Count(m => Online(m.Payload) == false) >= 2, "the Last Will");
        await using var late = await Observer.StartAsync(Topics.Status(device), "observer-lean-late");
        await late.WaitForAsync(all => all.Any(m => m.Retain && Online(m.Payload) == false), "the retained Last Will", 10);
    }

    [Fact]
    public async Task Devices_connect_over_tls_and_refuse_a_certificate_they_cannot_trust()
    {
        using var dir = new TempDir();
        var scenario = dir.Write("tls.json", "{\"seed\":6,\"durationH\":0.2,\"start\":\"2026-11-26T12:00:00Z\",\"fleet\":{\"dwellings\":3,\"commonAreas\":1,\"piles\":1}}");
        var expected = CompoundNight.Generate(ScenarioFile.Load(scenario));
        await using var observer = await Observer.StartAsync("smartpower/v1/+/+/+/telemetry", "observer-tls");
        var (exit, stdout, err) = await SimCli.RunAsync("run", "--broker", $"127.0.0.1:{Broker.TlsPort}", "--tls", "--tls-allow-untrusted",
            "--password", Broker.Password, "--scenario", scenario, "--speed", "3600", "--no-progress");
        Assert.True(exit == 0, stdout + err);
        await observer.WaitForAsync(all => all.Select(m => ReplayLine(m.Topic, m.Payload)).Distinct().Count() >= expected.Lines.Count, "every reading over TLS");

        var device = new DeviceSpec("m-0052", "xihu-wutong", DeviceKind.Meter, "dwelling", 40, 10, 0, 0, new DeviceLocation(null, null, null, null));
        var stats = new RunStats();
        var strict = new BrokerOptions { Host = "127.0.0.1", Port = Broker.TlsPort, Tls = true, Password = Broker.Password, FirstBackoff = TimeSpan.FromMilliseconds(100) };
        await using var connection = new DeviceConnection(device, strict, stats, TimeProvider.System, () => DateTimeOffset.UnixEpoch, _ => { });
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => connection.StartAsync(cancel.Token));
        Assert.True(stats.ConnectionErrors > 0 && stats.Connects == 0, "a self-signed certificate was trusted without --tls-allow-untrusted");
    }

    [Fact]
    public async Task A_stop_port_command_stops_the_port_until_the_bike_is_unplugged()
    {
        using var dir = new TempDir();

        // 21:00 local: bikes are on the piles. Two hours at 60x leave time to find a charging port and stop it.
        var scenario = dir.Write("piles.json", "{\"seed\":3,\"durationH\":2,\"start\":\"2026-11-26T13:00:00Z\",\"fleet\":{\"dwellings\":0,\"commonAreas\":0,\"piles\":1}}");
        await using var observer = await Observer.StartAsync("smartpower/v1/+/pile/+/telemetry", "observer-pile");
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var run = SimCli.RunAsync(cancel.Token, "run", "--broker", Broker.Address, "--password", Broker.Password, "--scenario", scenario, "--speed", "60", "--no-progress");

        await observer.WaitForAsync(all => all.Any(m => ChargingPorts(m.Payload).Length > 0), "a charging port");
        var first = observer.Messages.First(m => ChargingPorts(m.Payload).Length > 0);
        var port = ChargingPorts(first.Payload)[0];
        var commandTopic = first.Topic.Replace("/telemetry", "/command", StringComparison.Ordinal);
        var seen = observer.Messages.Count;
        await observer.PublishAsync(commandTopic, $"{{\"command\":\"stop-port\",\"port\":{port},\"alertId\":\"test\",\"reason\":\"port-overpower\"}}");

        // Within a reading or two the port is idle at 0 W, and stays so while the rest of the pile goes on.
        await observer.WaitForAsync(all => all.Skip(seen).Count(m => PortState(m.Payload, port) is ("idle", 0.0)) >= 5, $"port {port} idle for 5 readings");
        var after = observer.Messages.Skip(seen).Select(m => PortState(m.Payload, port)).ToArray();
        var firstIdle = Array.FindIndex(after, s => s is ("idle", 0.0));
        Assert.True(firstIdle <= 2, $"the port was still drawing {firstIdle} readings after the command");
        Assert.All(after.Skip(firstIdle), s => Assert.Equal(("idle", 0.0), s));
        await cancel.CancelAsync();
        var (exit, stdout, err) = await run;
        Assert.True(exit == 0, stdout + err);
        Assert.Contains("commands 1", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_last_will_says_offline_when_a_connection_drops_and_the_device_comes_back()
    {
        var device = new DeviceSpec("m-0050", "xihu-wutong", DeviceKind.Meter, "dwelling", 40, 10, 0, 0, new DeviceLocation(null, null, null, null));
        await using var observer = await Observer.StartAsync(Topics.Status(device), "observer-will");
        var stats = new RunStats();
        var broker = new BrokerOptions { Host = "127.0.0.1", Port = Broker.Port, Password = Broker.Password, FirstBackoff = TimeSpan.FromMilliseconds(200) };
        await using var connection = new DeviceConnection(device, broker, stats, TimeProvider.System, () => DateTimeOffset.UnixEpoch, _ => { });
        await connection.StartAsync(CancellationToken.None);
        await observer.WaitForAsync(all => all.Any(m => Online(m.Payload) == true), "online");

        await connection.DropAsync(CancellationToken.None);
        await observer.WaitForAsync(all => all.Any(m => Online(m.Payload) == false), "the Last Will (offline)");
        await observer.WaitForAsync(all => all.Count(m => Online(m.Payload) == true) >= 2, "online again after the reconnect");
        Assert.Equal(2, stats.Connects);
        await connection.StopAsync(TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task A_wrong_password_is_refused_and_retried_with_backoff()
    {
        var device = new DeviceSpec("m-0051", "xihu-wutong", DeviceKind.Meter, "dwelling", 40, 10, 0, 0, new DeviceLocation(null, null, null, null));
        var stats = new RunStats();
        var broker = new BrokerOptions { Host = "127.0.0.1", Port = Broker.Port, Password = "wrong", FirstBackoff = TimeSpan.FromMilliseconds(100) };
        await using var connection = new DeviceConnection(device, broker, stats, TimeProvider.System, () => DateTimeOffset.UnixEpoch, _ => { });
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => connection.StartAsync(cancel.Token));
        Assert.False(connection.IsConnected);
        Assert.InRange(stats.ConnectionErrors, 2, 20); // refused, retried with growing delays (0.1, 0.2, 0.4, 0.8 s +-50%)
        Assert.Equal(0, stats.Connects);
    }

    private static bool? Online(string payload)
    {
        using var doc = JsonDocument.Parse(payload);
        return doc.RootElement.TryGetProperty("online", out var online) ? online.GetBoolean() : null;
    }

    private static long Seq(string payload)
    {
        using var doc = JsonDocument.Parse(payload);
        return doc.RootElement.GetProperty("seq").GetInt64();
    }

    private static int[] ChargingPorts(string payload)
    {
        using var doc = JsonDocument.Parse(payload);
        return doc.RootElement.GetProperty("ports").EnumerateArray()
            .Where(p => p.GetProperty("state").GetString() == "charging")
            .Select(p => p.GetProperty("port").GetInt32()).ToArray();
    }

    private static (string? State, double PowerW) PortState(string payload, int port)
    {
        using var doc = JsonDocument.Parse(payload);
        var p = doc.RootElement.GetProperty("ports").EnumerateArray().First(x => x.GetProperty("port").GetInt32() == port);
        return (p.GetProperty("state").GetString(), p.GetProperty("powerW").GetDouble());
    }
}
