using System.Text;
using System.Text.Json;
using Microsoft.Azure.Cosmos;
using SmartPower.Alerts;
using SmartPower.Pipeline;
using SmartPower.Registry;

namespace SmartPower.Cosmos;

/// <summary>
/// Devices: one document per device in its site's partition, holding its detector state (base64 of what the engine
/// saved), the last accepted reading as it came, whether it said it is online, when it was last heard, and an offline
/// alert the watchdog opened. The detection batch reads it once and writes it once, only at the ETag it read.
/// </summary>
public sealed partial class CosmosStore
{
    public async Task<IReadOnlyDictionary<string, DeviceRecord>> LoadAsync(IReadOnlyCollection<Device> devices, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(devices);
        var found = new System.Collections.Concurrent.ConcurrentDictionary<string, DeviceRecord>(StringComparer.Ordinal);
        await ForEachAsync(devices, async (device, ct) =>
        {
            using var doc = await ReadAsync(_devices, device.DeviceId, device.SiteId, "device.read", ct).ConfigureAwait(false);
            if (doc is not null)
            {
                found[device.DeviceId] = RecordOf(doc.Json.RootElement, doc.ETag);
            }
        }, cancellationToken).ConfigureAwait(false);
        return found;
    }

    public async Task<IReadOnlyList<string?>> SaveAsync(IReadOnlyList<DeviceRecord> records, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(records);
        var versions = new string?[records.Count];
        await ForEachAsync(Enumerable.Range(0, records.Count), async (i, ct) =>
        {
            var r = records[i];
            versions[i] = await WriteIfAsync(_devices, r.DeviceId, r.SiteId, DocumentOf(r), r.Version, "device.write", ct).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        return versions;
    }

    public async Task<ReadOnlyMemory<byte>?> LoadClockAsync(int partition, CancellationToken cancellationToken)
    {
        var id = $"clock-{partition}";
        using var doc = await ReadAsync(_checkpoints, id, id, "clock.read", cancellationToken).ConfigureAwait(false);
        return doc?.Json.RootElement.GetProperty("clock").GetBytesFromBase64();
    }

    public Task SaveClockAsync(int partition, ReadOnlyMemory<byte> clock, CancellationToken cancellationToken)
    {
        var id = $"clock-{partition}";
        var body = Json(w =>
        {
            w.WriteString("id", id);
            w.WriteBase64String("clock", clock.Span);
        });
        return UpsertAsync(_checkpoints, id, body, "clock.write", cancellationToken);
    }

    /// <summary>
    /// The watchdog's query: devices with <c>watch</c> set (they have sent a reading and no watchdog offline alert is
    /// open) last heard before the cutoff. Cross-partition, on the two indexed paths; once a minute.
    /// </summary>
    public async Task<IReadOnlyList<DeviceRecord>> FindSilentAsync(long heardBeforeMs, int max, CancellationToken cancellationToken)
    {
        var query = new QueryDefinition("SELECT * FROM c WHERE c.watch = true AND c.heardAt < @before").WithParameter("@before", heardBeforeMs);
        var found = new List<DeviceRecord>();
        using var iterator = _devices.GetItemQueryStreamIterator(query, requestOptions: new QueryRequestOptions { MaxItemCount = Math.Min(max, 1000) });
        while (iterator.HasMoreResults && found.Count < max)
        {
            using var page = await iterator.ReadNextAsync(cancellationToken).ConfigureAwait(false);
            Charges.Add("device.query", page.Headers.RequestCharge, 0);
            page.EnsureSuccessStatusCode();
            using var json = await JsonDocument.ParseAsync(page.Content, cancellationToken: cancellationToken).ConfigureAwait(false);
            foreach (var item in json.RootElement.GetProperty("Documents").EnumerateArray())
            {
                found.Add(RecordOf(item, item.GetProperty("_etag").GetString()!));
            }
        }

        return found.Count > max ? found[..max] : found;
    }

    /// <summary>The latest status of every device of a site that has been heard from: one single-partition query.</summary>
    public async Task<IReadOnlyList<StoredDevice>> GetDevicesAsync(string siteId, CancellationToken cancellationToken = default)
    {
        var query = new QueryDefinition("SELECT c.id, c.siteId, c.reading, c.heardAt, c.online FROM c");
        var found = new List<StoredDevice>();
        using var iterator = _devices.GetItemQueryStreamIterator(query, requestOptions: new QueryRequestOptions { PartitionKey = new PartitionKey(siteId) });
        while (iterator.HasMoreResults)
        {
            using var page = await iterator.ReadNextAsync(cancellationToken).ConfigureAwait(false);
            Charges.Add("device.query", page.Headers.RequestCharge, 0);
            page.EnsureSuccessStatusCode();
            using var json = await JsonDocument.ParseAsync(page.Content, cancellationToken: cancellationToken).ConfigureAwait(false);
            found.AddRange(json.RootElement.GetProperty("Documents").EnumerateArray().Select(StoredDeviceOf));
        }

        return [.. found.OrderBy(d => d.DeviceId, StringComparer.Ordinal)];
    }

    /// <summary>A device's latest status as stored, or null if never heard (or not in the registry): a point read.</summary>
    public async Task<StoredDevice?> GetDeviceAsync(string deviceId, CancellationToken cancellationToken = default)
    {
        if (!_registry.TryGetDevice(deviceId, out var device))
        {
            return null;
        }

        using var doc = await ReadAsync(_devices, deviceId, device.SiteId, "device.read", cancellationToken).ConfigureAwait(false);
        return doc is null ? null : StoredDeviceOf(doc.Json.RootElement);
    }

    /// <summary>The local consumer's path (<see cref="IPipelineStore.CommitAsync"/>): merges what a batch heard into the device's document.</summary>
    private async Task WriteLatestAsync(DeviceLatest latest, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < MaxRetries; attempt++)
        {
            using var doc = await ReadAsync(_devices, latest.DeviceId, latest.SiteId, "device.read", cancellationToken).ConfigureAwait(false);
            var old = doc is null ? new DeviceRecord(latest.DeviceId, latest.SiteId) : RecordOf(doc.Json.RootElement, doc.ETag);
            var merged = old with
            {
                HeardAtMs = Math.Max(old.HeardAtMs, latest.ArrivedAtMs),
                Reading = latest.Reading ?? old.Reading,
                Online = latest.Online ?? old.Online,
            };
            if (await WriteIfAsync(_devices, latest.DeviceId, latest.SiteId, DocumentOf(merged), doc?.ETag, "device.write", cancellationToken).ConfigureAwait(false) is not null)
            {
                return;
            }
        }

        throw new InvalidOperationException($"device {latest.DeviceId} kept changing while its status was stored");
    }

    private static byte[] DocumentOf(DeviceRecord r) => Json(w =>
    {
        w.WriteString("id", r.DeviceId);
        w.WriteString("siteId", r.SiteId);
        w.WriteNumber("heardAt", r.HeardAtMs);
        if (r.Online is { } online)
        {
            w.WriteBoolean("online", online);
        }

        if (r.Reading is { } reading)
        {
            w.WriteString("reading", Encoding.UTF8.GetString(reading.Span));
        }

        if (r.LastReadingTsMs is { } ts)
        {
            w.WriteNumber("lastTs", ts);
        }

        if (!r.State.IsEmpty)
        {
            w.WriteBase64String("state", r.State.Span);
        }

        if (r.WatchdogOffline is { } offline)
        {
            w.WritePropertyName("watchdogOffline");
            w.WriteRawValue(AlertJson.ToJson(offline));
        }

        // What the watchdog's query looks for: a device that has sent a reading and has no watchdog offline alert open.
        w.WriteBoolean("watch", r.LastReadingTsMs is not null && r.WatchdogOffline is null);
    });

    private static DeviceRecord RecordOf(JsonElement root, string etag) => new(root.GetProperty("id").GetString()!, root.GetProperty("siteId").GetString()!)
    {
        HeardAtMs = root.GetProperty("heardAt").GetInt64(),
        Online = root.TryGetProperty("online", out var online) ? online.GetBoolean() : null,
        Reading = root.TryGetProperty("reading", out var reading) ? Encoding.UTF8.GetBytes(reading.GetString()!) : null,
        LastReadingTsMs = root.TryGetProperty("lastTs", out var ts) ? ts.GetInt64() : null,
        State = root.TryGetProperty("state", out var state) ? state.GetBytesFromBase64() : default,
        WatchdogOffline = root.TryGetProperty("watchdogOffline", out var offline) ? AlertJson.Parse(offline.GetRawText()) : null,
        Version = etag,
    };

    private static StoredDevice StoredDeviceOf(JsonElement root) => new(
        root.GetProperty("id").GetString()!,
        root.GetProperty("siteId").GetString()!,
        root.TryGetProperty("reading", out var reading) ? reading.GetString() : null,
        DateTimeOffset.FromUnixTimeMilliseconds(root.GetProperty("heardAt").GetInt64()),
        root.TryGetProperty("online", out var online) && online.ValueKind is JsonValueKind.True or JsonValueKind.False ? online.GetBoolean() : null);
}
