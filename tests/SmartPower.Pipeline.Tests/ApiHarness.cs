using System.Net.Http.Json;
using System.Text;
using Microsoft.AspNetCore.Builder;
using SmartPower.Alerts;
using SmartPower.Api.Access;
using SmartPower.Contract;
using SmartPower.Host;
using SmartPower.Registry;
using SmartPower.Sqlite;

namespace SmartPower.Pipeline.Tests;

/// <summary>A <see cref="PipelineHarness"/> with the host's own web app (the one <c>serve</c> runs) on a free port.</summary>
internal sealed class ApiHarness : IAsyncDisposable
{
    private ApiHarness(PipelineHarness pipeline, WebApplication web, Uri baseAddress)
    {
        Pipeline = pipeline;
        Web = web;
        BaseAddress = baseAddress;
    }

    public PipelineHarness Pipeline { get; }

    public WebApplication Web { get; }

    public Uri BaseAddress { get; }

    public SqliteStore Store => Pipeline.Pipeline.Store;

    public static async Task<ApiHarness> StartAsync(DeviceRegistry? registry = null)
    {
        var pipeline = await PipelineHarness.StartAsync(registry);
        var port = FreePorts.Next();
        var web = Serve.BuildWeb(pipeline.Pipeline, port);
        await web.StartAsync();
        return new ApiHarness(pipeline, web, new Uri($"http://127.0.0.1:{port}"));
    }

    /// <summary>A new API key's secret.</summary>
    public async Task<string> KeyAsync(Role role, string? scope = null, string? name = null) =>
        (await ApiKeys.IssueAsync(Store, role, scope, name ?? $"test {RoleNames.Of(role)} {scope}".Trim(), TimeProvider.System, CancellationToken.None)).Secret;

    /// <summary>A client that sends <paramref name="key"/> (none when null) in X-Api-Key.</summary>
    public HttpClient Client(string? key)
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        if (key is not null)
        {
            client.DefaultRequestHeaders.Add("X-Api-Key", key);
        }

        return client;
    }

    /// <summary>Stores an alert opened at <paramref name="openedAt"/> (and cleared 5 min later when <paramref name="cleared"/>) as the engine would.</summary>
    public async Task<Alert> PlantAsync(string deviceId, AlertType type, Severity severity, DateTimeOffset openedAt, bool cleared = false)
    {
        Pipeline.Pipeline.Registry.TryGetDevice(deviceId, out var device);
        var openedMs = openedAt.ToUnixTimeMilliseconds();
        var alert = new Alert(Alert.IdFor(device.SiteId, deviceId, type, null, openedMs), type, severity, deviceId, device.SiteId, null, openedAt, null, AlertState.Open,
            new Evidence(new EvidenceItem("leakageMa", 350), new EvidenceItem("sustainedS", 20)));
        List<AlertTransition> transitions = [new(TransitionKind.Opened, alert, openedMs)];
        if (cleared)
        {
            alert = alert with { State = AlertState.Cleared, ClearedAt = openedAt.AddMinutes(5) };
            transitions.Add(new AlertTransition(TransitionKind.Cleared, alert, openedMs + 300_000));
        }

        var notifications = SmartPower.Notifications.Notification.ForTransitions(transitions, Pipeline.Pipeline.Registry);
        await Store.CommitAsync(new BatchCommit(0, transitions, [], null) { Notifications = notifications }, CancellationToken.None);
        return alert;
    }

    /// <summary>Stores a device's latest reading (and whether it is online) as a consumer would.</summary>
    public Task ReportAsync(string deviceId, string payload, bool online = true)
    {
        Pipeline.Pipeline.Registry.TryGetDevice(deviceId, out var device);
        var latest = new DeviceLatest(deviceId, device.SiteId, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()) { Reading = Encoding.UTF8.GetBytes(payload), Online = online };
        return Store.CommitAsync(new BatchCommit(0, [], [latest], null), CancellationToken.None);
    }

    public async ValueTask DisposeAsync()
    {
        await Web.StopAsync();
        await Web.DisposeAsync();
        await Pipeline.DisposeAsync();
    }
}

/// <summary>
/// Two property managers and two fire stations over four compounds, each combination once: acacia and cedar are
/// pm-a's, birch and dogwood pm-b's; acacia and birch are in station fs-1's district, cedar and dogwood in fs-2's.
/// </summary>
internal static class Tenancy
{
    public static readonly string[] Sites = ["acacia", "birch", "cedar", "dogwood"];

    public const string RegistryJson = """
        {"sites":[
          {"siteId":"acacia","name":"Acacia Court","address":"1 Acacia Rd","fireStation":"fs-1","managerId":"pm-a"},
          {"siteId":"birch","name":"Birch Gardens","address":"2 Birch Rd","fireStation":"fs-1","managerId":"pm-b"},
          {"siteId":"cedar","name":"Cedar Heights","address":"3 Cedar Rd","fireStation":"fs-2","managerId":"pm-a"},
          {"siteId":"dogwood","name":"Dogwood Place","address":"4 Dogwood Rd","fireStation":"fs-2","managerId":"pm-b"}],
         "devices":[
          {"deviceId":"acacia-m1","siteId":"acacia","kind":"meter","circuit":"dwelling","ratedCurrentA":40,"location":{"building":"1","unit":"2","floor":3,"room":"302"}},
          {"deviceId":"acacia-p1","siteId":"acacia","kind":"pile","portCount":4,"portMaxW":400,"location":{"building":"shed-A"}},
          {"deviceId":"birch-m1","siteId":"birch","kind":"meter","circuit":"common-area","ratedCurrentA":16,"location":{"building":"2","floor":0,"room":"stairwell"}},
          {"deviceId":"cedar-m1","siteId":"cedar","kind":"meter","circuit":"dwelling","ratedCurrentA":40,"location":{"building":"5","room":"501"}},
          {"deviceId":"dogwood-m1","siteId":"dogwood","kind":"meter","circuit":"dwelling","ratedCurrentA":40,"location":{"building":"7","room":"701"}}]}
        """;

    public static DeviceRegistry Registry() => RegistryLoader.Parse(RegistryJson);

    public static string ManagerOf(string site) => site is "acacia" or "cedar" ? "pm-a" : "pm-b";

    public static string StationOf(string site) => site is "acacia" or "birch" ? "fs-1" : "fs-2";

    public static string DeviceOf(string site) => site + "-m1";

    public static string Topic(string deviceId, string kind = "meter") => $"smartpower/v1/{deviceId[..deviceId.IndexOf('-', StringComparison.Ordinal)]}/{kind}/{deviceId}/telemetry";
}

/// <summary>Reads problem details answers.</summary>
internal static class Problems
{
    public static async Task<string> ReadAsync(HttpResponseMessage response)
    {
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>();
        Assert.Equal((int)response.StatusCode, problem.GetProperty("status").GetInt32());
        return problem.GetProperty("detail").GetString() ?? "";
    }
}
