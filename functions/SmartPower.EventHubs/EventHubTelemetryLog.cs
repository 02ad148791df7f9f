using System.Collections.Concurrent;
using Azure.Core;
using Azure.Messaging.EventHubs;
using Azure.Messaging.EventHubs.Producer;
using SmartPower.Pipeline;

namespace SmartPower.EventHubs;

/// <summary>How the telemetry log's producer batches and retries.</summary>
public sealed class EventHubTelemetryLogOptions
{
    /// <summary>
    /// Longest a message waits for its batch to fill before the batch is sent anyway (batching by time). A batch is
    /// also sent as soon as it is full, at the hub's maximum message size (batching by size).
    /// </summary>
    public TimeSpan MaximumWaitTime { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// Messages buffered per partition before <see cref="ITelemetryLog.AppendAsync"/> waits: back-pressure, which holds
    /// the MQTT acknowledgements back and with them the devices, instead of buffering without bound.
    /// </summary>
    public int MaximumBufferedPerPartition { get; set; } = 5000;

    /// <summary>The SDK's retry policy for sends: exponential backoff, then the send fails and nothing is acknowledged.</summary>
    public EventHubsRetryOptions Retry { get; set; } = new()
    {
        Mode = EventHubsRetryMode.Exponential,
        MaximumRetries = 6,
        Delay = TimeSpan.FromMilliseconds(200),
        MaximumDelay = TimeSpan.FromSeconds(10),
        TryTimeout = TimeSpan.FromSeconds(30),
    };

    public EventHubBufferedProducerClientOptions ToClientOptions() => new()
    {
        MaximumWaitTime = MaximumWaitTime,
        MaximumEventBufferLengthPerPartition = MaximumBufferedPerPartition,
        RetryOptions = Retry,
        Identifier = $"smartpower-bridge-{Environment.MachineName}",
    };
}

/// <summary>
/// The telemetry log on Event Hubs: the MQTT bridge's sink (<c>Ingress</c> appends here). Each message becomes an event
/// with the device id as its partition key (so a device's readings stay in order on one partition), the MQTT topic
/// and arrival time as properties and the payload as the body, and goes through the SDK's buffered producer, which
/// groups events per partition into batches by size and time and retries with the SDK's policy.
/// <see cref="AppendAsync"/> completes only when the event's batch was accepted by Event Hubs, so the bridge
/// acknowledges the device's QoS 1 publish only then; it fails (and nothing is acknowledged, so the broker delivers
/// the message again) when the send failed after the retries.
/// </summary>
public sealed class EventHubTelemetryLog : ITelemetryLog, IAsyncDisposable
{
    /// <summary>The event property holding the MQTT topic (authoritative for the device's identity).</summary>
    public const string TopicProperty = "topic";

    /// <summary>The event property holding when the bridge received the message (Unix ms).</summary>
    public const string ArrivedAtProperty = "arrivedAt";

    private readonly EventHubBufferedProducerClient _producer;
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _pending = new(StringComparer.Ordinal);
    private long _next;

    /// <param name="producer">The process's one producer; its handlers are set here.</param>
    public EventHubTelemetryLog(EventHubBufferedProducerClient producer, int partitionCount)
    {
        ArgumentNullException.ThrowIfNull(producer);
        _producer = producer;
        PartitionCount = partitionCount;
        _producer.SendEventBatchSucceededAsync += OnSucceededAsync;
        _producer.SendEventBatchFailedAsync += OnFailedAsync;
    }

    public int PartitionCount { get; }

    /// <summary>Messages appended and not yet accepted by Event Hubs.</summary>
    public int Pending => _pending.Count;

    /// <summary>A log on the hub, authenticated with <paramref name="credential"/> (a managed identity on Azure): no connection strings.</summary>
    public static async Task<EventHubTelemetryLog> OpenAsync(string fullyQualifiedNamespace, string eventHub, TokenCredential credential, EventHubTelemetryLogOptions? options = null, CancellationToken cancellationToken = default)
    {
        var producer = new EventHubBufferedProducerClient(fullyQualifiedNamespace, eventHub, credential, (options ?? new EventHubTelemetryLogOptions()).ToClientOptions());
        var partitions = await producer.GetPartitionIdsAsync(cancellationToken).ConfigureAwait(false);
        return new EventHubTelemetryLog(producer, partitions.Length);
    }

    public async ValueTask AppendAsync(TelemetryMessage message, CancellationToken cancellationToken)
    {
        var id = Interlocked.Increment(ref _next).ToString(System.Globalization.CultureInfo.InvariantCulture);
        // A copy: the producer buffers the event past a cancelled wait, and the payload may be a broker's reused buffer.
        var data = new EventData(message.Payload.ToArray()) { MessageId = id, ContentType = "application/json" };
        data.Properties[TopicProperty] = message.Topic;
        data.Properties[ArrivedAtProperty] = message.ArrivedAtMs;
        var accepted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = accepted;
        try
        {
            // Waits while the partition's buffer is full: the back-pressure reaches the device through its unacknowledged publish.
            await _producer.EnqueueEventAsync(data, new EnqueueEventOptions { PartitionKey = message.DeviceId }, cancellationToken).ConfigureAwait(false);
            await accepted.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    /// <summary>Sends what is buffered now and waits for it.</summary>
    public Task FlushAsync(CancellationToken cancellationToken) => _producer.FlushAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _producer.CloseAsync(flush: true).ConfigureAwait(false);
        _producer.SendEventBatchSucceededAsync -= OnSucceededAsync;
        _producer.SendEventBatchFailedAsync -= OnFailedAsync;
        foreach (var pending in _pending.Values)
        {
            pending.TrySetException(new ObjectDisposedException(nameof(EventHubTelemetryLog)));
        }
    }

    private Task OnSucceededAsync(SendEventBatchSucceededEventArgs args)
    {
        foreach (var e in args.EventBatch)
        {
            if (e.MessageId is { } id && _pending.TryGetValue(id, out var accepted))
            {
                accepted.TrySetResult();
            }
        }

        return Task.CompletedTask;
    }

    private Task OnFailedAsync(SendEventBatchFailedEventArgs args)
    {
        foreach (var e in args.EventBatch)
        {
            if (e.MessageId is { } id && _pending.TryGetValue(id, out var accepted))
            {
                accepted.TrySetException(args.Exception);
            }
        }

        return Task.CompletedTask;
    }
}
