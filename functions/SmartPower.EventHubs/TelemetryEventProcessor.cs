using Azure.Core;
using Azure.Messaging.EventHubs;
using Azure.Messaging.EventHubs.Primitives;
using Azure.Messaging.EventHubs.Processor;
using Microsoft.Extensions.Logging;
using SmartPower.Pipeline;

namespace SmartPower.EventHubs;

/// <summary>
/// Detection off Event Hubs without the Functions host: the SDK's <see cref="EventProcessor{TPartition}"/> (load
/// balancing across instances, partition ownership, checkpoints in a pluggable <see cref="CheckpointStore"/>) running
/// each batch through the per-device detection step (<see cref="DeviceBatchProcessor"/>), then checkpointing after the
/// batch's last event. A batch that fails in a store is tried again (with backoff) before anything is checkpointed; a
/// crash before the checkpoint means the next owner delivers the batch again, which the detection step takes without
/// a second alert. When a partition is taken on or given up, the cache of device records is dropped, since another
/// instance may have written them.
/// </summary>
public class TelemetryEventProcessor : PluggableCheckpointStoreEventProcessor<EventProcessorPartition>
{
    private readonly DeviceBatchProcessor _detection;
    private readonly DeviceRecordCache _cache;
    private readonly ILogger _logger;

    public TelemetryEventProcessor(
        CheckpointStore checkpoints,
        DeviceBatchProcessor detection,
        DeviceRecordCache cache,
        int eventBatchMaximumCount,
        string consumerGroup,
        string fullyQualifiedNamespace,
        string eventHubName,
        TokenCredential credential,
        EventProcessorOptions? options = null,
        ILogger? logger = null)
        : base(checkpoints, eventBatchMaximumCount, consumerGroup, fullyQualifiedNamespace, eventHubName, credential, options)
    {
        _detection = detection;
        _cache = cache;
        _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    }

    /// <summary>For tests that drive the processor's handlers directly, as the SDK's mocking guidance does.</summary>
    protected TelemetryEventProcessor(CheckpointStore checkpoints, DeviceBatchProcessor detection, DeviceRecordCache cache, int eventBatchMaximumCount, string consumerGroup, string connectionString, string eventHubName)
        : base(checkpoints, eventBatchMaximumCount, consumerGroup, connectionString, eventHubName)
    {
        _detection = detection;
        _cache = cache;
        _logger = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    }

    /// <summary>Longest wait between two tries of a batch that failed in a store.</summary>
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(30);

    protected override async Task OnProcessingEventBatchAsync(IEnumerable<EventData> events, EventProcessorPartition partition, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(partition);
        var list = events as IReadOnlyList<EventData> ?? [.. events];
        if (list.Count == 0)
        {
            return;
        }

        var batch = list.Select(TelemetryEvents.From).ToList();
        var number = TelemetryEvents.PartitionNumber(partition.PartitionId);
        var delay = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            try
            {
                await _detection.ProcessAsync(number, batch, cancellationToken).ConfigureAwait(false);
                break;
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && ex is not OperationCanceledException)
            {
                _logger.LogWarning(ex, "partition {Partition}: batch of {Count} failed, trying again in {Delay}", partition.PartitionId, batch.Count, delay);
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxRetryDelay.Ticks));
            }
        }

        await UpdateCheckpointAsync(partition.PartitionId, CheckpointPosition.FromEvent(list[^1]), cancellationToken).ConfigureAwait(false);
    }

    protected override Task OnProcessingErrorAsync(Exception exception, EventProcessorPartition partition, string operationDescription, CancellationToken cancellationToken)
    {
        _logger.LogError(exception, "event processor: {Operation} failed on partition {Partition}", operationDescription, partition?.PartitionId ?? "(none)");
        return Task.CompletedTask;
    }

    protected override Task OnInitializingPartitionAsync(EventProcessorPartition partition, CancellationToken cancellationToken)
    {
        _cache.Clear();
        return base.OnInitializingPartitionAsync(partition, cancellationToken);
    }

    protected override Task OnPartitionProcessingStoppedAsync(EventProcessorPartition partition, ProcessingStoppedReason reason, CancellationToken cancellationToken)
    {
        _cache.Clear();
        return base.OnPartitionProcessingStoppedAsync(partition, reason, cancellationToken);
    }
}
