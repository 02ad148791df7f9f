using System.Collections.Concurrent;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Microsoft.Azure.Cosmos;
using SmartPower.Alerts;
using SmartPower.Pipeline;
using SmartPower.Registry;

namespace SmartPower.Cosmos;

/// <summary>
/// Devices, kept together by site and Event Hubs partition: one document per (site, partition) in the site's logical
/// partition (id <c>p{partition}</c>), holding every device of that site whose messages arrive on that partition, each
/// with its detector state (base64 of what the engine saved), its last accepted reading as it came, whether it said it
/// is online, when it was last heard, an offline alert the watchdog opened, and its own version.
/// <para>
/// Why grouped: Cosmos DB charges a write mostly per request, not per byte (its published table: 4.95 RU up to 1 KB,
/// 6.67 RU for 4 KB, 11.23 RU for 32 KB), and a batch of one partition writes every device it touched. One document
/// per device would cost 4.95 RU per device per batch, about 0.8 RU a reading with one-minute batches; one document per
/// (site, partition) writes a site's devices of that partition in one request. It stays sound because the partition
/// key of the telemetry is the device id: a device's messages all arrive on one partition, whose owner is the only
/// regular writer of its documents (the watchdog and a previous owner finishing a batch are the others, and the ETag
/// stops them). Keyed by site, the API's site status is the site's own logical partition.
/// </para>
/// <para>
/// Versions are per device (<c>v</c>, counted up at each write of the device), so the store keeps the contract of
/// <see cref="IDeviceStateStore"/> device by device: a write of a document that fails on its ETag is read again, and
/// devices that nobody else changed meanwhile are merged into it and written again; only devices someone else did
/// change are refused. The documents this process read or wrote last are cached (the partition's owner is sticky), so a
/// warm instance reads nothing: a stale cache fails the write's ETag and is read afresh. A device not heard for
/// <see cref="CosmosStoreOptions.DeviceTtl"/> while others of its document were is dropped from it at the next write (the
/// container's TTL expires a document nobody writes any more): the state is telemetry-derived and starts afresh. Not a
/// device holding an open alert (the engine's or the watchdog's), nor its document: only its state clears the alert.
/// </para>
/// </summary>
public sealed partial class CosmosStore
{
    private readonly ConcurrentDictionary<(string Site, int Partition), DeviceGroup> _groups = new();

    /// <summary>
    /// A (site, partition) document as last read or written: its ETag (null: none stored yet), its generation (<c>g</c>,
    /// counted up at each write, so that of two copies the newer is known) and its devices.
    /// </summary>
    private sealed record DeviceGroup(string? ETag, long Generation, IReadOnlyDictionary<string, DeviceRecord> Devices);

    public async Task<IReadOnlyDictionary<string, DeviceRecord>> LoadAsync(int partition, IReadOnlyCollection<Device> devices, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(devices);
        CheckPartition(partition);
        var found = new ConcurrentDictionary<string, DeviceRecord>(StringComparer.Ordinal);
        await ForEachAsync(devices.GroupBy(d => d.SiteId, StringComparer.Ordinal), async (site, ct) =>
        {
            var group = await GroupAsync(site.Key, partition, ct).ConfigureAwait(false);
            foreach (var device in site)
            {
                if (group.Devices.TryGetValue(device.DeviceId, out var record))
                {
                    found[device.DeviceId] = record;
                }
            }
        }, cancellationToken).ConfigureAwait(false);
        return found;
    }

