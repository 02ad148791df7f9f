using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Azure.Cosmos;
using SmartPower.Cosmos;

namespace SmartPower.Azure.Tests;

/// <summary>
/// The Cosmos DB SQL queries the store makes, which the test server cannot run (they run only on Azure): each one's
/// text and parameters, and every field it filters or sorts on indexed on its container. There are six: the watchdog's
/// silent devices (once a minute), the escalation timer's open alerts (twice a minute), the outbox's due notifications
/// and next due time (the dispatcher), an alert's deliveries and the alert listing (people's requests, also in
/// <c>StatusFunctionsTests</c>). Nothing on the hot path queries.
/// </summary>
public sealed partial class QueryShapeTests : CosmosNightTests
{
    private static readonly IReadOnlyList<ContainerProperties> Containers = CosmosSchema.All(new CosmosStoreOptions());

    [Fact]
    public void The_watchdog_asks_for_the_device_documents_with_a_device_silent_since_the_cutoff_on_their_one_indexed_field()
    {
        var query = CosmosStore.SilentQuery(1_795_000_000_000);
        Assert.Equal("SELECT * FROM c WHERE c.watchFrom < @before", query.QueryText);
        Assert.Equal([("@before", (object)1_795_000_000_000L)], query.GetQueryParameters().Select(p => (p.Name, p.Value)));
        AssertIndexed(CosmosSchema.Devices, query, ["watchFrom"]);
    }

    [Fact]
    public void The_outbox_queries_filter_and_sort_on_indexed_fields()
    {
        var now = DateTimeOffset.FromUnixTimeMilliseconds(1_795_000_000_000);
        var due = CosmosStore.DueQuery(now);
        Assert.Equal("SELECT * FROM c WHERE c.state = @pending AND (c.nextAttemptAt <= @now OR c.nextAttemptAt > @stepped) ORDER BY c.nextAttemptAt", due.QueryText);
        Assert.Equal([("@pending", (object)"pending"), ("@now", 1_795_000_000_000L), ("@stepped", 1_795_000_600_000L)], due.GetQueryParameters().Select(p => (p.Name, p.Value)));
        AssertIndexed(CosmosSchema.Outbox, due, ["state", "nextAttemptAt"]);

        var next = CosmosStore.NextDueQuery();
        Assert.Equal("SELECT * FROM c WHERE c.state = @pending ORDER BY c.nextAttemptAt", next.QueryText);
        AssertIndexed(CosmosSchema.Outbox, next, ["state", "nextAttemptAt"]);

        var deliveries = CosmosStore.DeliveriesQuery("a-1");
        Assert.Equal("SELECT * FROM c WHERE c.alertId = @alert", deliveries.QueryText);
        Assert.Equal([("@alert", (object)"a-1")], deliveries.GetQueryParameters().Select(p => (p.Name, p.Value)));
        AssertIndexed(CosmosSchema.Outbox, deliveries, ["alertId"]);
    }

    [Fact]
    public void The_escalation_timer_asks_for_the_open_alerts_with_a_step_left_on_indexed_fields_without_their_history()
    {
        var query = CosmosStore.WatchesQuery();
        Assert.Equal(
            "SELECT c.alert, c.storedAt, c.acknowledgedAt, c.escalatedAt, c.reAlarmedAt FROM c"
            + " WHERE c.state = @open AND NOT IS_DEFINED(c.reAlarmedAt)"
            + " AND (IS_DEFINED(c.acknowledgedAt) OR (c.severity = @warning AND NOT IS_DEFINED(c.escalatedAt)))",
            query.QueryText);
        Assert.Equal([("@open", (object)"open"), ("@warning", "warning")], query.GetQueryParameters().Select(p => (p.Name, p.Value)));
        AssertIndexed(CosmosSchema.Alerts, query, ["state", "severity", "acknowledgedAt", "escalatedAt", "reAlarmedAt"]);
    }

    [Fact]
    public void The_station_listing_takes_critical_alerts_and_those_escalation_raised_on_an_indexed_field()
    {
        var station = new Api.AlertQuery(new HashSet<string> { "xihu-wutong" }) { State = Alerts.AlertState.Open, CriticalOrRaisedToStation = true, UnresolvedOnly = true };
        var definition = CosmosStore.AlertQueryDefinition(station);
        Assert.Contains(" AND (c.severity = @critical OR IS_DEFINED(c.raisedToStationAt))", definition.QueryText, StringComparison.Ordinal);
        Assert.Equal("critical", definition.GetQueryParameters().Single(p => p.Name == "@critical").Value);
        AssertIndexed(CosmosSchema.Alerts, definition, ["siteId", "state", "severity", "raisedToStationAt", "resolvedAt", "openedAt", "id"], except: ["id"]);
        Assert.DoesNotContain("raisedToStationAt", CosmosStore.AlertQueryDefinition(station with { CriticalOrRaisedToStation = false }).QueryText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_stored_device_document_carries_the_earliest_time_a_watched_device_was_heard_for_the_watchdog_query()
    {
        var processor = new DeviceBatchProcessor(Night.Registry, Store, Store, new RecordingCommands(), Store, new PipelineMetrics());
        foreach (var batch in Night.Batches(60).Take(5))
        {
            await processor.ProcessAsync(0, batch, CancellationToken.None);
        }

        using var response = await CosmosServer.Client.GetContainer(Options.Database, CosmosSchema.Devices).ReadItemStreamAsync("p0", new PartitionKey(Feed.Site));
        using var doc = await JsonDocument.ParseAsync(response.Content);
        var records = await Store.LoadAsync(0, [.. Night.Registry.Devices], CancellationToken.None);
        Assert.Equal(4, records.Count);
        Assert.Equal(records.Values.Min(r => r.HeardAtMs), doc.RootElement.GetProperty("watchFrom").GetInt64());

        // Only the site, the partition, the generation and watchFrom are plain; the devices are one compressed value nothing queries.
        Assert.Equal(
            ["g", "id", "n", "partition", "siteId", "watchFrom", "z"],
            doc.RootElement.EnumerateObject().Select(p => p.Name).Where(n => !n.StartsWith('_')).Order(StringComparer.Ordinal));
    }

    /// <summary>
    /// Every <c>c.field</c> the query filters or sorts on (after <c>WHERE</c>; a projection is not filtered on) is one
    /// of <paramref name="fields"/>, and each but <paramref name="except"/> (the id, indexed by Cosmos DB itself) is an
    /// indexed path of the container.
    /// </summary>
    private static void AssertIndexed(string container, QueryDefinition query, string[] fields, string[]? except = null)
    {
        var filter = query.QueryText[query.QueryText.IndexOf(" WHERE ", StringComparison.Ordinal)..];
        var named = FieldPattern().Matches(filter).Select(m => m.Groups[1].Value).Distinct().Order(StringComparer.Ordinal);
        Assert.Equal(fields.Order(StringComparer.Ordinal), named);
        var properties = Containers.Single(c => c.Id == container);
        foreach (var field in fields.Except(except ?? []))
        {
            Assert.Contains(properties.IndexingPolicy.IncludedPaths, p => p.Path == $"/{field}/?");
        }
    }

    [GeneratedRegex(@"\bc\.([A-Za-z]+)")]
    private static partial Regex FieldPattern();
}
