using SmartPower.Alerts;
using SmartPower.Notifications;

namespace SmartPower.Pipeline;

/// <summary>A partition's detector state and the log position it corresponds to.</summary>
public sealed record PartitionCheckpoint(int Partition, long Position, ReadOnlyMemory<byte> EngineState);

/// <summary>The latest thing heard from a device in a batch: its last accepted reading and/or its status.</summary>
public sealed record DeviceLatest(string DeviceId, string SiteId, long ArrivedAtMs)
{
    /// <summary>The raw contract payload of the last accepted reading, if the batch had one.</summary>
    public ReadOnlyMemory<byte>? Reading { get; init; }

    /// <summary>The last status message's <c>online</c>, if the batch had one.</summary>
    public bool? Online { get; init; }
}

/// <summary>What one processed batch of a partition changes in the store.</summary>
public sealed record BatchCommit(
    int Partition,
    IReadOnlyList<AlertTransition> Transitions,
    IReadOnlyList<DeviceLatest> Devices,
    PartitionCheckpoint? Checkpoint)
{
    /// <summary>The transitions' notifications, for the outbox: stored with the transitions, in the same transaction.</summary>
    public IReadOnlyList<Notification> Notifications { get; init; } = [];
}

/// <summary>
/// Where a partition consumer keeps its results: alerts with their transitions, devices' latest status, and
/// checkpoints. Writes must be idempotent: a batch replayed after a crash (same transitions, same alert ids)
/// changes nothing, and a stale transition never overwrites a newer one. SQLite locally, Cosmos DB on Azure.
/// </summary>
public interface IPipelineStore
{
    Task<PartitionCheckpoint?> LoadCheckpointAsync(int partition, CancellationToken cancellationToken);

    /// <summary>
    /// Stores the batch's transitions with their notifications (outbox), device status, then (if given) the checkpoint,
    /// in that order and all or nothing; a notification already in the outbox is not written again.
    /// </summary>
    Task CommitAsync(BatchCommit batch, CancellationToken cancellationToken);
}

/// <summary>Sends a command down to a device (the pile's command topic).</summary>
public interface IDeviceCommands
{
    Task SendAsync(Contract.DeviceCommand command, CancellationToken cancellationToken);

    /// <summary>
    /// The devices were just heard from (a batch held their messages). A sender that holds the commands a device was away
    /// for sends them now; by default there is nothing to do.
    /// </summary>
    Task DevicesHeardAsync(IEnumerable<string> deviceIds, CancellationToken cancellationToken) => Task.CompletedTask;
}