    public async Task<IReadOnlyList<string?>> SaveAsync(IReadOnlyList<DeviceRecord> records, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(records);
        var versions = new string?[records.Count];
        var byGroup = Enumerable.Range(0, records.Count).GroupBy(i => (records[i].SiteId, records[i].Partition));
        await ForEachAsync(byGroup, async (indexes, ct) =>
        {
            var (site, partition) = indexes.Key;
            CheckPartition(partition);
            for (var attempt = 0; attempt < MaxRetries; attempt++)
            {
                var group = await GroupAsync(site, partition, ct).ConfigureAwait(false);
                var devices = new Dictionary<string, DeviceRecord>(group.Devices, StringComparer.Ordinal);
                var written = new List<int>();
                foreach (var i in indexes)
                {
                    var r = records[i];
                    var current = devices.GetValueOrDefault(r.DeviceId)?.Version;
                    versions[i] = null;
                    if (current != r.Version)
                    {
                        continue; // someone else wrote this device since it was loaded
                    }

                    devices[r.DeviceId] = r with { Version = (long.Parse(current ?? "0", CultureInfo.InvariantCulture) + 1).ToString(CultureInfo.InvariantCulture) };
                    written.Add(i);
                }

                if (written.Count == 0)
                {
                    return;
                }

                // A device silent for DeviceTtl while others of its document kept reporting leaves it (measured on the
                // document's own arrival times, not the wall clock, so a replay of old data prunes the same devices).
                var expired = devices.Values.Max(d => d.HeardAtMs) - (long)_options.DeviceTtl.TotalMilliseconds;
                var writing = written.Select(i => records[i].DeviceId).ToHashSet(StringComparer.Ordinal);
                // One holding an open alert stays: only its state clears the alert when it is back.
                foreach (var stale in devices.Values.Where(d => d.HeardAtMs < expired && !writing.Contains(d.DeviceId) && !HoldsAlert(d)).Select(d => d.DeviceId).ToList())
                {
                    devices.Remove(stale);
                }

                var etag = await WriteIfAsync(_devices, GroupId(partition), site, GroupDocument(site, partition, group.Generation + 1, devices.Values), group.ETag, "device.write", ct).ConfigureAwait(false);
                if (etag is null)
                {
                    // The document changed since this process last saw it (another instance, or the watchdog): read it
                    // again, and write again the devices nobody else touched.
                    _groups.TryRemove((site, partition), out _);
                    continue;
                }

                Remember(site, partition, new DeviceGroup(etag, group.Generation + 1, devices));
                foreach (var i in written)
                {
                    versions[i] = devices[records[i].DeviceId].Version;
                }

                return;
            }

            throw new InvalidOperationException($"the devices of site {site} on partition {partition} kept changing while they were saved");
        }, cancellationToken).ConfigureAwait(false);
        return versions;
    }

    /// <summary>Forgets the cached device documents (a process that lost its partitions, or a test's cold start).</summary>
    public void ForgetDevices() => _groups.Clear();

    public void Forget(int partition)
    {
        foreach (var key in _groups.Keys)
        {
            if (key.Partition == partition)
            {
                _groups.TryRemove(key, out _);
            }
        }
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
    /// The watchdog's query: the device documents holding a device that has sent a reading, has no watchdog offline
    /// alert open, and was last heard before the cutoff. Each document carries the earliest such time as <c>watchFrom</c>
    /// (the one indexed path of the container), so the query finds the few documents with a silent device, across sites,
    /// once a minute; the devices are then picked from them here.
    /// </summary>
    public static QueryDefinition SilentQuery(long heardBeforeMs) =>
        new QueryDefinition("SELECT * FROM c WHERE c.watchFrom < @before").WithParameter("@before", heardBeforeMs);

    public async Task<IReadOnlyList<DeviceRecord>> FindSilentAsync(long heardBeforeMs, Func<DeviceRecord, bool> due, int max, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(due);
        var found = new List<DeviceRecord>();
        using var iterator = _devices.GetItemQueryStreamIterator(SilentQuery(heardBeforeMs), requestOptions: new QueryRequestOptions { MaxItemCount = 100 });
        while (iterator.HasMoreResults && found.Count < max)
        {
            using var page = await iterator.ReadNextAsync(cancellationToken).ConfigureAwait(false);
            Charges.Add("device.query", page.Headers.RequestCharge, 0);
            page.EnsureSuccessStatusCode();
            using var json = await JsonDocument.ParseAsync(page.Content, cancellationToken: cancellationToken).ConfigureAwait(false);
            foreach (var item in json.RootElement.GetProperty("Documents").EnumerateArray())
            {
                var group = GroupOf(item, item.GetProperty("_etag").GetString()!);
                var site = item.GetProperty("siteId").GetString()!;
                var partition = item.GetProperty("partition").GetInt32();
                Remember(site, partition, group);
                found.AddRange(group.Devices.Values.Where(r => Watched(r) && r.HeardAtMs < heardBeforeMs && due(r)));
            }
        }

        return found.Count > max ? found[..max] : found;
    }

    /// <summary>
    /// The latest status of every device of a site that has been heard from: a point read of the site's document on
    /// each partition (<see cref="CosmosStoreOptions.Partitions"/>), all in the site's logical partition; no query.
    /// </summary>
    public async Task<IReadOnlyList<StoredDevice>> GetDevicesAsync(string siteId, CancellationToken cancellationToken = default)
    {
        var found = new ConcurrentBag<StoredDevice>();
        await ForEachAsync(Enumerable.Range(0, _options.Partitions), async (partition, ct) =>
        {
            using var doc = await ReadAsync(_devices, GroupId(partition), siteId, "device.read", ct).ConfigureAwait(false);
            if (doc is not null)
            {
                foreach (var r in GroupOf(doc.Json.RootElement, doc.ETag).Devices.Values)
                {
                    found.Add(StoredDeviceOf(r));
                }
            }
        }, cancellationToken).ConfigureAwait(false);

        // A device found on two partitions (the hub was given more partitions, which moves keys) is the one heard last.
        return [.. found.GroupBy(d => d.DeviceId, StringComparer.Ordinal).Select(g => g.MaxBy(d => d.HeardAt)!).OrderBy(d => d.DeviceId, StringComparer.Ordinal)];
    }

    /// <summary>A device's latest status as stored, or null if never heard (or not in the registry): its site's documents' point reads.</summary>
    public async Task<StoredDevice?> GetDeviceAsync(string deviceId, CancellationToken cancellationToken = default)
    {
        if (!_registry.TryGetDevice(deviceId, out var device))
        {
            return null;
        }

        return (await GetDevicesAsync(device.SiteId, cancellationToken).ConfigureAwait(false)).FirstOrDefault(d => d.DeviceId == deviceId);
    }

    /// <summary>The local consumer's path (<see cref="IPipelineStore.CommitAsync"/>): merges what a batch heard into the device's record.</summary>
    private async Task WriteLatestAsync(int partition, DeviceLatest latest, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < MaxRetries; attempt++)
        {
            CheckPartition(partition);
            var group = await GroupAsync(latest.SiteId, partition, cancellationToken).ConfigureAwait(false);
            var old = group.Devices.GetValueOrDefault(latest.DeviceId) ?? new DeviceRecord(latest.DeviceId, latest.SiteId) { Partition = partition };
            var merged = old with
            {
                HeardAtMs = Math.Max(old.HeardAtMs, latest.ArrivedAtMs),
                Reading = latest.Reading ?? old.Reading,
                Online = latest.Online ?? old.Online,
            };
            if ((await SaveAsync([merged], cancellationToken).ConfigureAwait(false))[0] is not null)
            {
                return;
            }

            _groups.TryRemove((latest.SiteId, partition), out _);
        }

        throw new InvalidOperationException($"device {latest.DeviceId} kept changing while its status was stored");
    }

