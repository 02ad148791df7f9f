using System.Text.Json;
using SmartPower.Cosmos;

namespace SmartPower.Azure.Tests;

/// <summary>
/// The deployment as compiled by <c>bicep build</c> (test.sh builds and lints infra/main.bicep and hands the ARM template
/// over in <c>SMARTPOWER_TEST_ARM_TEMPLATE</c>; without it the tests fail): the Cosmos DB containers it deploys are the
/// store's (<see cref="CosmosSchema"/>), and nothing in it carries a key or connection string.
/// </summary>
public sealed class InfraTests
{
    private static readonly Lazy<JsonDocument> Template = new(() =>
    {
        var path = Environment.GetEnvironmentVariable("SMARTPOWER_TEST_ARM_TEMPLATE");
        return string.IsNullOrEmpty(path)
            ? throw new InvalidOperationException("SMARTPOWER_TEST_ARM_TEMPLATE is not set: run the tests through ./test.sh, which builds infra/main.bicep")
            : JsonDocument.Parse(File.ReadAllText(path));
    });

    [Fact]
    public void The_deployed_cosmos_containers_are_the_store_s()
    {
        var deployed = Nested().Select(t => t.TryGetProperty("variables", out var v) && v.TryGetProperty("containers", out var c) ? c : (JsonElement?)null)
            .OfType<JsonElement>().Single().EnumerateArray().ToDictionary(c => c.GetProperty("name").GetString()!);
        Assert.Contains("leases", deployed.Keys); // the change feed trigger's, not the store's
        foreach (var container in CosmosSchema.All(new CosmosStoreOptions()))
        {
            var d = deployed[container.Id];
            Assert.Equal(container.PartitionKeyPath, d.GetProperty("partitionKey").GetString());
            Assert.Equal(container.DefaultTimeToLive ?? 0, d.GetProperty("ttl").GetInt32());
            var indexed = d.GetProperty("indexed").EnumerateArray().Select(p => p.GetProperty("path").GetString()).ToList();
            Assert.Equal(container.IndexingPolicy.IncludedPaths.Select(p => p.Path), indexed);
            Assert.Equal(container.IndexingPolicy.CompositeIndexes.Count, d.GetProperty("composite").GetArrayLength());
        }

        Assert.Equal(CosmosSchema.All(new CosmosStoreOptions()).Count + 1, deployed.Count);
    }

    [Fact]
    public void No_service_accepts_keys_and_the_app_gets_no_connection_string()
    {
        var text = Template.Value.RootElement.GetRawText();
        Assert.DoesNotContain("listKeys", text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("AccountKey=", text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("SharedAccessKey", text, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("\"disableLocalAuth\": true", Normalised(text), StringComparison.Ordinal);
        Assert.Contains("\"allowSharedKeyAccess\": false", Normalised(text), StringComparison.Ordinal);
        Assert.Contains("AzureWebJobsStorage__accountName", text, StringComparison.Ordinal);
        Assert.Contains("EventHubs__fullyQualifiedNamespace", text, StringComparison.Ordinal);
        Assert.Contains("Cosmos__accountEndpoint", text, StringComparison.Ordinal);
        Assert.Contains("FlexConsumption", text, StringComparison.Ordinal);
    }

    /// <summary>
    /// The Event Grid namespace's MQTT capacity was the constant 1 TU in both modules that declare it (the routing module
    /// declares it again), so the scale model's 10 TU for 100,000 devices could not be deployed; and it allowed one
    /// session per authentication name while every Functions instance connects as the app's one client. Both now follow
    /// main.bicep's parameters.
    /// </summary>
    [Fact]
    public void The_event_grid_namespace_follows_the_fleet_s_throughput_units_and_the_app_s_instances()
    {
        var root = Template.Value.RootElement;
        Assert.True(root.GetProperty("parameters").TryGetProperty("eventGridThroughputUnits", out _), "main.bicep has no eventGridThroughputUnits parameter");
        Assert.Equal("[min(parameters('maximumInstanceCount'), 100)]", root.GetProperty("variables").GetProperty("appMqttSessions").GetString());
        var namespaces = Nested().SelectMany(Resources).Where(r => r.GetProperty("type").GetString() == "Microsoft.EventGrid/namespaces").ToList();
        Assert.Equal(2, namespaces.Count); // eventgrid.bicep, and eventgrid-routing.bicep declaring it again
        foreach (var ns in namespaces)
        {
            Assert.Equal("[parameters('throughputUnits')]", ns.GetProperty("sku").GetProperty("capacity").GetRawText().Trim('"'));
            Assert.Equal("[parameters('appSessions')]", ns.GetProperty("properties").GetProperty("topicSpacesConfiguration").GetProperty("maximumClientSessionsPerAuthenticationName").GetRawText().Trim('"'));
        }

        var modules = Resources(root).Where(r => r.GetProperty("type").GetString() == "Microsoft.Resources/deployments").ToList();
        foreach (var name in new[] { "eventgrid", "eventgrid-routing" })
        {
            var parameters = modules.Single(m => m.GetProperty("name").GetString() == name).GetProperty("properties").GetProperty("parameters");
            Assert.Equal("[parameters('eventGridThroughputUnits')]", parameters.GetProperty("throughputUnits").GetProperty("value").GetString());
            Assert.Equal("[variables('appMqttSessions')]", parameters.GetProperty("appSessions").GetProperty("value").GetString());
        }
    }

    /// <summary>
    /// The namespace routes every message published to it, the app's own stop-port commands as well; they reached the
    /// telemetry hub and were dead-lettered there as unknown topics, one dead letter per command. The subscription to
    /// the hub now passes only what does not end in <c>/command</c>.
    /// </summary>
    [Fact]
    public void Commands_the_app_publishes_are_not_routed_to_the_telemetry_hub()
    {
        var subscription = Nested().SelectMany(Resources).Single(r => r.GetProperty("type").GetString() == "Microsoft.EventGrid/namespaces/topics/eventSubscriptions");
        var filter = Assert.Single(subscription.GetProperty("properties").GetProperty("filtersConfiguration").GetProperty("filters").EnumerateArray());
        Assert.Equal("subject", filter.GetProperty("key").GetString());
        Assert.Equal("StringNotEndsWith", filter.GetProperty("operatorType").GetString());
        Assert.Equal(["/command"], filter.GetProperty("values").EnumerateArray().Select(v => v.GetString()));
    }

    private static string Normalised(string json) => JsonSerializer.Serialize(JsonDocument.Parse(json).RootElement, new JsonSerializerOptions { WriteIndented = true });

    private static IEnumerable<JsonElement> Resources(JsonElement template)
    {
        var resources = template.GetProperty("resources");
        return resources.ValueKind == JsonValueKind.Array ? resources.EnumerateArray() : resources.EnumerateObject().Select(p => p.Value);
    }

    /// <summary>Every template in the compiled file: the main one and each module's.</summary>
    private static IEnumerable<JsonElement> Nested()
    {
        var pending = new Stack<JsonElement>([Template.Value.RootElement]);
        while (pending.Count > 0)
        {
            var template = pending.Pop();
            yield return template;
            foreach (var r in Resources(template))
            {
                if (r.TryGetProperty("properties", out var p) && p.ValueKind == JsonValueKind.Object && p.TryGetProperty("template", out var nested))
                {
                    pending.Push(nested);
                }
            }
        }
    }
}
