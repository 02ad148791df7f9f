using System.Collections.ObjectModel;
using Microsoft.Azure.Cosmos;

namespace SmartPower.Cosmos;

/// <summary>Where the Cosmos DB store lives and how it behaves.</summary>
public sealed class CosmosStoreOptions
{
    public string Database { get; set; } = "smartpower";

    /// <summary>
    /// How long a device's document (detector state and latest status: telemetry-derived, rebuilt from new readings)
    /// outlives its last write. A device silent longer than this starts afresh when it returns, unless it holds an open
    /// alert (kept until the alert clears).
    /// </summary>
    public TimeSpan DeviceTtl { get; set; } = TimeSpan.FromDays(30);

    /// <summary>How long a notification is kept once delivered, undeliverable or abandoned.</summary>
    public TimeSpan OutboxRetention { get; set; } = TimeSpan.FromDays(30);

    /// <summary>How long a dead-lettered message is kept for someone to look at.</summary>
    public TimeSpan DeadLetterTtl { get; set; } = TimeSpan.FromDays(14);

    /// <summary>How long a verified device token is trusted before the store is asked again.</summary>
    public TimeSpan CredentialCacheTtl { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The telemetry hub's partition count (32 as deployed): devices are stored per (site, partition), and a site's
    /// status reads its document on each partition.
    /// </summary>
    public int Partitions { get; set; } = 32;

    /// <summary>
    /// Whether to keep the device documents this process read or wrote last, so that the next batch of a partition it
    /// still owns reads nothing (a stale one fails its write's ETag and is read again). Off: every batch reads.
    /// </summary>
    public bool CacheDevices { get; set; } = true;

    /// <summary>Most device documents cached (each a site's devices on one partition); when full, the cache starts over.</summary>
    public int MaxCachedDocuments { get; set; } = 20_000;

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
            // Indexed: only what the API filters and sorts on, and what the escalation timer's query filters on
            // (acknowledgedAt, escalatedAt, reAlarmedAt; raisedToStationAt is the station listing's); the alert body and
            // its history never are. No TTL: alerts are the record of what happened.
            Container(Alerts, "/id", null, ["/siteId/?", "/deviceId/?", "/state/?", "/type/?", "/severity/?", "/openedAt/?", "/resolvedAt/?", "/acknowledgedAt/?", "/escalatedAt/?", "/reAlarmedAt/?", "/raisedToStationAt/?"], [[("/openedAt", CompositePathSortOrder.Descending), ("/id", CompositePathSortOrder.Ascending)], [("/siteId", CompositePathSortOrder.Ascending), ("/openedAt", CompositePathSortOrder.Descending)]]),

            // Devices: one document per (site, Event Hubs partition), holding the detector state, last reading and
            // status of the site's devices whose messages arrive on that partition (CosmosStore.Devices.cs: grouped
            // because a write is charged mostly per request; a device's messages all arrive on one partition, whose
            // owner alone writes the document). Partitioned by site: the API's site and device status are point reads
            // in the site's logical partition, and the hot path knows each device's site (the registry) and partition
            // (the batch's). A compound's devices are hundreds to a few thousand, spread over the hub's partitions: a
            // few KB to a few tens of KB a document, a write per document per batch, well under a physical
            // partition's 10,000 RU/s and a logical partition's 20 GB.
            // Indexed: watchFrom only, for the watchdog's query; the devices' state, readings and status never are.
            // TTL: telemetry-derived, gone a while after a site's devices on a partition all fall silent for good (a
            // single silent device is dropped from its document at its next write); a document holding an open alert
            // never expires (ttl -1), nor is such a device dropped.
            Container(Devices, "/siteId", options.DeviceTtl, ["/watchFrom/?"], []),

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
