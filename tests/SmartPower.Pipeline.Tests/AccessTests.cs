using System.Net;
using System.Text;
using SmartPower.Alerts;
using SmartPower.Api.Access;
using Xunit.Abstractions;

namespace SmartPower.Pipeline.Tests;

/// <summary>
/// Who may see what: every endpoint answers 401 without a valid key, and 403 or 404 outside the key's scope, and no
/// answer to any key ever names another tenant's site, device or alert (a sweep of every endpoint with every role over
/// two managers and two fire stations).
/// </summary>
public sealed class AccessTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 20, 0, 0, TimeSpan.Zero);
    private ApiHarness _api = null!;
    private readonly Dictionary<string, string> _alertOf = new(StringComparer.Ordinal);

    /// <summary>Every endpoint, with <c>{site}</c>, <c>{alert}</c>, <c>{device}</c> and <c>{station}</c> to fill in.</summary>
    private static readonly (string Method, string Path)[] Endpoints =
    [
        ("GET", "/api/v1/sites/{site}/status"),
        ("GET", "/api/v1/sites/{site}/alerts"),
        ("GET", "/api/v1/sites/{site}/alerts?state=open&severity=critical"),
        ("GET", "/api/v1/alerts/{alert}"),
        ("GET", "/api/v1/alerts/{alert}/deliveries"),
        ("POST", "/api/v1/alerts/{alert}/ack"),
        ("POST", "/api/v1/alerts/{alert}/resolve"),
        ("GET", "/api/v1/devices/{device}"),
        ("GET", "/api/v1/stations/{station}/alerts"),
        ("GET", "/api/v1/stations/{station}/alerts/stream"),
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/keys"),
        ("POST", "/api/v1/keys"),
        ("DELETE", "/api/v1/keys/k-000000000000"),
        ("POST", "/api/v1/devices/{device}/tokens"),
        ("DELETE", "/api/v1/devices/{device}/tokens"),
    ];

    public async Task InitializeAsync()
    {
        _api = await ApiHarness.StartAsync(Tenancy.Registry());
        foreach (var site in Tenancy.Sites)
        {
            var device = Tenancy.DeviceOf(site);
            _alertOf[site] = (await _api.PlantAsync(device, AlertType.Leakage, Severity.Critical, T0)).AlertId;
            await _api.ReportAsync(device, Feed.MeterPayload(0, 1, 10));
        }
    }

    public async Task DisposeAsync() => await _api.DisposeAsync();

    [Fact]
    public async Task Every_endpoint_refuses_a_request_without_a_valid_key_with_401()
    {
        var revoked = await _api.KeyAsync(Role.Admin);
        var keyId = (await _api.Store.ListApiKeysAsync(CancellationToken.None)).Single().KeyId;
        Assert.True(await _api.Store.RevokeApiKeyAsync(keyId, DateTimeOffset.UtcNow, CancellationToken.None));
        foreach (var key in new[] { null, "", "spk_not-a-key", "not even the prefix", revoked })
        {
            using var client = _api.Client(key);
            foreach (var (method, path) in Endpoints)
            {
                using var response = await SendAsync(client, method, Fill(path, "acacia"));
                Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{method} {path} with key '{key}' answered {response.StatusCode}");
                Assert.Contains("X-Api-Key", await Problems.ReadAsync(response), StringComparison.Ordinal);
            }
        }

        var alert = await _api.Store.GetAlertAsync(_alertOf["acacia"], CancellationToken.None);
        Assert.Null(alert!.AcknowledgedAt);
        Assert.Null(alert.ResolvedAt);
        Assert.Equal(5 * Endpoints.Length, _api.Pipeline.Pipeline.ApiRefusals.RefusedFor("unauthenticated")); // counted, as /health and /metrics show
        ReliabilityReport.Record(output, "abuse: API calls with no key, an empty, forged, malformed or revoked key",
            $"{5 * Endpoints.Length} requests to {Endpoints.Length} endpoints, all 401, counted unauthenticated {_api.Pipeline.Pipeline.ApiRefusals.RefusedFor("unauthenticated")}; no alert acknowledged or resolved");
    }

    [Fact]
    public async Task Sweep_every_endpoint_with_every_role_against_every_tenant_and_nothing_leaks()
    {
        var keys = new (string Name, Role Role, string? Scope)[]
        {
            ("manager pm-a", Role.PropertyManager, "pm-a"),
            ("manager pm-b", Role.PropertyManager, "pm-b"),
            ("officer fs-1", Role.DutyOfficer, "fs-1"),
            ("officer fs-2", Role.DutyOfficer, "fs-2"),
            ("admin", Role.Admin, null),
        };
        var requests = 0;
        var statuses = new Dictionary<int, int>();
        foreach (var (name, role, scope) in keys)
        {
            using var client = _api.Client(await _api.KeyAsync(role, scope, name));
            bool Sees(string site) => role == Role.Admin || (role == Role.PropertyManager ? Tenancy.ManagerOf(site) == scope : Tenancy.StationOf(site) == scope);
            var invisible = Tenancy.Sites.Where(s => !Sees(s)).SelectMany(s => new[] { s, Tenancy.DeviceOf(s), _alertOf[s], Registry(s).Name, Registry(s).Address! }).ToList();
            foreach (var site in Tenancy.Sites)
            {
                foreach (var (method, path) in Endpoints.Where(e => e.Method != "DELETE" || role != Role.Admin))
                {
                    var url = Fill(path, site);
                    using var response = await SendAsync(client, method, url);
                    requests++;
                    statuses[(int)response.StatusCode] = statuses.GetValueOrDefault((int)response.StatusCode) + 1;
                    var body = await response.Content.ReadAsStringAsync();
                    var what = $"{name}: {method} {url} -> {(int)response.StatusCode} {body[..Math.Min(body.Length, 300)]}";
                    var expected = Expected(path, role, scope, Sees(site), site);
                    Assert.True(expected.Contains(response.StatusCode), what);
                    foreach (var secret in invisible)
                    {
                        Assert.False(body.Contains(secret, StringComparison.Ordinal), $"{what} names '{secret}' of another tenant");
                    }
                }
            }
        }

        // Only keys that could see an alert acted on it.
        foreach (var site in Tenancy.Sites)
        {
            var alert = (await _api.Store.GetAlertAsync(_alertOf[site], CancellationToken.None))!;
            Assert.Contains(alert.AcknowledgedBy, new[] { $"manager {Tenancy.ManagerOf(site)}", $"officer {Tenancy.StationOf(site)}", "admin" });
            Assert.Contains(alert.ResolvedBy, new[] { $"manager {Tenancy.ManagerOf(site)}", $"officer {Tenancy.StationOf(site)}", "admin" });
        }

        Assert.True(requests > 250, $"{requests} requests");
        var refusals = _api.Pipeline.Pipeline.ApiRefusals;
        Assert.Equal(statuses.GetValueOrDefault(403), refusals.RefusedFor("forbidden"));
        Assert.Equal(statuses.GetValueOrDefault(404), refusals.RefusedFor("not-found"));
        ReliabilityReport.Record(output, "abuse: API across tenants (2 managers, 2 fire stations, 4 sites, every role and endpoint)",
            $"{requests} requests: " + string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key} {s.Value}")) + "; refusals counted by reason (api.refused) equal; no answer names another tenant's site, address, device or alert");
    }

    [Fact]
    public async Task Outside_its_scope_a_key_gets_the_same_404_as_for_something_that_does_not_exist()
    {
        using var client = _api.Client(await _api.KeyAsync(Role.PropertyManager, "pm-a"));
        foreach (var (theirs, none) in new[]
        {
            ("/api/v1/sites/birch/status", "/api/v1/sites/zz-9/status"),
            ("/api/v1/sites/birch/alerts", "/api/v1/sites/zz-9/alerts"),
            ($"/api/v1/alerts/{_alertOf["birch"]}", "/api/v1/alerts/000000000000000000000000"),
            ("/api/v1/devices/birch-m1", "/api/v1/devices/m-zz"),
        })
        {
            using var a = await client.GetAsync(theirs);
            using var b = await client.GetAsync(none);
            Assert.Equal(HttpStatusCode.NotFound, a.StatusCode);
            Assert.Equal(await b.Content.ReadAsStringAsync(), await a.Content.ReadAsStringAsync());
        }
    }

    private static HashSet<HttpStatusCode> Expected(string path, Role role, string? scope, bool sees, string site)
    {
        if (path == "/api/v1/me")
        {
            return [HttpStatusCode.OK];
        }

        if (path.Contains("/keys", StringComparison.Ordinal) || path.Contains("/tokens", StringComparison.Ordinal))
        {
            // Admin: listing 200, issuing a key with an empty body 400, a device token 201.
            return role != Role.Admin ? [HttpStatusCode.Forbidden] : [HttpStatusCode.OK, HttpStatusCode.BadRequest, HttpStatusCode.Created];
        }

        if (path.Contains("/stations/", StringComparison.Ordinal))
        {
            var watches = role == Role.Admin || (role == Role.DutyOfficer && scope == Tenancy.StationOf(site));
            return watches ? [HttpStatusCode.OK] : [HttpStatusCode.Forbidden];
        }

        // A second ack or resolve of the same alert by another key that sees it is a conflict.
        return sees ? [HttpStatusCode.OK, HttpStatusCode.Conflict] : [HttpStatusCode.NotFound];
    }

    private string Fill(string path, string site) => path
        .Replace("{site}", site, StringComparison.Ordinal)
        .Replace("{device}", Tenancy.DeviceOf(site), StringComparison.Ordinal)
        .Replace("{alert}", _alertOf[site], StringComparison.Ordinal)
        .Replace("{station}", Tenancy.StationOf(site), StringComparison.Ordinal);

    private Registry.Site Registry(string site) => _api.Pipeline.Pipeline.Registry.GetSite(site);

    /// <summary>Sends one request; a stream is read up to its first event and then dropped.</summary>
    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, string method, string url)
    {
        if (url.EndsWith("/stream", StringComparison.Ordinal))
        {
            using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var streamed = await client.SendAsync(new HttpRequestMessage(HttpMethod.Get, url), HttpCompletionOption.ResponseHeadersRead, cancel.Token);
            if (!streamed.IsSuccessStatusCode)
            {
                return streamed;
            }

            using var reader = new StreamReader(await streamed.Content.ReadAsStreamAsync(cancel.Token));
            var first = new StringBuilder();
            while (await reader.ReadLineAsync(cancel.Token) is { Length: > 0 } line)
            {
                first.AppendLine(line);
            }

            streamed.Dispose();
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(first.ToString()) };
        }

        var body = method == "POST" && url.Contains("/alerts/", StringComparison.Ordinal) ? """{"note":"sweep"}""" : "";
        using var request = new HttpRequestMessage(new HttpMethod(method), url) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        return await client.SendAsync(request);
    }
}
