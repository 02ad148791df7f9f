using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using SmartPower.Alerts;
using SmartPower.Api;
using SmartPower.Api.Access;
using SmartPower.Cosmos;
using SmartPower.Functions;

namespace SmartPower.Azure.Tests;

/// <summary>
/// The status API as HTTP functions over the Cosmos DB store on the test server: the same handlers as the local host,
/// API keys in their own container, an alert with its history, acknowledging, keys issued, listed and revoked, device
/// tokens. The site and station listings run one Cosmos DB query each, which the test server cannot: their query is
/// checked here as text, and runs only on Azure.
/// </summary>
public sealed class StatusFunctionsTests : CosmosNightTests
{
    [Fact]
    public async Task Keys_authenticate_from_their_own_container_and_an_admin_issues_lists_and_revokes_them()
    {
        var functions = Functions();
        var (_, admin) = await ApiKeys.IssueAsync(Store, Role.Admin, null, "ops", TimeProvider.System, CancellationToken.None);
        Assert.Equal(401, Status(await functions.MeAsync(Request(null), CancellationToken.None)));
        Assert.Equal(401, Status(await functions.MeAsync(Request("spk_not-a-key"), CancellationToken.None)));
        Assert.Equal(200, Status(await functions.MeAsync(Request(admin), CancellationToken.None)));

        var issued = await functions.IssueKeyAsync(Request(admin, """{"role":"property-manager","scope":"pm-greenleaf","name":"Greenleaf"}"""), CancellationToken.None);
        Assert.Equal(201, Status(issued));
        using var body = JsonDocument.Parse(Content(issued));
        var secret = body.RootElement.GetProperty("apiKey").GetString()!;
        var keyId = body.RootElement.GetProperty("key").GetProperty("keyId").GetString()!;
        Assert.Equal(200, Status(await functions.MeAsync(Request(secret), CancellationToken.None)));
        Assert.Equal(2, JsonDocument.Parse(Content(await functions.ListKeysAsync(Request(admin), CancellationToken.None))).RootElement.GetArrayLength());
        Assert.Equal(403, Status(await functions.ListKeysAsync(Request(secret), CancellationToken.None)));

        Assert.Equal(200, Status(await functions.RevokeKeyAsync(Request(admin), keyId, CancellationToken.None)));
        Assert.Equal(401, Status(await functions.MeAsync(Request(secret), CancellationToken.None)));
        Assert.Equal(404, Status(await functions.RevokeKeyAsync(Request(admin), keyId, CancellationToken.None)));
        Assert.Contains(await Store.ListApiKeysAsync(CancellationToken.None), k => k.KeyId == keyId && k.RevokedAt is not null);
    }

    [Fact]
    public async Task The_first_admin_key_comes_from_its_hash_in_the_settings_once_and_stays_revoked()
    {
        var functions = Functions();
        const string secret = "spk_bootstrap-key-for-this-test-only";
        var settings = new SmartPowerSettings { AdminKeySha256 = Convert.ToHexStringLower(ApiKeys.Hash(secret)) };
        var bootstrap = new AdminKeyBootstrap(settings, Store, TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger<AdminKeyBootstrap>.Instance);
        await bootstrap.StartAsync(CancellationToken.None);
        Assert.Equal(200, Status(await functions.MeAsync(Request(secret), CancellationToken.None)));
        var keyId = Assert.Single(await Store.ListApiKeysAsync(CancellationToken.None)).KeyId;
        Assert.Equal($"k-bootstrap-{settings.AdminKeySha256[..8]}", keyId);
        Assert.Equal(200, Status(await functions.RevokeKeyAsync(Request(secret), keyId, CancellationToken.None)));
        await bootstrap.StartAsync(CancellationToken.None); // the next start does not bring it back
        Assert.Equal(401, Status(await functions.MeAsync(Request(secret), CancellationToken.None)));
        Assert.Single(await Store.ListApiKeysAsync(CancellationToken.None));
    }

    /// <summary>A parameter given twice was read as its first value here, where the local host answers 400: now both do.</summary>
    [Theory]
    [InlineData("?state=open&state=cleared")]
    [InlineData("?limit=1&limit=500")]
    public async Task A_query_parameter_given_twice_is_refused_as_on_the_local_host(string query)
    {
        var functions = Functions();
        var (_, manager) = await ApiKeys.IssueAsync(Store, Role.PropertyManager, "pm-greenleaf", "Greenleaf", TimeProvider.System, CancellationToken.None);
        var request = Request(manager);
        request.QueryString = new QueryString(query);
        Assert.Equal(400, Status(await functions.SiteAlertsAsync(request, Feed.Site, CancellationToken.None)));
        Assert.Equal(400, Status(await functions.StationAlertsAsync(request, "xihu-3", CancellationToken.None)));
    }

