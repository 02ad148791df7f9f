using System.Globalization;
using Azure.Messaging.EventHubs;
using SmartPower.Pipeline;

namespace SmartPower.EventHubs;

/// <summary>
/// Reads an Event Hubs event as a telemetry message, whoever put it there: the bridge (<see cref="EventHubTelemetryLog"/>:
/// the topic in the <c>topic</c> property) or the Event Grid MQTT broker's routing (a CloudEvent in binary mode: the
/// MQTT topic is the event's subject, <c>ce_subject</c> or <c>cloudEvents:subject</c>; verified only on Azure). An event
/// with no topic at all comes back with a null topic, and the detection step dead-letters it.
/// </summary>
public static class TelemetryEvents
{
    private static readonly string[] TopicProperties = [EventHubTelemetryLog.TopicProperty, "ce_subject", "cloudEvents:subject"];

    public static TelemetryEvent From(EventData e)
    {
        ArgumentNullException.ThrowIfNull(e);
        string? topic = null;
        foreach (var name in TopicProperties)
        {
            if (e.Properties.TryGetValue(name, out var value) && value is string text && text.Length > 0)
            {
                topic = text;
                break;
            }
        }

        var arrived = e.Properties.TryGetValue(EventHubTelemetryLog.ArrivedAtProperty, out var at) && at is long ms ? ms : e.EnqueuedTime.ToUnixTimeMilliseconds();
        return new TelemetryEvent(e.SequenceNumber.ToString(CultureInfo.InvariantCulture), topic, e.EventBody.ToMemory(), arrived);
    }

    /// <summary>An Event Hubs partition id ("0", "1", ...) as the pipeline's partition number.</summary>
    public static int PartitionNumber(string partitionId) => int.Parse(partitionId, NumberStyles.None, CultureInfo.InvariantCulture);
}
