using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Azure.Cosmos;
using SmartPower.Pipeline;
using SmartPower.Registry;

namespace SmartPower.Cosmos;

/// <summary>
/// The Azure store: Cosmos DB (NoSQL API), the same ports as the SQLite store. Every write is keyed so that a batch
/// delivered again changes nothing: alerts by their deterministic id, merged forward only under the document's ETag;
/// devices written only at the version they were read at. Writes ask for no content back
/// (<c>EnableContentResponseOnWrite</c> off): the ETag comes in the headers, and the body would cost bandwidth and
/// latency for nothing. Documents are read and written as streams with System.Text.Json. Thread-safe; one instance (and
/// one <see cref="CosmosClient"/>) per process.
/// </summary>
public sealed partial class CosmosStore : IPipelineStore, IDeviceStateStore, IDeviceCredentials, IDeadLetters
{
    private static readonly ItemRequestOptions NoContent = new() { EnableContentResponseOnWrite = false };
    private readonly DeviceRegistry _registry;
    private readonly CosmosStoreOptions _options;
    private readonly TimeProvider _time;
    private readonly Container _alerts;
    private readonly Container _devices;
    private readonly Container _checkpoints;
    private readonly Container _tokens;
    private readonly Container _deadLetters;
    private readonly Container _apiKeys;
    private readonly Container _outbox;
    private readonly TokenHashCache _credentials;
    private long _lastStamp;

    /// <param name="client">The process's one client (see <see cref="CreateClient"/>).</param>
    /// <param name="registry">Where a device's site (its documents' partition key) is found.</param>
    public CosmosStore(CosmosClient client, DeviceRegistry registry, CosmosStoreOptions? options = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        _registry = registry;
        _options = options ?? new CosmosStoreOptions();
        _time = time ?? TimeProvider.System;
        _credentials = new TokenHashCache(_options.CredentialCacheTtl, _time);
        var database = client.GetDatabase(_options.Database);
        _alerts = database.GetContainer(CosmosSchema.Alerts);
        _devices = database.GetContainer(CosmosSchema.Devices);
        _checkpoints = database.GetContainer(CosmosSchema.Checkpoints);
        _tokens = database.GetContainer(CosmosSchema.Tokens);
        _deadLetters = database.GetContainer(CosmosSchema.DeadLetters);
        _apiKeys = database.GetContainer(CosmosSchema.ApiKeys);
        _outbox = database.GetContainer(CosmosSchema.Outbox);
    }

    /// <summary>What this store's requests cost, as Cosmos DB reported it in each response.</summary>
    public RequestCharges Charges { get; } = new();

    /// <summary>
    /// The client options this store is meant to run with: Direct mode on Azure (Gateway where the server speaks only
    /// HTTP, like the test server), no content echoed on writes, bulk execution grouping a batch's point operations per
    /// partition (off where the server cannot take batch requests), the SDK's retries on throttling.
    /// </summary>
    public static CosmosClientOptions ClientOptions(bool gateway = false, bool bulk = true) => new()
    {
        ConnectionMode = gateway ? ConnectionMode.Gateway : ConnectionMode.Direct,
        EnableContentResponseOnWrite = false,
        AllowBulkExecution = bulk,
        MaxRetryAttemptsOnRateLimitedRequests = 9,
        MaxRetryWaitTimeOnRateLimitedRequests = TimeSpan.FromSeconds(30),
        ApplicationName = "smartpower",
    };

