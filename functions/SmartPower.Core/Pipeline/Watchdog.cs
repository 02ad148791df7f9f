using SmartPower.Alerts;
using SmartPower.Contract;
using SmartPower.Registry;

namespace SmartPower.Pipeline;

/// <summary>
/// Raises <c>offline</c> for devices gone silent, on the wall clock: the per-device host's counterpart of the engine's
/// silence watch, which only sees devices in the batch at hand (a device that stops sending is in no batch). Run on a
/// timer. A device is offline when nothing arrived from it for its offline limit (max(3 x reportIntervalS, 60 s)); the
/// alert opens at the event time the engine heard its last reading plus that limit, as the engine's own would (its
/// id is the same however often the watchdog runs, and the same as one the engine opened for that silence in a batch),
/// and it clears with the device's next reading (<see cref="DeviceBatchProcessor"/>).
/// </summary>
public sealed class Watchdog(DeviceRegistry registry, IDeviceStateStore states, IPipelineStore alerts, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly long _shortestLimitMs = registry.Devices.Count == 0 ? 60_000 : registry.Devices.Min(DeviceLimits.OfflineAfterMs);

    /// <summary>Saves of a device's mark tried in one run while its record keeps changing without a reading (the next run tries again).</summary>
    private const int MaxSaveAttempts = 5;

    /// <summary>Most devices raised in one run; the rest wait for the next.</summary>
    public int MaxPerRun { get; init; } = 10_000;

    /// <summary>
    /// How much longer than a device's limit the watchdog waits before it calls the device offline: a reading that
    /// arrived may still be on its way to the device's record, in the trigger's batch (host.json's <c>maxWaitTime</c>,
    /// a minute) and its processing. Without it, a device whose last reading came early in a batch window looked silent
    /// for a moment on a quiet partition, and offline opened and cleared. The alert is still dated at the limit.
    /// </summary>
    public TimeSpan Grace { get; init; } = TimeSpan.FromSeconds(90);

    /// <summary>One sweep: the transitions it stored (offline opened, or cleared for a device heard while it ran).</summary>
    public async Task<IReadOnlyList<AlertTransition>> RunAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var grace = (long)Grace.TotalMilliseconds;
        // Due: a device of the registry, heard from once, silent past its own limit and the grace, not marked yet.
        Device? DueDevice(DeviceRecord r) => registry.TryGetDevice(r.DeviceId, out var d) && r.LastReadingTsMs is not null
            && r.WatchdogOffline is null && r.HeardAtMs + DeviceLimits.OfflineAfterMs(d) + grace <= now ? d : null;
        var silent = await states.FindSilentAsync(now - _shortestLimitMs - grace, r => DueDevice(r) is not null, MaxPerRun, cancellationToken).ConfigureAwait(false);
        var opened = new List<AlertTransition>();
        var marked = new List<DeviceRecord>();
        foreach (var record in silent)
        {
            if (DueDevice(record) is not { } device)
            {
                continue;
            }

            var lastTs = record.LastReadingTsMs!.Value;
            var limit = DeviceLimits.OfflineAfterMs(device);

            var at = (record.StreamHeardAtMs ?? lastTs) + limit; // where the engine dates it: one silence, one alert id
            var alert = new Alert(
                Alert.IdFor(device.SiteId, device.DeviceId, AlertType.Offline, null, at),
                AlertType.Offline,
                Severity.Warning,
                device.DeviceId,
                device.SiteId,
                null,
                EventTime.ToDateTimeOffset(at),
                null,
                AlertState.Open,
                new Evidence(new EvidenceItem("silentS", limit / 1000.0), new EvidenceItem("reportIntervalS", device.ReportIntervalS)));
            opened.Add(new AlertTransition(TransitionKind.Opened, alert, at));
            marked.Add(record with { WatchdogOffline = alert });
        }

        if (opened.Count == 0)
        {
            return [];
        }

        // The alerts first, then the devices' records: a crash in between opens the same alerts (same ids) next time.
        await alerts.CommitAsync(new BatchCommit(-1, opened, [], null), cancellationToken).ConfigureAwait(false);
        var versions = await states.SaveAsync(marked, cancellationToken).ConfigureAwait(false);
        var stored = new List<AlertTransition>(opened);
        var raced = marked.Where((_, i) => versions[i] is null).ToList();
        for (var attempt = 0; raced.Count > 0 && attempt < MaxSaveAttempts; attempt++)
        {
            // A device written while the watchdog ran was heard from: its alert ends with that reading. One written without
            // being heard (a batch of a duplicate, which the detection step still writes) is still silent: marked again on
            // the record as it is now, or nothing would clear the alert when the device is back before the next sweep.
            var fresh = new Dictionary<string, DeviceRecord>(StringComparer.Ordinal);
            foreach (var group in raced.GroupBy(r => r.Partition))
            {
                var devices = group.Select(r => registry.TryGetDevice(r.DeviceId, out var d) ? d : null).OfType<Device>().ToList();
                foreach (var (id, record) in await states.LoadAsync(group.Key, devices, cancellationToken).ConfigureAwait(false))
                {
                    fresh[id] = record;
                }
            }

            var cleared = new List<AlertTransition>();
            var again = new List<DeviceRecord>();
            foreach (var r in raced)
            {
                if (!fresh.TryGetValue(r.DeviceId, out var now2) || r.WatchdogOffline is not { } offline)
                {
                    continue;
                }

                if (now2.HeardAtMs > r.HeardAtMs)
                {
                    var at = Math.Max(now2.LastReadingTsMs ?? 0, offline.OpenedAt.ToUnixTimeMilliseconds());
                    cleared.Add(new AlertTransition(TransitionKind.Cleared, offline with { State = AlertState.Cleared, ClearedAt = EventTime.ToDateTimeOffset(at) }, at));
                }
                else if (now2.WatchdogOffline is null)
                {
                    again.Add(now2 with { WatchdogOffline = offline });
                }
            }

            if (cleared.Count > 0)
            {
                await alerts.CommitAsync(new BatchCommit(-1, cleared, [], null), cancellationToken).ConfigureAwait(false);
                stored.AddRange(cleared);
            }

            if (again.Count == 0)
            {
                break;
            }

            versions = await states.SaveAsync(again, cancellationToken).ConfigureAwait(false);
            raced = again.Where((_, i) => versions[i] is null).ToList();
        }

        return stored;
    }
}