    [Fact]
    public async Task An_alert_is_served_with_its_history_and_acknowledged_as_on_the_local_host()
    {
        var functions = Functions();
        var (_, manager) = await ApiKeys.IssueAsync(Store, Role.PropertyManager, "pm-greenleaf", "Greenleaf", TimeProvider.System, CancellationToken.None);
        var (_, stranger) = await ApiKeys.IssueAsync(Store, Role.PropertyManager, "pm-elsewhere", "Elsewhere", TimeProvider.System, CancellationToken.None);
        var leakage = Night.Transitions.Where(t => t.Alert.Type == AlertType.Leakage).ToList();
        await Store.CommitAsync(new BatchCommit(0, leakage, [], null), CancellationToken.None);
        var id = leakage[0].Alert.AlertId;

        var answer = await functions.AlertAsync(Request(manager), id, CancellationToken.None);
        Assert.Equal(200, Status(answer));
        Assert.Equal("application/json", ((ContentResult)answer).ContentType);
        using (var detail = JsonDocument.Parse(Content(answer)))
        {
            Assert.Equal(leakage.Select(t => AlertNames.Of(t.Kind)), detail.RootElement.GetProperty("history").EnumerateArray().Select(h => h.GetProperty("kind").GetString()));
        }

        Assert.Equal(404, Status(await functions.AlertAsync(Request(stranger), id, CancellationToken.None))); // not visible: as if it did not exist
        Assert.Equal(200, Status(await functions.AcknowledgeAsync(Request(manager, """{"actor":"pm-zhao","note":"on my way"}"""), id, CancellationToken.None)));
        Assert.Equal(409, Status(await functions.AcknowledgeAsync(Request(manager, """{"actor":"pm-zhao"}"""), id, CancellationToken.None)));
        var history = await Store.GetTransitionsAsync(id);
        Assert.Equal(("acknowledged", "pm-zhao", "on my way"), (history[^1].Kind, history[^1].Actor, history[^1].Note));
        Assert.Equal("application/problem+json", ((ContentResult)await functions.AlertAsync(Request(manager), "no-such-alert", CancellationToken.None)).ContentType);
    }

    [Fact]
    public async Task An_admin_issues_and_revokes_device_tokens_kept_as_hashes()
    {
        var functions = Functions();
        var (_, admin) = await ApiKeys.IssueAsync(Store, Role.Admin, null, "ops", TimeProvider.System, CancellationToken.None);
        var issued = await functions.IssueDeviceTokenAsync(Request(admin), "m-0001", CancellationToken.None);
        Assert.Equal(201, Status(issued));
        var token = JsonDocument.Parse(Content(issued)).RootElement.GetProperty("token").GetString()!;
        Assert.True(await Store.VerifyAsync("m-0001", token, CancellationToken.None));
        Assert.Equal(200, Status(await functions.RevokeDeviceTokensAsync(Request(admin), "m-0001", CancellationToken.None)));
        Assert.False(await Store.VerifyAsync("m-0001", token, CancellationToken.None));
    }

    [Fact]
    public void The_alert_listing_is_one_query_on_the_indexed_fields_in_the_order_of_the_composite_index()
    {
        var query = new AlertQuery(new HashSet<string> { "b-site", "a-site" })
        {
            State = AlertState.Open,
            Severity = Severity.Critical,
            From = Feed.T0,
            UnresolvedOnly = true,
            After = new AlertCursor(1234, "abc"),
            Limit = 20,
        };
        var definition = CosmosStore.AlertQueryDefinition(query);
        Assert.Equal(
            "SELECT * FROM c WHERE c.siteId IN (@s0, @s1) AND c.state = @state AND c.severity = @severity AND c.openedAt >= @from"
            + " AND (c.openedAt < @afterAt OR (c.openedAt = @afterAt AND c.id > @afterId)) AND (NOT IS_DEFINED(c.resolvedAt) OR IS_NULL(c.resolvedAt))"
            + " ORDER BY c.openedAt DESC, c.id ASC OFFSET 0 LIMIT @limit",
            definition.QueryText);
        var parameters = definition.GetQueryParameters().ToDictionary(p => p.Name, p => p.Value);
        Assert.Equal(("a-site", "b-site", "open", "critical", 20), (parameters["@s0"], parameters["@s1"], parameters["@state"], parameters["@severity"], parameters["@limit"]));

        // Every field it filters or sorts on is indexed on the alerts container, and the sort has its composite index.
        var alerts = CosmosSchema.All(new CosmosStoreOptions()).Single(c => c.Id == CosmosSchema.Alerts);
        foreach (var field in new[] { "siteId", "deviceId", "state", "type", "severity", "openedAt", "resolvedAt" })
        {
            Assert.Contains(alerts.IndexingPolicy.IncludedPaths, p => p.Path == $"/{field}/?");
        }

        Assert.Contains(alerts.IndexingPolicy.CompositeIndexes, c => c.Select(p => (p.Path, p.Order)).SequenceEqual(
            [("/openedAt", Microsoft.Azure.Cosmos.CompositePathSortOrder.Descending), ("/id", Microsoft.Azure.Cosmos.CompositePathSortOrder.Ascending)]));
    }

    private StatusFunctions Functions() => new(new StatusApi(Night.Registry, Store, Store, Store));

    /// <summary>A request as the Functions host hands it over: the key in its header, the body as it came.</summary>
    internal static HttpRequest Request(string? key, string? body = null)
    {
        var context = new DefaultHttpContext();
        if (key is not null)
        {
            context.Request.Headers[StatusFunctions.KeyHeader] = key;
        }

        context.Request.Body = new MemoryStream(Encoding.UTF8.GetBytes(body ?? ""));
        return context.Request;
    }

    private static int Status(IActionResult result) => ((ContentResult)result).StatusCode!.Value;

    private static string Content(IActionResult result) => ((ContentResult)result).Content!;
}
