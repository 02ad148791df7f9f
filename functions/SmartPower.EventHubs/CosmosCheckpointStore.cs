using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Messaging.EventHubs.Consumer;
using Azure.Messaging.EventHubs.Primitives;
using Azure.Messaging.EventHubs.Processor;
using Microsoft.Azure.Cosmos;

namespace SmartPower.EventHubs;

/// <summary>
/// Where <see cref="TelemetryEventProcessor"/> keeps partition ownership and checkpoints: the Cosmos DB
/// <c>checkpoints</c> container (point operations only, so it runs against any Cosmos DB endpoint). Ownership of a
/// hub's partitions for a consumer group is one document, so that listing it is a point read; each partition's entry
/// carries its own version, and a claim succeeds only for entries still at the version the claimant saw (the document's
/// ETag guards the write, and a claim that lost the race on another partition's entry is simply tried again). A
/// checkpoint is one document per partition. Another store (Blob Storage, as the SDK's own processor uses) plugs in the
/// same way: this is the SDK's <see cref="CheckpointStore"/>.
/// </summary>
public sealed class CosmosCheckpointStore(Container container, TimeProvider? time = null) : CheckpointStore
{
    private const int MaxRetries = 8;
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public override async Task<IEnumerable<EventProcessorPartitionOwnership>> ListOwnershipAsync(string fullyQualifiedNamespace, string eventHubName, string consumerGroup, CancellationToken cancellationToken)
    {
        var (node, _) = await ReadAsync(OwnershipId(fullyQualifiedNamespace, eventHubName, consumerGroup), cancellationToken).ConfigureAwait(false);
        return node is null ? [] : Entries(node).Select(e => Ownership(fullyQualifiedNamespace, eventHubName, consumerGroup, e.Key, e.Value)).ToList();
    }

    public override async Task<IEnumerable<EventProcessorPartitionOwnership>> ClaimOwnershipAsync(IEnumerable<EventProcessorPartitionOwnership> desiredOwnership, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(desiredOwnership);
        var claimed = new List<EventProcessorPartitionOwnership>();
        foreach (var hub in desiredOwnership.GroupBy(o => (o.FullyQualifiedNamespace, o.EventHubName, o.ConsumerGroup)))
        {
            var id = OwnershipId(hub.Key.FullyQualifiedNamespace, hub.Key.EventHubName, hub.Key.ConsumerGroup);
            for (var attempt = 0; attempt < MaxRetries; attempt++)
            {
                var (node, etag) = await ReadAsync(id, cancellationToken).ConfigureAwait(false);
                node ??= new JsonObject { ["id"] = id, ["partitions"] = new JsonObject() };
                var partitions = node["partitions"]!.AsObject();
                var won = new List<EventProcessorPartitionOwnership>();
                var now = _time.GetUtcNow();
                foreach (var claim in hub)
                {
                    var current = partitions[claim.PartitionId]?["version"]?.GetValue<string>();
                    if (current != claim.Version)
                    {
                        continue; // someone claimed or renewed it since the claimant looked
                    }

                    var version = Guid.NewGuid().ToString("N");
                    partitions[claim.PartitionId] = new JsonObject { ["owner"] = claim.OwnerIdentifier, ["modified"] = now.ToUnixTimeMilliseconds(), ["version"] = version };
                    won.Add(Ownership(claim.FullyQualifiedNamespace, claim.EventHubName, claim.ConsumerGroup, claim.PartitionId, partitions[claim.PartitionId]!.AsObject()));
                }

                if (won.Count == 0 || await WriteAsync(id, node, etag, cancellationToken).ConfigureAwait(false))
                {
                    claimed.AddRange(won);
                    break;
                }
            }
        }

        return claimed;
    }

    public override async Task<EventProcessorCheckpoint?> GetCheckpointAsync(string fullyQualifiedNamespace, string eventHubName, string consumerGroup, string partitionId, CancellationToken cancellationToken)
    {
        var (node, _) = await ReadAsync(CheckpointId(fullyQualifiedNamespace, eventHubName, consumerGroup, partitionId), cancellationToken).ConfigureAwait(false);
        return node is null
            ? null
            : new EventProcessorCheckpoint
            {
                FullyQualifiedNamespace = fullyQualifiedNamespace,
                EventHubName = eventHubName,
                ConsumerGroup = consumerGroup,
                PartitionId = partitionId,
                ClientIdentifier = node["client"]?.GetValue<string>(),
                LastModified = DateTimeOffset.FromUnixTimeMilliseconds(node["modified"]!.GetValue<long>()),
                StartingPosition = EventPosition.FromSequenceNumber(node["sequenceNumber"]!.GetValue<long>(), isInclusive: false),
            };
    }

