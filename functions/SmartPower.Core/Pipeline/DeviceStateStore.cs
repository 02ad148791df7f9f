using SmartPower.Alerts;
using SmartPower.Registry;

namespace SmartPower.Pipeline;

/// <summary>
/// One device as a host that keeps detector state per device stores it (the Functions app: one Cosmos DB document per
/// device): its detector state, the latest thing heard from it, an offline alert the watchdog raised, and the store's
/// concurrency token for the next write.
/// </summary>
public sealed record DeviceRecord(string DeviceId, string SiteId)
{
    /// <summary>What <c>DetectionEngine.TrySaveDevice</c> wrote; empty for a device the engine has no state of yet.</summary>
    public ReadOnlyMemory<byte> State { get; init; }

    /// <summary>When the last reading of the device arrived (wall clock, Unix ms; a status message does not count); 0 if never.</summary>
    public long HeardAtMs { get; init; }

    /// <summary>The raw contract payload of the last accepted reading.</summary>
    public ReadOnlyMemory<byte>? Reading { get; init; }

    /// <summary>The last status message's <c>online</c>.</summary>
    public bool? Online { get; init; }

    /// <summary>The event time (<c>ts</c>, Unix ms) of the last accepted reading; null if none yet.</summary>
    public long? LastReadingTsMs { get; init; }

    /// <summary>
    /// When the engine heard that reading on its partition's stream clock (<c>DetectionEngine.HeardAt</c>; event time,
    /// Unix ms): the device's silence counts from here, for the watchdog as for the engine. It is the reading's own
    /// <c>ts</c> unless the device's clock runs behind the stream's; null in a record written before it was kept.
    /// </summary>
    public long? StreamHeardAtMs { get; init; }

    /// <summary>
    /// Whether <see cref="State"/> holds an open alert (<c>DetectionEngine.HoldsOpenAlert</c>): a store that forgets
    /// long-silent devices keeps this one, since only its state can clear the alert when the device is back.
    /// </summary>
    public bool HoldsOpenAlert { get; init; }

    /// <summary>An <c>offline</c> alert the watchdog opened and that is still open (the engine's own are in <see cref="State"/>).</summary>
    public Alert? WatchdogOffline { get; init; }

    /// <summary>The store's version of the record as loaded; null for a record not stored yet.</summary>
    public string? Version { get; init; }

    /// <summary>
    /// The Event Hubs partition the device's messages arrive on (its partition key is the device id, so always the same
    /// one). A store may keep the devices of one partition together: only that partition's owner writes them.
    /// </summary>
    public int Partition { get; init; }
}

/// <summary>
/// Per-device detector state for hosts that hold no engine between batches. A batch costs at most one point read and
/// one write per device it touches (fewer where a store groups devices), and one of each for its partition's stream
/// clock; never one per reading.
/// </summary>
public interface IDeviceStateStore
{
    /// <summary>
    /// The stored records of <paramref name="devices"/>, whose messages arrive on <paramref name="partition"/> (absent ones
    /// are left out): at most one point read per device, fewer where a store keeps devices together.
    /// </summary>
    Task<IReadOnlyDictionary<string, DeviceRecord>> LoadAsync(int partition, IReadOnlyCollection<Device> devices, CancellationToken cancellationToken);

    /// <summary>
    /// Writes each record, only if it is still at the version it was loaded at (a new record only if none exists): one
    /// write each, forward only. For each, in order, its new version, or null when someone else wrote it since it was
    /// loaded (then nothing was written).
    /// </summary>
    Task<IReadOnlyList<string?>> SaveAsync(IReadOnlyList<DeviceRecord> records, CancellationToken cancellationToken);

    /// <summary>A partition's stream clock as <c>DetectionEngine.SaveStreamClock</c> wrote it, or null.</summary>
    Task<ReadOnlyMemory<byte>?> LoadClockAsync(int partition, CancellationToken cancellationToken);

    Task SaveClockAsync(int partition, ReadOnlyMemory<byte> clock, CancellationToken cancellationToken);

    /// <summary>
    /// Forgets whatever this store keeps in memory of <paramref name="partition"/>'s devices, so that the next load reads
    /// them: another process may have run the partition since (see <see cref="DeviceBatchProcessor"/>).
    /// </summary>
    void Forget(int partition)
    {
    }

    /// <summary>
    /// Devices last heard before <paramref name="heardBeforeMs"/> (wall clock) that have sent a reading, have no watchdog
    /// <c>offline</c> alert open and are <paramref name="due"/>, at most <paramref name="max"/>: the watchdog's one query.
    /// The cutoff narrows what is read; <paramref name="due"/> (the device's own limit) is applied before the cap, so that
    /// devices within a longer limit of their own cannot fill it and hide one that is due.
    /// </summary>
    Task<IReadOnlyList<DeviceRecord>> FindSilentAsync(long heardBeforeMs, Func<DeviceRecord, bool> due, int max, CancellationToken cancellationToken);
}

/// <summary>A message the pipeline could not handle at all, kept aside so that it does not stop the rest.</summary>
public sealed record DeadLetter(int Partition, string Position, string Reason, string? Topic, ReadOnlyMemory<byte> Payload, long ArrivedAtMs);

/// <summary>Where poison messages go (a Cosmos DB container with a TTL on Azure).</summary>
public interface IDeadLetters
{
    Task WriteAsync(DeadLetter letter, CancellationToken cancellationToken);
}