    /// <summary>Creates the database and containers (<see cref="CosmosSchema"/>) if missing. Deployments use Bicep instead.</summary>
    public static async Task EnsureCreatedAsync(CosmosClient client, CosmosStoreOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        options ??= new CosmosStoreOptions();
        var database = (await client.CreateDatabaseIfNotExistsAsync(options.Database, cancellationToken: cancellationToken).ConfigureAwait(false)).Database;
        foreach (var container in CosmosSchema.All(options))
        {
            await database.CreateContainerIfNotExistsAsync(container, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task<PartitionCheckpoint?> LoadCheckpointAsync(int partition, CancellationToken cancellationToken)
    {
        var id = $"checkpoint-{partition}";
        using var doc = await ReadAsync(_checkpoints, id, id, "checkpoint.read", cancellationToken).ConfigureAwait(false);
        return doc is null
            ? null
            : new PartitionCheckpoint(partition, doc.Json.RootElement.GetProperty("position").GetInt64(), doc.Json.RootElement.GetProperty("state").GetBytesFromBase64());
    }

    public async Task CommitAsync(BatchCommit batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Transitions.Count > 0)
        {
            await WriteTransitionsAsync(batch.Transitions, cancellationToken).ConfigureAwait(false);
        }

        if (batch.Devices.Count > 0)
        {
            await ForEachAsync(batch.Devices, (latest, ct) => WriteLatestAsync(batch.Partition, latest, ct), cancellationToken).ConfigureAwait(false);
        }

        if (batch.Checkpoint is { } checkpoint)
        {
            var id = $"checkpoint-{checkpoint.Partition}";
            var body = Json(w =>
            {
                w.WriteString("id", id);
                w.WriteNumber("partition", checkpoint.Partition);
                w.WriteNumber("position", checkpoint.Position);
                w.WriteBase64String("state", checkpoint.EngineState.Span);
                w.WriteNumber("savedAt", _time.GetUtcNow().ToUnixTimeMilliseconds());
            });
            await UpsertAsync(_checkpoints, id, body, "checkpoint.write", cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task WriteAsync(DeadLetter letter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(letter);
        var id = $"{letter.Partition}-{letter.Position}";
        var body = Json(w =>
        {
            w.WriteString("id", id);
            w.WriteNumber("partition", letter.Partition);
            w.WriteString("position", letter.Position);
            w.WriteString("reason", letter.Reason);
            w.WriteString("topic", letter.Topic);
            w.WriteBase64String("payload", letter.Payload.Span);
            w.WriteNumber("arrivedAt", letter.ArrivedAtMs);
            w.WriteNumber("storedAt", _time.GetUtcNow().ToUnixTimeMilliseconds());
        });
        await UpsertAsync(_deadLetters, id, body, "deadletter.write", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A dead letter as stored (for tests and operators), or null.</summary>
    public async Task<DeadLetter?> GetDeadLetterAsync(int partition, string position, CancellationToken cancellationToken = default)
    {
        var id = $"{partition}-{position}";
        using var doc = await ReadAsync(_deadLetters, id, id, "deadletter.read", cancellationToken).ConfigureAwait(false);
        if (doc is null)
        {
            return null;
        }

        var root = doc.Json.RootElement;
        return new DeadLetter(partition, position, root.GetProperty("reason").GetString()!, root.GetProperty("topic").GetString(), root.GetProperty("payload").GetBytesFromBase64(), root.GetProperty("arrivedAt").GetInt64());
    }

    /// <summary>The wall-clock time of a write (<see cref="WriteStamp"/>), from any thread.</summary>
    private long Stamp()
    {
        while (true)
        {
            var last = Interlocked.Read(ref _lastStamp);
            var next = WriteStamp.Next(last, _time.GetUtcNow().ToUnixTimeMilliseconds());
            if (Interlocked.CompareExchange(ref _lastStamp, next, last) == last)
            {
                return next;
            }
        }
    }

    private string SiteOf(string deviceId) =>
        _registry.TryGetDevice(deviceId, out var device) ? device.SiteId : throw new KeyNotFoundException($"device '{deviceId}' is not in the registry");

    /// <summary>A document as read, with its ETag.</summary>
    private sealed class Doc(JsonDocument json, string etag) : IDisposable
    {
        public JsonDocument Json { get; } = json;

        public string ETag { get; } = etag;

        public void Dispose() => Json.Dispose();
    }

    private async Task<Doc?> ReadAsync(Container container, string id, string partitionKey, string operation, CancellationToken cancellationToken)
    {
        using var response = await container.ReadItemStreamAsync(id, new PartitionKey(partitionKey), cancellationToken: cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            Charges.Add(operation, response.Headers.RequestCharge, 0);
            return null;
        }

        response.EnsureSuccessStatusCode();
        using var body = new MemoryStream();
        await response.Content.CopyToAsync(body, cancellationToken).ConfigureAwait(false);
        Charges.Add(operation, response.Headers.RequestCharge, body.Length);
        var json = JsonDocument.Parse(body.ToArray());
        return new Doc(json, response.Headers.ETag);
    }

    private async Task UpsertAsync(Container container, string partitionKey, byte[] body, string operation, CancellationToken cancellationToken)
    {
        using var stream = new MemoryStream(body, writable: false);
        using var response = await container.UpsertItemStreamAsync(stream, new PartitionKey(partitionKey), NoContent, cancellationToken).ConfigureAwait(false);
        Charges.Add(operation, response.Headers.RequestCharge, body.Length);
        response.EnsureSuccessStatusCode();
    }

    /// <summary>
    /// Creates (when <paramref name="etag"/> is null) or replaces a document only if it is still at <paramref name="etag"/>;
    /// its new ETag, or null when someone else got there first (409 on create, 412 on replace).
    /// </summary>
    private async Task<string?> WriteIfAsync(Container container, string id, string partitionKey, byte[] body, string? etag, string operation, CancellationToken cancellationToken)
    {
        using var stream = new MemoryStream(body, writable: false);
        using var response = etag is null
            ? await container.CreateItemStreamAsync(stream, new PartitionKey(partitionKey), NoContent, cancellationToken).ConfigureAwait(false)
            : await container.ReplaceItemStreamAsync(stream, id, new PartitionKey(partitionKey), new ItemRequestOptions { EnableContentResponseOnWrite = false, IfMatchEtag = etag }, cancellationToken).ConfigureAwait(false);
        Charges.Add(operation, response.Headers.RequestCharge, body.Length);
        if (response.StatusCode is HttpStatusCode.Conflict or HttpStatusCode.PreconditionFailed)
        {
            return null;
        }

        response.EnsureSuccessStatusCode();
        return response.Headers.ETag;
    }

    private async Task ForEachAsync<T>(IEnumerable<T> items, Func<T, CancellationToken, Task> action, CancellationToken cancellationToken) =>
        await Parallel.ForEachAsync(items, new ParallelOptions { MaxDegreeOfParallelism = _options.MaxConcurrency, CancellationToken = cancellationToken }, async (item, ct) => await action(item, ct).ConfigureAwait(false)).ConfigureAwait(false);

    private static byte[] Json(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream(512);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            write(writer);
            writer.WriteEndObject();
        }

        return buffer.ToArray();
    }

    private static byte[] Json(JsonNode node)
    {
        using var buffer = new MemoryStream(1024);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            node.WriteTo(writer);
        }

        return buffer.ToArray();
    }
}
