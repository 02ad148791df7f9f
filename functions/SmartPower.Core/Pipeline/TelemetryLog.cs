namespace SmartPower.Pipeline;

/// <summary>One MQTT message on its way in: the device it came from (the partition key), its topic and payload.</summary>
public readonly record struct TelemetryMessage(string DeviceId, string Topic, ReadOnlyMemory<byte> Payload, long ArrivedAtMs);

/// <summary>A message as stored in one partition of the log, at <see cref="Position"/>.</summary>
public readonly record struct LogRecord(long Position, ReadOnlyMemory<byte> Topic, ReadOnlyMemory<byte> Payload, long ArrivedAtMs);

/// <summary>Records read from a partition, and the position just after the last of them.</summary>
public readonly record struct LogBatch(IReadOnlyList<LogRecord> Records, long NextPosition);

/// <summary>
/// The ingestion side of the telemetry log, partitioned by device id (<see cref="DevicePartitioner"/>): the local
/// file log, or Event Hubs. <see cref="AppendAsync"/> completes once the message is durable, so the bridge may then
/// acknowledge it to the device (MQTT QoS 1); it waits rather than buffer without bound when consumers fall behind.
/// The message's payload may be a broker's buffer that is reused once <see cref="AppendAsync"/> completes: an
/// implementation that keeps it longer (past a cancelled wait, say) copies it.
/// </summary>
public interface ITelemetryLog
{
    int PartitionCount { get; }

    ValueTask AppendAsync(TelemetryMessage message, CancellationToken cancellationToken);

    /// <summary>
    /// The same in two steps, for a broker that reads a device's next message while the last awaits durability:
    /// completes once the log has taken the message (its payload is no longer needed) with a task that completes once
    /// it is durable. Once a write of a device's message has failed, the device's later messages are refused here
    /// (an <see cref="IOException"/>) until <see cref="Reopen"/>, so that none of them becomes durable ahead of the
    /// one the device must send again. By default: <see cref="AppendAsync"/>, durable when taken.
    /// </summary>
    async ValueTask<Task> TakeAsync(TelemetryMessage message, CancellationToken cancellationToken)
    {
        await AppendAsync(message, cancellationToken).ConfigureAwait(false);
        return Task.CompletedTask;
    }

    /// <summary>The device has connected again (its connection with unacknowledged messages is gone): take its messages again.</summary>
    void Reopen(string deviceId)
    {
    }
}

/// <summary>The reading side of one partition, from a position a consumer checkpointed.</summary>
public interface ITelemetryPartition
{
    int Partition { get; }

    /// <summary>The position after the last durable record: what a consumer has to reach to be caught up.</summary>
    long EndPosition { get; }

    /// <summary>The position of the oldest record still held (those before it were released).</summary>
    long StartPosition => 0;

    /// <summary>Up to <paramref name="maxRecords"/> records from <paramref name="position"/>; waits up to <paramref name="wait"/> for the first.</summary>
    ValueTask<LogBatch> ReadAsync(long position, int maxRecords, TimeSpan wait, CancellationToken cancellationToken);

    /// <summary>Everything before <paramref name="position"/> is checkpointed and may be dropped.</summary>
    void Release(long position);
}