    private static string GroupId(int partition) => "p" + partition.ToString(CultureInfo.InvariantCulture);

    private void CheckPartition(int partition)
    {
        if (partition < 0 || partition >= _options.Partitions)
        {
            throw new ArgumentOutOfRangeException(nameof(partition), partition, $"the store is configured for {_options.Partitions} Event Hubs partitions (CosmosStoreOptions.Partitions)");
        }
    }

    private void Remember(string site, int partition, DeviceGroup group)
    {
        if (!_options.CacheDevices)
        {
            return;
        }

        if (_groups.Count >= _options.MaxCachedDocuments)
        {
            _groups.Clear();
        }

        // A copy read before a write and remembered after it (the watchdog's query racing a batch) must not replace the
        // newer one: the next batch would run on the older state and store alerts before its write failed on the ETag.
        _groups.AddOrUpdate((site, partition), group, (_, cached) => cached.Generation > group.Generation ? cached : group);
    }

    /// <summary>The (site, partition) document: the cached one, or a point read (an empty group when none is stored).</summary>
    private async Task<DeviceGroup> GroupAsync(string site, int partition, CancellationToken cancellationToken)
    {
        if (_groups.TryGetValue((site, partition), out var cached))
        {
            return cached;
        }

        using var doc = await ReadAsync(_devices, GroupId(partition), site, "device.read", cancellationToken).ConfigureAwait(false);
        var group = doc is null ? new DeviceGroup(null, 0, new Dictionary<string, DeviceRecord>(StringComparer.Ordinal)) : GroupOf(doc.Json.RootElement, doc.ETag);
        Remember(site, partition, group);
        return group;
    }

    private static bool HoldsAlert(DeviceRecord r) => r.HoldsOpenAlert || r.WatchdogOffline is not null;

    private static bool Watched(DeviceRecord r) => r.LastReadingTsMs is not null && r.WatchdogOffline is null;

