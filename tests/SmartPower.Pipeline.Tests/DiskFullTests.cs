using System.Globalization;
using System.Net;
using System.Text.Json;
using SmartPower.Alerts;
using SmartPower.Sqlite;
using Xunit.Abstractions;

namespace SmartPower.Pipeline.Tests;

/// <summary>
/// The disk full, for real: the store and the telemetry log each on a small tmpfs, filled to the last byte while the host
/// (a separate process) takes the story's readings. The store full (SQLITE_FULL): readings are still acknowledged, since
/// the log has them durably, detection retries from its checkpoint, <c>/health</c> says degraded. The log full too (ENOSPC):
/// nothing more is acknowledged, so the devices keep their readings. The host stays up throughout; once space returns
/// every reading is processed and the store holds exactly the engine's own alerts for the story, each opened once.
/// </summary>
public sealed class DiskFullTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _directory = new("diskfull");

    [Fact]
    public async Task A_full_disk_acknowledges_nothing_that_is_not_durable_and_loses_nothing_once_space_returns()
    {
        using var storeDisk = SmallFilesystem.Mount(_directory.File("store"), 8);
        using var logDisk = SmallFilesystem.Mount(_directory.File("log"), 8);
        var registry = _directory.File("registry.json");
        await File.WriteAllTextAsync(registry, Feed.RegistryJson);
        var db = Path.Combine(storeDisk.Path, "store.db");
        var tokens = new Dictionary<string, string>(StringComparer.Ordinal);
        await using (var store = await SqliteStore.OpenAsync(new SqliteStoreOptions { Path = db }))
        {
            foreach (var id in Story.Devices)
            {
                tokens[id] = await store.IssueAsync(id, CancellationToken.None);
            }
        }

        var mqtt = FreePorts.Next();
        var http = FreePorts.Next();
        using var host = await HostProcess.StartAsync("--registry", registry, "--db", db, "--log-dir", Path.Combine(logDisk.Path, "log"),
            "--mqtt-port", $"{mqtt}", "--http-port", $"{http}", "--rate", "1000", "--checkpoint-ms", "100");
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{http}") };
        var devices = Story.Devices.ToDictionary(id => id, id => new TestDevice(id, tokens[id], mqtt));
        var messages = Story.Messages();
        var expected = Story.Expected(messages);
        var third = messages.Count / Story.Devices.Length / 3 * Story.Devices.Length; // whole reporting instants
        var acknowledged = 0;
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));

        // 1. Room on both disks.
        await Story.PlayAsync([.. messages.Take(third)], id => devices[id], timeout.Token, sent: () => Interlocked.Increment(ref acknowledged));
        await WaitForAsync(client, h => Accepted(h) == third, "the first third processed");

        // 2. The store's disk full: still acknowledged (durable in the log), not stored; health degraded.
        storeDisk.Fill();
        await Story.PlayAsync([.. messages.Skip(third).Take(third)], id => devices[id], timeout.Token, sent: () => Interlocked.Increment(ref acknowledged));
        Assert.Equal(2 * third, acknowledged);
        var storeFull = await WaitForAsync(client, h => Problems(h).Any(p => p.Contains("store cannot be written", StringComparison.Ordinal)), "health degraded by the store");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.GetAsync("/health")).StatusCode);
        Assert.Contains("disk is full", string.Join(' ', Problems(storeFull)), StringComparison.Ordinal); // SQLITE_FULL, said plainly
        await WaitForOutputAsync(host, "consumer failed"); // logged just after the failure health reports, through a pipe

        // 3. The log's disk full too: once a write has failed, nothing more is acknowledged while it lasts.
        logDisk.Fill();
        var publishing = Story.PlayAsync([.. messages.Skip(2 * third)], id => devices[id], timeout.Token, sent: () => Interlocked.Increment(ref acknowledged));
        var logFull = await WaitForAsync(client, h => Problems(h).Any(p => p.Contains("telemetry log cannot be written", StringComparison.Ordinal)), "health degraded by the log");
        // A few may fit in the last page the log's file already had (a failed write is cut back, so a device's resend
        // may fit there later), and an acknowledgement of a commit made before the failed write may still be on its
        // way: taken once the count has held still for longer than the devices' longest backoff.
        var ackedWhenFull = await SettledAsync(() => Volatile.Read(ref acknowledged));
        await Task.Delay(2000);
        Assert.Equal(ackedWhenFull, Volatile.Read(ref acknowledged));
        Assert.False(publishing.IsCompleted);
        Assert.Contains("No space left on device", string.Join(' ', Problems(logFull)), StringComparison.Ordinal);
        Assert.False(host.HasExited, "the host must ride out a full disk, not crash:\n" + host.Output);

        // 4. Space back: the devices' resends are taken, detection catches up, health is ok again.
        storeDisk.Free();
        logDisk.Free();
        await publishing;
        var healthy = await WaitForAsync(client, h => Problems(h).Count == 0 && Accepted(h) == messages.Count && Lag(h) == 0, "every reading processed and health ok");
        Assert.Equal("ok", healthy.GetProperty("status").GetString());
        Assert.Equal(0, await host.StopAsync());

        await using var result = await SqliteStore.OpenAsync(new SqliteStoreOptions { Path = db });
        var stored = await result.GetAlertsAsync();
        var opened = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var s in stored)
        {
            Assert.Equal(AlertJson.ToJson(expected[s.Alert.AlertId]), AlertJson.ToJson(s.Alert));
            opened[s.Alert.AlertId] = (await result.GetTransitionsAsync(s.Alert.AlertId)).Count(t => t.Kind == "opened");
        }

        var ids = stored.Select(s => s.Alert.AlertId).ToList();
        var (lost, duplicated) = ReliabilityReport.Compare(expected, ids, opened);
        ReliabilityReport.Record(output, "c) store and log disk full (tmpfs, ENOSPC/SQLITE_FULL)", expected.Count, stored.Count, lost, duplicated,
            $"acked after the log's first failed write: 0 (of {messages.Count - ackedWhenFull} held by devices); readings {messages.Count} sent, {Accepted(healthy)} accepted; health 503 'degraded' while full");
        Assert.Equal(0, lost);
        Assert.Equal(0, duplicated);
        foreach (var device in devices.Values)
        {
            await device.DisposeAsync();
        }
    }

    private static async Task<int> SettledAsync(Func<int> count)
    {
        var value = count();
        var deadline = DateTime.UtcNow.AddSeconds(20); // still moving then: the assertion after says so
        for (var still = 0; still < 30 && DateTime.UtcNow < deadline; still++)
        {
            await Task.Delay(100);
            if (count() != value)
            {
                (value, still) = (count(), -1);
            }
        }

        return value;
    }

    private static async Task WaitForOutputAsync(HostProcess host, string text)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!host.Output.Contains(text, StringComparison.Ordinal) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        Assert.Contains(text, host.Output, StringComparison.Ordinal);
    }

    private static long Accepted(JsonElement health) => health.GetProperty("readings").GetProperty("accepted").GetInt64();

    private static long Lag(JsonElement health) => health.GetProperty("partitions").EnumerateArray().Sum(p => p.GetProperty("lagBytes").GetInt64());

    private static List<string> Problems(JsonElement health) => [.. health.GetProperty("problems").EnumerateArray().Select(p => p.GetString()!)];

    private static async Task<JsonElement> WaitForAsync(HttpClient client, Func<JsonElement, bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        JsonElement health = default;
        while (DateTime.UtcNow < deadline)
        {
            using var response = await client.GetAsync("/health");
            health = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
            if (condition(health))
            {
                return health;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"waited 30 s for {what}; /health says {health}");
    }

    public void Dispose() => _directory.Dispose();
}