    public override Task UpdateCheckpointAsync(string fullyQualifiedNamespace, string eventHubName, string consumerGroup, string partitionId, string clientIdentifier, CheckpointPosition startingPosition, CancellationToken cancellationToken)
    {
        var id = CheckpointId(fullyQualifiedNamespace, eventHubName, consumerGroup, partitionId);
        var node = new JsonObject
        {
            ["id"] = id,
            ["sequenceNumber"] = startingPosition.SequenceNumber,
            ["offset"] = startingPosition.OffsetString,
            ["client"] = clientIdentifier,
            ["modified"] = _time.GetUtcNow().ToUnixTimeMilliseconds(),
        };
        return UpsertAsync(id, node, cancellationToken);
    }

    [Obsolete("The SDK's older form; it forwards to the one taking a CheckpointPosition.")]
    public override Task UpdateCheckpointAsync(string fullyQualifiedNamespace, string eventHubName, string consumerGroup, string partitionId, long offset, long? sequenceNumber, CancellationToken cancellationToken) =>
        UpdateCheckpointAsync(fullyQualifiedNamespace, eventHubName, consumerGroup, partitionId, string.Empty, new CheckpointPosition(offset.ToString(System.Globalization.CultureInfo.InvariantCulture), sequenceNumber ?? long.MinValue), cancellationToken);

    private static string OwnershipId(string ns, string hub, string group) => $"eh-ownership|{Safe(ns)}|{Safe(hub)}|{Safe(group)}";

    private static string CheckpointId(string ns, string hub, string group, string partition) => $"eh-checkpoint|{Safe(ns)}|{Safe(hub)}|{Safe(group)}|{Safe(partition)}";

    // Cosmos DB ids may not hold '/', '\', '?' or '#'.
    private static string Safe(string part) => part.ToLowerInvariant().Replace('/', '_').Replace('\\', '_').Replace('?', '_').Replace('#', '_');

    private static IEnumerable<KeyValuePair<string, JsonObject>> Entries(JsonObject node) =>
        node["partitions"]!.AsObject().Select(p => new KeyValuePair<string, JsonObject>(p.Key, p.Value!.AsObject()));

    private static EventProcessorPartitionOwnership Ownership(string ns, string hub, string group, string partition, JsonObject entry) => new()
    {
        FullyQualifiedNamespace = ns,
        EventHubName = hub,
        ConsumerGroup = group,
        PartitionId = partition,
        OwnerIdentifier = entry["owner"]!.GetValue<string>(),
        LastModifiedTime = DateTimeOffset.FromUnixTimeMilliseconds(entry["modified"]!.GetValue<long>()),
        Version = entry["version"]!.GetValue<string>(),
    };

    private async Task<(JsonObject? Node, string? ETag)> ReadAsync(string id, CancellationToken cancellationToken)
    {
        using var response = await container.ReadItemStreamAsync(id, new PartitionKey(id), cancellationToken: cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return (null, null);
        }

        response.EnsureSuccessStatusCode();
        var node = await JsonNode.ParseAsync(response.Content, cancellationToken: cancellationToken).ConfigureAwait(false);
        return (node!.AsObject(), response.Headers.ETag);
    }

    private async Task<bool> WriteAsync(string id, JsonObject node, string? etag, CancellationToken cancellationToken)
    {
        using var body = new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(node, JsonContext.Default.JsonObject));
        var options = new ItemRequestOptions { EnableContentResponseOnWrite = false, IfMatchEtag = etag };
        using var response = etag is null
            ? await container.CreateItemStreamAsync(body, new PartitionKey(id), options, cancellationToken).ConfigureAwait(false)
            : await container.ReplaceItemStreamAsync(body, id, new PartitionKey(id), options, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode is HttpStatusCode.Conflict or HttpStatusCode.PreconditionFailed)
        {
            return false;
        }

        response.EnsureSuccessStatusCode();
        return true;
    }

    private async Task UpsertAsync(string id, JsonObject node, CancellationToken cancellationToken)
    {
        using var body = new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(node, JsonContext.Default.JsonObject));
        using var response = await container.UpsertItemStreamAsync(body, new PartitionKey(id), new ItemRequestOptions { EnableContentResponseOnWrite = false }, cancellationToken).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(JsonObject))]
internal sealed partial class JsonContext : System.Text.Json.Serialization.JsonSerializerContext;