    /// <summary>
    /// The document: the site, the partition, <c>watchFrom</c> for the watchdog's query, and the devices as one
    /// Brotli-compressed JSON object (<c>z</c>, base64; <c>n</c> its length). Compressed because the charge of a write
    /// grows with its bytes (a write of up to 1 KB is the cheapest, 4.95 RU), and the devices' readings and states repeat
    /// each other's keys and zeros: two meters take about 600 bytes instead of 1,240. Per device: its version, when it
    /// was heard, its status, its last reading as the device sent it (a string, so the API serves its exact bytes), that
    /// reading's event time and when the engine heard it on the stream's clock, its detector state, and a watchdog
    /// offline alert. Nothing in <c>z</c> is ever queried.
    /// </summary>
    private static byte[] GroupDocument(string site, int partition, long generation, IEnumerable<DeviceRecord> devices)
    {
        var list = devices.OrderBy(d => d.DeviceId, StringComparer.Ordinal).ToList();
        var inner = Json(w =>
        {
            foreach (var r in list)
            {
                w.WriteStartObject(r.DeviceId);
                w.WriteString("v", r.Version);
                w.WriteNumber("h", r.HeardAtMs);
                if (r.Online is { } online)
                {
                    w.WriteBoolean("o", online);
                }

                if (r.Reading is { } reading)
                {
                    w.WriteString("r", Encoding.UTF8.GetString(reading.Span));
                }

                if (r.LastReadingTsMs is { } ts)
                {
                    w.WriteNumber("t", ts);
                }

                if (r.StreamHeardAtMs is { } streamHeard)
                {
                    w.WriteNumber("q", streamHeard);
                }

                if (!r.State.IsEmpty)
                {
                    w.WriteBase64String("s", r.State.Span);
                }

                if (r.HoldsOpenAlert)
                {
                    w.WriteBoolean("a", true);
                }

                if (r.WatchdogOffline is { } offline)
                {
                    w.WritePropertyName("x");
                    w.WriteRawValue(AlertJson.ToJson(offline));
                }

                w.WriteEndObject();
            }
        });
        var compressed = new byte[BrotliEncoder.GetMaxCompressedLength(inner.Length)];
        if (!BrotliEncoder.TryCompress(inner, compressed, out var length, quality: 6, window: 22))
        {
            throw new InvalidOperationException("could not compress a device document");
        }

        return Json(w =>
        {
            w.WriteString("id", GroupId(partition));
            w.WriteString("siteId", site);
            w.WriteNumber("partition", partition);
            w.WriteNumber("g", generation);
            if (list.Where(Watched).Select(d => (long?)d.HeardAtMs).Min() is { } watchFrom)
            {
                w.WriteNumber("watchFrom", watchFrom);
            }

            if (list.Exists(HoldsAlert))
            {
                w.WriteNumber("ttl", -1); // the container's TTL would forget the open alert with the document
            }

            w.WriteNumber("n", inner.Length);
            w.WriteBase64String("z", compressed.AsSpan(0, length));
        });
    }

    private static DeviceGroup GroupOf(JsonElement root, string etag)
    {
        var site = root.GetProperty("siteId").GetString()!;
        var partition = root.GetProperty("partition").GetInt32();
        var inner = new byte[root.GetProperty("n").GetInt32()];
        if (!BrotliDecoder.TryDecompress(root.GetProperty("z").GetBytesFromBase64(), inner, out var length) || length != inner.Length)
        {
            throw new InvalidDataException($"the devices of site {site} on partition {partition} are not readable");
        }

        using var json = JsonDocument.Parse(inner);
        var devices = new Dictionary<string, DeviceRecord>(StringComparer.Ordinal);
        foreach (var d in json.RootElement.EnumerateObject())
        {
            var e = d.Value;
            devices[d.Name] = new DeviceRecord(d.Name, site)
            {
                Partition = partition,
                Version = e.GetProperty("v").GetString(),
                HeardAtMs = e.GetProperty("h").GetInt64(),
                Online = e.TryGetProperty("o", out var online) ? online.GetBoolean() : null,
                Reading = e.TryGetProperty("r", out var reading) ? Encoding.UTF8.GetBytes(reading.GetString()!) : null,
                LastReadingTsMs = e.TryGetProperty("t", out var ts) ? ts.GetInt64() : null,
                StreamHeardAtMs = e.TryGetProperty("q", out var streamHeard) ? streamHeard.GetInt64() : null,
                State = e.TryGetProperty("s", out var state) ? state.GetBytesFromBase64() : default,
                HoldsOpenAlert = e.TryGetProperty("a", out var open) && open.GetBoolean(),
                WatchdogOffline = e.TryGetProperty("x", out var offline) ? AlertJson.Parse(offline.GetRawText()) : null,
            };
        }

        // Documents written before the generation was kept count as generation 0.
        return new DeviceGroup(etag, root.TryGetProperty("g", out var g) ? g.GetInt64() : 0, devices);
    }

    private static StoredDevice StoredDeviceOf(DeviceRecord r) => new(
        r.DeviceId,
        r.SiteId,
        r.Reading is { } reading ? Encoding.UTF8.GetString(reading.Span) : null,
        DateTimeOffset.FromUnixTimeMilliseconds(r.HeardAtMs),
        r.Online);
}
