using System.Buffers;
using System.Text;
using SmartPower.Alerts;
using SmartPower.Contract;
using SmartPower.Detection;
using SmartPower.Registry;

namespace SmartPower.Pipeline;

/// <summary>
/// One message of a batch as a per-device host receives it: where it is in its partition (for a dead letter), its topic
/// (null when the envelope had none) and payload, and when it arrived.
/// </summary>
public readonly record struct TelemetryEvent(string Position, string? Topic, ReadOnlyMemory<byte> Payload, long ArrivedAtMs);

/// <summary>What one batch came to.</summary>
public sealed record DeviceBatchResult(int Events, int Devices, int Transitions, int DeadLettered, int Conflicts);

/// <summary>
/// The detection step of a host that holds no engine between batches (the Functions app's Event Hubs trigger, or the
/// Event Hubs processor): loads the state of the devices a batch touches (at most one point read each, none for what the
/// store still holds from this process's last batch of the partition if the partition's stream clock, read every batch,
/// is still the one this process saved), runs the batch through a
/// fresh <see cref="DetectionEngine"/>, sends the commands it raised, stores its transitions (upserts by alert id), then
/// saves each device (at most one write each, only if nobody wrote it since it was loaded; the Cosmos DB store writes a
/// site's devices of one partition in one request) and the clock. The order makes a redelivered batch harmless: transitions first, so a crash before the
/// devices are saved replays the batch on the old state and yields the same alert ids; devices after, so a replay on the
/// saved state finds every reading a duplicate. A message that cannot be handled at all (no topic, or one that throws)
/// is dead-lettered and counted and the rest of the batch goes on.
/// </summary>
public sealed class DeviceBatchProcessor(
    DeviceRegistry registry,
    IDeviceStateStore states,
    IPipelineStore alerts,
    IDeviceCommands commands,
    IDeadLetters deadLetters,
    PipelineMetrics metrics,
    ReadingLimits? limits = null,
    DeviceRecordCache? cache = null)
{
    /// <summary>How often a batch is run again for the devices another writer got to first before giving up.</summary>
    public const int MaxAttempts = 3;

    private readonly ReadingLimits _limits = limits ?? ReadingLimits.Default;

    // The stream clock this process last saved for each partition. Every batch that accepts a reading saves a new one,
    // so a clock found changed at the start of a batch means another process ran the partition since: what this
    // process cached of its devices may be stale, and transitions worked out from stale state would be stored before
    // the device writes could notice.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, byte[]> _clocksSaved = new();

    /// <summary>Runs one batch of one partition, in order. Throws only if a store does (the batch is then delivered again).</summary>
    public async Task<DeviceBatchResult> ProcessAsync(int partition, IReadOnlyList<TelemetryEvent> events, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(events);
        var deadLettered = 0;
        var devices = new Dictionary<string, Device>(StringComparer.Ordinal);
        var owners = new Device?[events.Count];
        for (var i = 0; i < events.Count; i++)
        {
            var e = events[i];
            if (e.Topic is null)
            {
                await DeadLetterAsync(partition, e, "no topic on the event", cancellationToken).ConfigureAwait(false);
                deadLettered++;
                continue;
            }

            if (Topic.TryParse(Encoding.UTF8.GetBytes(e.Topic), out var topic) && registry.TryGetDevice(topic.DeviceId, out var device))
            {
                owners[i] = device;
                devices.TryAdd(device.DeviceId, device);
            }
        }

        var clockBlob = await states.LoadClockAsync(partition, cancellationToken).ConfigureAwait(false);
        var cacheTrusted = clockBlob is { } loadedClock && _clocksSaved.TryGetValue(partition, out var savedClock) && loadedClock.Span.SequenceEqual(savedClock);
        if (!cacheTrusted)
        {
            states.Forget(partition);
        }
        // Devices this process saved last (a warm instance that kept its partition) need no read: their cached version
        // is checked by the write, and a device someone else wrote since is read and run again below.
        var records = new Dictionary<string, DeviceRecord>(StringComparer.Ordinal);
        var toLoad = new List<Device>();
        foreach (var device in devices.Values)
        {
            if (cacheTrusted && cache is not null && cache.TryGet(device.DeviceId, out var cached))
            {
                records[device.DeviceId] = cached;
            }
            else
            {
                toLoad.Add(device);
            }
        }

        if (toLoad.Count > 0)
        {
            foreach (var (id, record) in await states.LoadAsync(partition, toLoad, cancellationToken).ConfigureAwait(false))
            {
                records[id] = record;
            }
        }

        var pending = new HashSet<string>(devices.Keys, StringComparer.Ordinal);
        ReadOnlyMemory<byte>? clockToSave = null;
        var transitionCount = 0;
        var conflicts = 0;
        for (var attempt = 1; attempt <= MaxAttempts && (pending.Count > 0 || attempt == 1); attempt++)
        {
            var run = Run(partition, events, owners, pending, records, clockBlob, first: attempt == 1);
            foreach (var (e, reason) in run.Poison)
            {
                await DeadLetterAsync(partition, e, reason, cancellationToken).ConfigureAwait(false);
                deadLettered++;
            }

            // Commands first: a crash after them replays the batch and sends them again, which a pile ignores for a port
            // already stopped; the other order could lose a stop.
            foreach (var command in run.Commands)
            {
                await commands.SendAsync(command, cancellationToken).ConfigureAwait(false);
                metrics.CountCommand();
            }

            if (attempt == 1)
            {
                await commands.DevicesHeardAsync(devices.Keys, cancellationToken).ConfigureAwait(false);
            }

            if (run.Transitions.Count > 0)
            {
                await alerts.CommitAsync(new BatchCommit(partition, run.Transitions, [], null), cancellationToken).ConfigureAwait(false);
                metrics.CountStored(run.Transitions);
                transitionCount += run.Transitions.Count;
            }

            if (attempt == 1)
            {
                clockToSave = run.Clock;
            }

            var versions = await states.SaveAsync(run.Records, cancellationToken).ConfigureAwait(false);
            pending.Clear();
            for (var i = 0; i < versions.Count; i++)
            {
                var saved = run.Records[i];
                if (versions[i] is { } version)
                {
                    cache?.Set(saved with { Version = version });
                }
                else
                {
                    cache?.Remove(saved.DeviceId);
                    pending.Add(saved.DeviceId);
                }
            }

            if (pending.Count == 0)
            {
                break;
            }

            // Another writer (a partition's previous owner finishing its batch) stored these devices since they were
            // loaded: run their messages again on what it stored. Readings it already applied are duplicates now.
            conflicts += pending.Count;
            var reloaded = await states.LoadAsync(partition, [.. pending.Select(id => devices[id])], cancellationToken).ConfigureAwait(false);
            foreach (var id in pending)
            {
                records.Remove(id);
                if (reloaded.TryGetValue(id, out var r))
                {
                    records[id] = r;
                }
            }
        }

        if (pending.Count > 0)
        {
            throw new InvalidOperationException($"devices {string.Join(", ", pending)} kept changing under partition {partition}'s batch; it will be delivered again");
        }

        // The clock last, once the devices are saved: a batch that failed before then is delivered again on the old
        // devices and the old clock together (a clock ahead of its devices would not see the silences they show).
        if (clockToSave is { } clock)
        {
            await states.SaveClockAsync(partition, clock, cancellationToken).ConfigureAwait(false);
            _clocksSaved[partition] = clock.ToArray();
        }

        return new DeviceBatchResult(events.Count, devices.Count, transitionCount, deadLettered, conflicts);
    }

    private sealed record RunResult(
        List<AlertTransition> Transitions,
        List<DeviceCommand> Commands,
        List<DeviceRecord> Records,
        List<(TelemetryEvent Event, string Reason)> Poison,
        ReadOnlyMemory<byte>? Clock);

    private RunResult Run(
        int partition,
        IReadOnlyList<TelemetryEvent> events,
        Device?[] owners,
        HashSet<string> pending,
        IReadOnlyDictionary<string, DeviceRecord> records,
        ReadOnlyMemory<byte>? clockBlob,
        bool first)
    {
        var engine = new DetectionEngine(registry, _limits);
        foreach (var id in pending)
        {
            if (records.TryGetValue(id, out var record) && !record.State.IsEmpty)
            {
                try
                {
                    engine.RestoreDevice(id, record.State.Span);
                }
                catch (StateFormatException)
                {
                    // State this build cannot read (another version): the device starts fresh rather than not at all.
                }
            }
        }

        if (clockBlob is { } blob)
        {
            try
            {
                engine.RestoreStreamClock(blob.Span);
            }
            catch (StateFormatException)
            {
                // A fresh clock rebuilds itself from the batch's readings.
            }
        }

        var sink = new CollectingSink();
        var poison = new List<(TelemetryEvent, string)>();
        var latest = new Dictionary<string, Latest>(StringComparer.Ordinal);
        for (var i = 0; i < events.Count; i++)
        {
            var e = events[i];
            var device = owners[i];
            if (e.Topic is null || (device is null ? !first : !pending.Contains(device.DeviceId)))
            {
                continue; // dead-lettered already, or a device done in an earlier attempt
            }

            ProcessResult result;
            try
            {
                result = engine.Process(Encoding.UTF8.GetBytes(e.Topic), e.Payload.Span, sink);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                if (first)
                {
                    poison.Add((e, $"{ex.GetType().Name}: {ex.Message}"));
                }

                continue;
            }

            if (first)
            {
                metrics.Count(result); // a device run again after a conflict was counted the first time
            }

            if (device is null || result.Outcome is not (MessageOutcome.Accepted or MessageOutcome.Status))
            {
                continue;
            }

            // A status message (a Last Will, say) is no sign of life for the watchdog: only a reading moves the arrival
            // time on (found in review: a Will racing the watchdog's mark read as the device heard from, and cleared the
            // offline alert of a device that was gone).
            latest.TryGetValue(device.DeviceId, out var before);
            latest[device.DeviceId] = result.Outcome == MessageOutcome.Accepted
                ? new Latest(e.ArrivedAtMs, e.Payload, before?.Online ?? true, before?.FirstReading ?? e.Payload)
                : new Latest(before?.ArrivedAtMs ?? 0, before?.Reading, ReadingParser.TryParseStatus(e.Payload.Span, out var status).IsFailure ? before?.Online : status.Online, before?.FirstReading);
        }

        var transitions = sink.Transitions;
        var saved = new List<DeviceRecord>(pending.Count);
        var buffer = new ArrayBufferWriter<byte>(512);
        foreach (var id in pending)
        {
            var device = registry.TryGetDevice(id, out var d) ? d : null;
            if (device is null)
            {
                continue;
            }

            records.TryGetValue(id, out var old);
            latest.TryGetValue(id, out var heard);
            buffer.ResetWrittenCount();
            var saves = engine.TrySaveDevice(id, buffer);
            var state = saves ? buffer.WrittenMemory.ToArray() : old?.State ?? default;
            var record = (old ?? new DeviceRecord(id, device.SiteId)) with
            {
                Partition = partition,
                State = state,
                HeardAtMs = Math.Max(old?.HeardAtMs ?? 0, heard?.ArrivedAtMs ?? 0),
                Reading = heard?.Reading ?? old?.Reading,
                Online = heard?.Online ?? old?.Online,
                LastReadingTsMs = heard?.Reading is { } last ? TimestampOf(last, device) ?? old?.LastReadingTsMs : old?.LastReadingTsMs,
                StreamHeardAtMs = engine.HeardAt(id) ?? old?.StreamHeardAtMs,
                HoldsOpenAlert = saves ? engine.HoldsOpenAlert(id) : old?.HoldsOpenAlert ?? false,
            };

            // The watchdog's offline alert ends with the device's first reading; the engine may see the same silence
            // on the state it restored and open one of its own in this batch, which the watchdog's stands for. One the
            // engine opened in an earlier batch is stored already: its clearing stays, or it would be open for ever.
            if (old?.WatchdogOffline is { } offline && heard?.FirstReading is { } firstReading)
            {
                var at = Math.Max(TimestampOf(firstReading, device) ?? offline.OpenedAt.ToUnixTimeMilliseconds(), offline.OpenedAt.ToUnixTimeMilliseconds());
                var sameGap = transitions.Where(t => t.Kind == TransitionKind.Opened && t.Alert.DeviceId == id && t.Alert.Type == AlertType.Offline
                        && t.Alert.OpenedAt.ToUnixTimeMilliseconds() <= at)
                    .Select(t => t.Alert.AlertId).ToHashSet(StringComparer.Ordinal);
                transitions.RemoveAll(t => sameGap.Contains(t.Alert.AlertId));
                if (!transitions.Exists(t => t.Kind == TransitionKind.Cleared && t.Alert.AlertId == offline.AlertId))
                {
                    transitions.Add(new AlertTransition(
                        TransitionKind.Cleared,
                        offline with { State = AlertState.Cleared, ClearedAt = EventTime.ToDateTimeOffset(at) },
                        at));
                }

                record = record with { WatchdogOffline = null };
            }

            saved.Add(record);
        }

        ReadOnlyMemory<byte>? clock = null;
        if (first)
        {
            buffer.ResetWrittenCount();
            engine.SaveStreamClock(buffer);
            clock = buffer.WrittenMemory.ToArray();
        }

        return new RunResult(transitions, sink.Commands, saved, poison, clock);
    }

    private long? TimestampOf(ReadOnlyMemory<byte> payload, Device device) =>
        ReadingParser.TryParseReading(payload.Span, device, _limits, out var reading).IsFailure ? null : reading.TimestampMs;

    private Task DeadLetterAsync(int partition, in TelemetryEvent e, string reason, CancellationToken cancellationToken)
    {
        metrics.CountDeadLetter();
        return deadLetters.WriteAsync(new DeadLetter(partition, e.Position, reason, e.Topic, e.Payload, e.ArrivedAtMs), cancellationToken);
    }

    private sealed record Latest(long ArrivedAtMs, ReadOnlyMemory<byte>? Reading, bool? Online, ReadOnlyMemory<byte>? FirstReading);
}

/// <summary>
/// The device records a process saved last, with their new versions, so that its next batch need not read them again.
/// Only a hint: a stale entry (someone else wrote the device since) fails its conditional write and is read afresh.
/// Bounded: when full it starts over.
/// </summary>
public sealed class DeviceRecordCache(int capacity = 100_000)
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, DeviceRecord> _records = new(StringComparer.Ordinal);

    public int Count => _records.Count;

    public bool TryGet(string deviceId, out DeviceRecord record) => _records.TryGetValue(deviceId, out record!);

    public void Set(DeviceRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (_records.Count >= capacity && !_records.ContainsKey(record.DeviceId))
        {
            _records.Clear();
        }

        _records[record.DeviceId] = record;
    }

    public void Remove(string deviceId) => _records.TryRemove(deviceId, out _);

    /// <summary>Forgets everything (a partition this process no longer owns may be written by another).</summary>
    public void Clear() => _records.Clear();
}
