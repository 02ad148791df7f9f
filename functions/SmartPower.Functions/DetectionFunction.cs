using System.Text.Json;
using Azure.Messaging.EventHubs;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using SmartPower.EventHubs;
using SmartPower.Pipeline;

namespace SmartPower.Functions;

/// <summary>
/// Detection: Event Hubs-triggered, a batch of one partition at a time, through the per-device detection step
/// (<see cref="DeviceBatchProcessor"/>: one point read and one write per device per batch at most, alerts upserted by
/// alertId, poison events dead-lettered and counted). A store failure fails the invocation, and the host's retry policy
/// (host.json) runs the same batch again before the partition moves on; the step makes that harmless.
/// </summary>
public sealed class DetectionFunction(DeviceBatchProcessor detection, ILogger<DetectionFunction> logger)
{
    [Function("detection")]
    public Task RunAsync(
        [EventHubTrigger("%SmartPower:EventHub%", Connection = "EventHubs", ConsumerGroup = "%SmartPower:ConsumerGroup%", IsBatched = true)] EventData[] events,
        FunctionContext context,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        return RunBatchAsync(events, PartitionIdOf(context.BindingContext.BindingData), cancellationToken);
    }

    /// <summary>The invocation's work, apart from reading the binding.</summary>
    public async Task<DeviceBatchResult> RunBatchAsync(IReadOnlyList<EventData> events, string partitionId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(events);
        var batch = events.Select(TelemetryEvents.From).ToList();
        var result = await detection.ProcessAsync(TelemetryEvents.PartitionNumber(partitionId), batch, cancellationToken).ConfigureAwait(false);
        if (result.DeadLettered > 0)
        {
            logger.LogWarning("partition {Partition}: {Count} of {Events} events dead-lettered", partitionId, result.DeadLettered, result.Events);
        }

        return result;
    }

    /// <summary>The partition of a batch, from the trigger's binding data (<c>PartitionContext.PartitionId</c>).</summary>
    public static string PartitionIdOf(IReadOnlyDictionary<string, object?> bindingData)
    {
        ArgumentNullException.ThrowIfNull(bindingData);
        if (bindingData.TryGetValue("PartitionContext", out var value) && value is not null)
        {
            using var json = JsonDocument.Parse(value as string ?? value.ToString()!);
            if (json.RootElement.TryGetProperty("PartitionId", out var id) && id.GetString() is { Length: > 0 } partition)
            {
                return partition;
            }
        }

        throw new InvalidOperationException("the Event Hubs trigger gave no PartitionContext.PartitionId");
    }
}
