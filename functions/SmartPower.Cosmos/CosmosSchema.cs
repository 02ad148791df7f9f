using System.Collections.ObjectModel;
using Microsoft.Azure.Cosmos;

namespace SmartPower.Cosmos;

/// <summary>Where the Cosmos DB store lives and how it behaves.</summary>
public sealed class CosmosStoreOptions
{
    public string Database { get; set; } = "smartpower";

    /// <summary>
    /// How long a device's document (detector state and latest status: telemetry-derived, rebuilt from new readings)
    /// outlives its last write. A device silent longer than this starts afresh when it returns.
    /// </summary>
    public TimeSpan DeviceTtl { get; set; } = TimeSpan.FromDays(30);

    /// <summary>How long a notification is kept once delivered, undeliverable or abandoned.</summary>
    public TimeSpan OutboxRetention { get; set; } = TimeSpan.FromDays(30);

    /// <summary>How long a dead-lettered message is kept for someone to look at.</summary>
    public TimeSpan DeadLetterTtl { get; set; } = TimeSpan.FromDays(14);

    /// <summary>How long a verified device token is trusted before the store is asked again.</summary>
    public TimeSpan CredentialCacheTtl { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Most point operations of one batch in flight at once (bulk mode groups them further on Azure).</summary>
    public int MaxConcurrency { get; set; } = 32;
}

/// <summary>
/// The containers, each with its partition key, indexing policy and TTL. <c>infra/cosmos.bicep</c> declares the same
/// for a deployment; <see cref="CosmosStore.EnsureCreatedAsync"/> creates them where nothing else does (tests, a local
/// emulator). Design rule: every operation on the hot path (a batch of readings) is a point read or write by id and
/// partition key; queries are left to people's requests (the status API) and the watchdog's one query a minute.
/// </summary>
public static class CosmosSchema
{
    public const string Alerts = "alerts";
    public const string Devices = "devices";
    public const string Checkpoints = "checkpoints";
    public const string Tokens = "tokens";
    public const string DeadLetters = "deadletters";
    public const string ApiKeys = "apikeys";
    public const string Outbox = "outbox";

    /// <summary>The change feed trigger's lease container (notifications); written only by the trigger.</summary>
    public const string Leases = "leases";

    public static IReadOnlyList<ContainerProperties> All(CosmosStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return
        [
            // Alerts: partitioned by their own id. Every alert operation but one is by id: the engine upserts an alert by
            // its deterministic alertId (read, merge, write with the ETag), and the status API reads one alert with its
            // history, acknowledges and resolves by id (GET alerts/{id}, POST alerts/{id}/ack|resolve) - each a point
            // operation, one logical partition. The one query, a site's alerts newest first (GET sites/{id}/alerts),
            // filters on siteId: alerts are incidents, not readings (a few thousand a month for a city), so the
            // container stays at one or two physical partitions and that query costs what it would with siteId as the
            // key, while /siteId would turn every by-id operation into a query. The history lives in the alert document
            // (a handful of entries an incident), so reading an alert with its history is one point read.
            // Indexed: only what the API filters and sorts on; the alert body and its history never are. No TTL:
            // alerts are the record of what happened.
            Container(Alerts, "/id", null, ["/siteId/?", "/deviceId/?", "/state/?", "/type/?", "/severity/?", "/openedAt/?", "/resolvedAt/?"], [[("/openedAt", CompositePathSortOrder.Descending), ("/id", CompositePathSortOrder.Ascending)], [("/siteId", CompositePathSortOrder.Ascending), ("/openedAt", CompositePathSortOrder.Descending)]]),

            // Devices: one document per device (detector state, last reading, online), partitioned by site. The API asks
            // for a site's devices (GET sites/{id}/status): one logical partition. The hot path always knows a device's
            // site (the registry), so its one point read and one write per device per batch need no query either. A
            // compound's devices are hundreds to a few thousand: at one reading per 10 s and a write per device per
            // batch that is a few hundred RU/s per site, well under a physical partition's 10,000 RU/s and 20 GB.
            // Indexed: heardAt and watch, for the watchdog's query; the state blob and reading never are.
            // TTL: telemetry-derived, gone a while after a device falls silent for good.
            Container(Devices, "/siteId", options.DeviceTtl, ["/heardAt/?", "/watch/?"], []),

            // Checkpoints and partition stream clocks: one small document per partition, read and written by id only.
            Container(Checkpoints, "/id", null, null, []),

            // Device tokens (hashes) for the embedded broker's bridge: by device id only.
            Container(Tokens, "/id", null, null, []),

            // Dead letters: by id (partition and position), kept for a while to be looked at.
            Container(DeadLetters, "/id", options.DeadLetterTtl, null, []),

            // The status API's keys: one document per key, by the hash of its secret (authentication is a point read),
            // and one listing every key (tens of them: admins list and revoke them), so that no call needs a query.
            Container(ApiKeys, "/id", null, null, []),

            // The notification outbox: one document per notification, by its deterministic id (adding one that exists
            // fails, which makes a replayed change feed harmless; each attempt is a point read and write). The
            // dispatcher's query (pending and due) and the API's (an alert's deliveries) use the indexed fields. TTL on,
            // with no default: a notification gets its expiry when it is finished, so pending ones never expire.
            Container(Outbox, "/id", TimeSpan.FromSeconds(-1), ["/state/?", "/nextAttemptAt/?", "/alertId/?"], []),
        ];
    }

    /// <param name="indexed">Paths to index (everything else excluded), or null for no index at all (point operations only).</param>
    private static ContainerProperties Container(string id, string partitionKey, TimeSpan? ttl, string[]? indexed, (string Path, CompositePathSortOrder Order)[][] composites)
    {
        // TTL: null is off; a negative span is on with no default (documents set their own).
        var properties = new ContainerProperties(id, partitionKey) { DefaultTimeToLive = ttl is { } t ? (t < TimeSpan.Zero ? -1 : (int)t.TotalSeconds) : null };
        if (indexed is null)
        {
            properties.IndexingPolicy = new IndexingPolicy { IndexingMode = IndexingMode.None, Automatic = false };
            return properties;
        }

        properties.IndexingPolicy = new IndexingPolicy { IndexingMode = IndexingMode.Consistent, Automatic = true };
        foreach (var path in indexed)
        {
            properties.IndexingPolicy.IncludedPaths.Add(new IncludedPath { Path = path });
        }

        properties.IndexingPolicy.ExcludedPaths.Add(new ExcludedPath { Path = "/*" });
        foreach (var composite in composites)
        {
            properties.IndexingPolicy.CompositeIndexes.Add(new Collection<CompositePath>([.. composite.Select(c => new CompositePath { Path = c.Path, Order = c.Order })]));
        }

        return properties;
    }
}
