using Azure.Messaging.EventHubs;
using Azure.Messaging.EventHubs.Primitives;
using Azure.Messaging.EventHubs.Producer;
using SmartPower.EventHubs;

namespace SmartPower.Azure.Tests;

/// <summary>
/// The SDK's buffered producer with its transport taken out (it connects only when it first publishes, which it never
/// does here): events enqueued are kept, and the test says when Event Hubs accepted or refused them, which raises the
/// producer's own success and failure handlers.
/// </summary>
internal sealed class TestBufferedProducer()
    : EventHubBufferedProducerClient("Endpoint=sb://smartpower-test.servicebus.windows.net/;SharedAccessKeyName=test;SharedAccessKey=dGVzdA==", "telemetry")
{
    private readonly List<(EventData Event, string? PartitionKey)> _buffered = [];

    public IReadOnlyList<(EventData Event, string? PartitionKey)> Buffered
    {
        get
        {
            lock (_buffered)
            {
                return [.. _buffered];
            }
        }
    }

    public override Task<int> EnqueueEventAsync(EventData eventData, EnqueueEventOptions options, CancellationToken cancellationToken = default)
    {
        lock (_buffered)
        {
            _buffered.Add((eventData, options?.PartitionKey));
            return Task.FromResult(_buffered.Count);
        }
    }

    public override Task CloseAsync(bool flush = true, CancellationToken cancellationToken = default) => Task.CompletedTask;

    /// <summary>Event Hubs accepted every event buffered so far.</summary>
    public Task AcceptAllAsync() => OnSendSucceededAsync(Take(), "0", CancellationToken.None);

    /// <summary>The send of every event buffered so far failed after the retries.</summary>
    public Task FailAllAsync(Exception error) => OnSendFailedAsync(Take(), error, "0", CancellationToken.None);

    private List<EventData> Take()
    {
        lock (_buffered)
        {
            var events = _buffered.Select(b => b.Event).ToList();
            _buffered.Clear();
            return events;
        }
    }
}

/// <summary>
/// <see cref="TelemetryEventProcessor"/> with its handlers driven by the test, as Event Hubs would drive them for the
/// partitions this instance owns (the SDK's guidance for testing processors: its consumer is not mockable).
/// </summary>
internal sealed class TestProcessor(CheckpointStore checkpoints, DeviceBatchProcessor detection, DeviceRecordCache cache)
    : TelemetryEventProcessor(checkpoints, detection, cache, 100, "detection", "Endpoint=sb://smartpower-test.servicebus.windows.net/;SharedAccessKeyName=test;SharedAccessKey=dGVzdA==", "telemetry")
{
    public Task InitializeAsync(string partitionId) => OnInitializingPartitionAsync(new TestPartition(partitionId), CancellationToken.None);

    public Task ProcessAsync(string partitionId, IEnumerable<EventData> events) => OnProcessingEventBatchAsync(events, new TestPartition(partitionId), CancellationToken.None);

    public Task<EventProcessorCheckpoint?> CheckpointAsync(string partitionId) => GetCheckpointAsync(partitionId, CancellationToken.None);

    private sealed class TestPartition : EventProcessorPartition
    {
        public TestPartition(string id) => PartitionId = id;
    }
}

/// <summary>A checkpoint store whose next checkpoint write fails (the instance dies after processing a batch).</summary>
internal sealed class FlakyCheckpoints(CheckpointStore inner) : CheckpointStore
{
    public bool FailNextUpdate { get; set; }

    public override Task<IEnumerable<EventProcessorPartitionOwnership>> ListOwnershipAsync(string fullyQualifiedNamespace, string eventHubName, string consumerGroup, CancellationToken cancellationToken) =>
        inner.ListOwnershipAsync(fullyQualifiedNamespace, eventHubName, consumerGroup, cancellationToken);

    public override Task<IEnumerable<EventProcessorPartitionOwnership>> ClaimOwnershipAsync(IEnumerable<EventProcessorPartitionOwnership> desiredOwnership, CancellationToken cancellationToken) =>
        inner.ClaimOwnershipAsync(desiredOwnership, cancellationToken);

    public override Task<EventProcessorCheckpoint?> GetCheckpointAsync(string fullyQualifiedNamespace, string eventHubName, string consumerGroup, string partitionId, CancellationToken cancellationToken) =>
        inner.GetCheckpointAsync(fullyQualifiedNamespace, eventHubName, consumerGroup, partitionId, cancellationToken);

    public override Task UpdateCheckpointAsync(string fullyQualifiedNamespace, string eventHubName, string consumerGroup, string partitionId, string clientIdentifier, global::Azure.Messaging.EventHubs.Processor.CheckpointPosition startingPosition, CancellationToken cancellationToken)
    {
        if (FailNextUpdate)
        {
            FailNextUpdate = false;
            throw new IOException("the instance died before its checkpoint");
        }

        return inner.UpdateCheckpointAsync(fullyQualifiedNamespace, eventHubName, consumerGroup, partitionId, clientIdentifier, startingPosition, cancellationToken);
    }

    [Obsolete("The SDK's older form.")]
    public override Task UpdateCheckpointAsync(string fullyQualifiedNamespace, string eventHubName, string consumerGroup, string partitionId, long offset, long? sequenceNumber, CancellationToken cancellationToken) =>
        inner.UpdateCheckpointAsync(fullyQualifiedNamespace, eventHubName, consumerGroup, partitionId, offset, sequenceNumber, cancellationToken);
}
