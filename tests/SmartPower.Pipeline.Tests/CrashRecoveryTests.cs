using SmartPower.Alerts;
using SmartPower.Sqlite;
using Xunit.Abstractions;

namespace SmartPower.Pipeline.Tests;

/// <summary>
/// The host killed mid-stream (SIGKILL, a real process) and restarted: devices reconnect and send again what was not
/// acknowledged, and the store ends up with every expected alert exactly once, with its transitions once each.
/// </summary>
public sealed class CrashRecoveryTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _directory = new("crash");

    [Fact]
    public async Task A_killed_host_restarts_without_losing_or_repeating_an_alert()
    {
        var (registryPath, db, tokens) = await HostProcess.PrepareAsync(_directory, Story.Devices);
        var mqtt = FreePorts.Next();
        string[] args = ["--registry", registryPath, "--db", db, "--mqtt-port", mqtt.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--http-port", FreePorts.Next().ToString(System.Globalization.CultureInfo.InvariantCulture), "--rate", "1000", "--checkpoint-ms", "100"];
        var messages = Story.Messages();
        var expected = Story.Expected(messages);

        var host = await HostProcess.StartAsync(args);
        var sent = 0;
        using var done = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var devices = Story.Devices.Select(id => new TestDevice(id, tokens[id], mqtt)).ToArray();
        var byId = devices.ToDictionary(d => d.DeviceId);

        // A steady stream, so that the kill lands mid-stream and after checkpoints.
        var publishing = Story.PlayAsync(messages, id => byId[id], done.Token, TimeSpan.FromMilliseconds(40), () => Interlocked.Increment(ref sent));

        // Kill it once alerts have started to open, with readings still flowing.
        while (Volatile.Read(ref sent) < messages.Count * 2 / 5)
        {
            await Task.Delay(10);
        }

        var checkpointsBeforeKill = await CheckpointCountAsync(db);
        host.Kill();
        var sentAtKill = Volatile.Read(ref sent);
        await Task.Delay(500);
        host.Dispose();
        host = await HostProcess.StartAsync(args);
        await publishing;
        Assert.True(sentAtKill < messages.Count, "the kill must land mid-stream");
        Assert.True(checkpointsBeforeKill > 0, "the kill must land after a checkpoint, so the restart resumes from saved state");

        // Stop gracefully (drains and checkpoints), then read the store.
        Assert.Equal(0, await host.StopAsync());
        host.Dispose();
        await using var result = await SqliteStore.OpenAsync(new SqliteStoreOptions { Path = db });
        var stored = await result.GetAlertsAsync();
        var opened = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var s in stored)
        {
            opened[s.Alert.AlertId] = (await result.GetTransitionsAsync(s.Alert.AlertId)).Count(t => t.Kind == "opened");
        }

        var (lost, duplicated) = ReliabilityReport.Compare(expected, [.. stored.Select(s => s.Alert.AlertId)], opened);
        ReliabilityReport.Record(output, "a) host SIGKILLed mid-stream after checkpoints, restarted (story, 4 devices)", expected.Count, stored.Count, lost, duplicated,
            $"killed after {sentAtKill} of {messages.Count} readings acknowledged, {checkpointsBeforeKill} checkpoints; devices resend what was not acknowledged");
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), stored.Select(s => s.Alert.AlertId).Order(StringComparer.Ordinal));
        foreach (var s in stored)
        {
            Assert.Equal(AlertJson.ToJson(expected[s.Alert.AlertId]), AlertJson.ToJson(s.Alert));
            var history = await result.GetTransitionsAsync(s.Alert.AlertId);
            Assert.Single(history, t => t.Kind == "opened");
        }

        foreach (var device in devices)
        {
            await device.DisposeAsync();
        }
    }

    private static async Task<long> CheckpointCountAsync(string db)
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={db};Mode=ReadOnly");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM checkpoints WHERE position > 0";
        return (long)(await command.ExecuteScalarAsync())!;
    }

    public void Dispose() => _directory.Dispose();
}
