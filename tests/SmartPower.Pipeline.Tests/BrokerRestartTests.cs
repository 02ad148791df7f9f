using SmartPower.Alerts;
using SmartPower.Mqtt;
using Xunit.Abstractions;

namespace SmartPower.Pipeline.Tests;

/// <summary>
/// The external broker restarted while the host bridges from it (shared subscription, QoS 1, a persistent session):
/// devices hold what was not acknowledged and send it again, the bridge reconnects to its saved session and gets what
/// was queued for it, and the store ends with exactly the engine's own alerts for the whole stream, each opened once.
/// </summary>
public sealed class BrokerRestartTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _directory = new("broker-restart");
    private readonly RecordingLoggers _loggers = new();

    /// <summary>
    /// Shared: the subscription is not restored by mosquitto 2.0 after its restart, so devices that take "no matching
    /// subscribers" for not delivered (and send again) are what keeps the gap lossless. Plain: the persistent session's
    /// subscription is restored, so messages published before the bridge is back are queued for it, whatever the devices do.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_restarted_external_broker_loses_and_repeats_nothing(bool shared)
    {
        using var broker = await MosquittoBroker.StartAsync(_directory.File("mosquitto"));
        var messages = Story.Messages();
        var expected = Story.Expected(messages);
        await using var harness = await PipelineHarness.StartAsync(configure: o => o.ExternalBroker = new BrokerBridgeOptions
        {
            Host = "127.0.0.1",
            Port = broker.Port,
            ClientId = $"smartpower-restart-{Guid.NewGuid():N}", // the same across reconnects: its session (and queue) persists
            ShareGroup = shared ? "smartpower" : null,
            MaxReconnectDelay = TimeSpan.FromSeconds(1),
        }, loggers: _loggers);
        var devices = Story.Devices.ToDictionary(id => id, id => new TestDevice(id, "-", broker.Port) { RetryWhenNobodySubscribed = shared });
        var sent = 0;
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var publishing = Story.PlayAsync(messages, id => devices[id], timeout.Token, TimeSpan.FromMilliseconds(30), () => Interlocked.Increment(ref sent));

        var problems = new List<string>();
        foreach (var at in new[] { 1, 2 })
        {
            while (Volatile.Read(ref sent) < messages.Count * at / 3)
            {
                await Task.Delay(10, timeout.Token);
            }

            await broker.StopAsync();
            var sentAtStop = Volatile.Read(ref sent);
            await Task.Delay(1500, timeout.Token);
            problems.AddRange(harness.Pipeline.Problems);
            Assert.InRange(Volatile.Read(ref sent), sentAtStop, sentAtStop + Story.Devices.Length); // nothing acknowledged while it is down
            await broker.StartAgainAsync();
        }

        await publishing;
        Assert.Contains(problems, p => p.Contains("external broker not connected", StringComparison.Ordinal));
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (harness.Pipeline.Metrics.Accepted < messages.Count && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        await harness.WaitCaughtUpAsync();
        Assert.Empty(harness.Pipeline.Problems);
        var stored = await harness.Pipeline.Store.GetAlertsAsync();
        var opened = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var s in stored)
        {
            opened[s.Alert.AlertId] = (await harness.Pipeline.Store.GetTransitionsAsync(s.Alert.AlertId)).Count(t => t.Kind == "opened");
        }


        var (lost, duplicated) = ReliabilityReport.Compare(expected, [.. stored.Select(s => s.Alert.AlertId)], opened);
        var m = harness.Pipeline.Metrics;
        ReliabilityReport.Record(output, shared ? "b) mosquitto restarted twice, shared subscription, devices resend on reason 16" : "b) mosquitto restarted twice, plain subscription", expected.Count, stored.Count, lost, duplicated,
            $"readings {messages.Count} sent, {m.Accepted} accepted, {m.Duplicates} duplicates dropped (redelivered)");
        if (m.Accepted != messages.Count)
        {
            output.WriteLine(string.Join('\n', _loggers.Lines) + "\nmosquitto:\n" + broker.Log);
        }

        Assert.Equal(messages.Count, m.Accepted);
        Assert.Contains(_loggers.Lines, l => l.Contains("bridge connected", StringComparison.Ordinal));
        Assert.Equal(0, lost);
        Assert.Equal(0, duplicated);
        Assert.All(stored, s => Assert.Equal(AlertJson.ToJson(expected[s.Alert.AlertId]), AlertJson.ToJson(s.Alert)));
        foreach (var device in devices.Values)
        {
            await device.DisposeAsync();
        }
    }

    public void Dispose() => _directory.Dispose();
}
