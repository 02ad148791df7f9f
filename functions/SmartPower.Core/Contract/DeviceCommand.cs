using System.Text.Json;

namespace SmartPower.Contract;

/// <summary>A command down to a device, e.g. <c>stop-port</c> for a pile port drawing over its limit.</summary>
public sealed record DeviceCommand(string SiteId, DeviceKind Kind, string DeviceId, string Command, int Port, string AlertId, string Reason)
{
    public const string StopPort = "stop-port";

    public string Topic => Contract.Topic.For(SiteId, Kind, DeviceId, TopicChannel.Command);

    /// <summary>The contract payload: <c>{"command":"stop-port","port":3,"alertId":"...","reason":"port-overpower"}</c>.</summary>
    public byte[] ToPayload()
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(128);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("command"u8, Command);
            writer.WriteNumber("port"u8, Port);
            writer.WriteString("alertId"u8, AlertId);
            writer.WriteString("reason"u8, Reason);
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
