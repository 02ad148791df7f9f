using System.Text.Json;
using SmartPower.Sqlite;

namespace SmartPower.Pipeline.Tests;

/// <summary>The host's /health JSON and its OpenTelemetry metrics report the same figures.</summary>
public sealed class HealthTests : IDisposable
{
    private readonly TempDirectory _directory = new("health");

    /// <summary>
    /// A duty console's stream open as the host is stopped (SIGTERM) ends with it: before, the web server waited out its
    /// 30 s shutdown timeout for the stream, long enough for a supervisor's stop timeout to kill the host.
    /// </summary>
    [Fact]
    public async Task The_host_stops_at_once_with_a_station_stream_open()
    {
        var (registryPath, db, _) = await HostProcess.PrepareAsync(_directory, "m-0001");
        string key;
        await using (var store = await SqliteStore.OpenAsync(new SqliteStoreOptions { Path = db }))
        {
            key = (await Api.Access.ApiKeys.IssueAsync(store, Api.Access.Role.DutyOfficer, "xihu-3", "console", TimeProvider.System, CancellationToken.None)).Secret;
        }

        var http = FreePorts.Next();
        using var host = await HostProcess.StartAsync("--registry", registryPath, "--db", db, "--mqtt-port", $"{FreePorts.Next()}", "--http-port", $"{http}");
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{http}"), Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Add("X-Api-Key", key);
        using var stream = await client.GetAsync("/api/v1/stations/xihu-3/alerts/stream", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(System.Net.HttpStatusCode.OK, stream.StatusCode);
        using var events = new StreamReader(await stream.Content.ReadAsStreamAsync());
        Assert.Equal("event: snapshot", await events.ReadLineAsync());

        var stopping = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(0, await host.StopAsync());
        Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(10), $"the host took {stopping.Elapsed.TotalSeconds:F1} s to stop");
    }

    [Fact]
    public async Task Health_and_metrics_count_readings_rejections_lag_and_open_alerts()
    {
        var (registryPath, db, tokens) = await HostProcess.PrepareAsync(_directory, "m-0001");
        var token = tokens["m-0001"];
        var mqtt = FreePorts.Next();
        var http = FreePorts.Next();
        using var host = await HostProcess.StartAsync("--registry", registryPath, "--db", db, "--mqtt-port", $"{mqtt}", "--http-port", $"{http}");
        await using (var device = new TestDevice("m-0001", token, mqtt))
        {
            await device.ConnectAsync();
            foreach (var (_, topic, payload) in Story.Messages(200).Where(m => m.DeviceId == "m-0001"))
            {
                await device.PublishReliablyAsync(topic, payload, CancellationToken.None);
            }

            await device.PublishAsync(Feed.Topic("m-0001"), "{broken");
            await device.PublishAsync(Feed.Topic("m-0002"), Feed.MeterPayload(0, 1, 5)); // not its topic
        }

        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{http}") };
        using (var forged = new HttpRequestMessage(HttpMethod.Get, "/api/v1/sites/xihu-wutong/status"))
        {
            forged.Headers.Add("X-Api-Key", "spk_" + new string('0', 43));
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await client.SendAsync(forged)).StatusCode);
        }

        JsonElement health = default;
        for (var i = 0; i < 100; i++)
        {
            health = JsonDocument.Parse(await client.GetStringAsync("/health")).RootElement;
            // Every count awaited, not just the readings: the broken message comes after them, and is counted only
            // once the consumer reaches it.
            if (health.GetProperty("readings").GetProperty("accepted").GetInt64() == 20
                && health.GetProperty("rejectedByReason").TryGetProperty("malformed-json", out var malformed) && malformed.GetInt64() == 1
                && health.GetProperty("refusedAtIngress").TryGetProperty("topic-not-allowed", out var refused) && refused.GetInt64() == 1
                && health.GetProperty("alertsOpen").GetProperty("critical").GetInt64() == 1
                && health.GetProperty("partitions").EnumerateArray().All(p => p.GetProperty("lagBytes").GetInt64() == 0))
            {
                break;
            }

            await Task.Delay(100);
        }

        Assert.Equal(20, health.GetProperty("readings").GetProperty("accepted").GetInt64());
        Assert.Equal(1, health.GetProperty("rejectedByReason").GetProperty("malformed-json").GetInt64());
        Assert.Equal(1, health.GetProperty("refusedAtIngress").GetProperty("topic-not-allowed").GetInt64());
        Assert.Equal(1, health.GetProperty("refusedAtApi").GetProperty("unauthenticated").GetInt64());
        Assert.Equal("ok", health.GetProperty("status").GetString());
        Assert.Equal(1, health.GetProperty("alertsOpen").GetProperty("critical").GetInt64());
        Assert.All(health.GetProperty("partitions").EnumerateArray(), p => Assert.Equal(0, p.GetProperty("lagBytes").GetInt64()));

        var metrics = await client.GetStringAsync("/metrics");
        Assert.Matches(@"smartpower_readings_accepted\w*(\{[^}]*\})? 20\b", metrics);
        Assert.Matches(@"smartpower_readings_rejected\w*\{[^}]*reason=""malformed-json""[^}]*\} 1\b", metrics);
        Assert.Matches(@"smartpower_partition_lag\w*\{[^}]*partition=""0""[^}]*\} 0\b", metrics);
        Assert.Matches(@"smartpower_api_refused\w*\{[^}]*reason=""unauthenticated""[^}]*\} 1\b", metrics);
        Assert.Equal(0, await host.StopAsync());
    }

    public void Dispose() => _directory.Dispose();
}
