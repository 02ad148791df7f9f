using System.Text.Json;
using System.Text.Json.Serialization;

namespace SmartPower.DeviceSim.Contract;

/// <summary>A device's status, retained on its status topic and set as its Last Will: <c>{"online":bool,"ts":"...","fw":"..."}</c>.</summary>
public sealed record StatusMessage(bool Online, string Ts, string Fw)
{
    public const string Firmware = "1.4.2";

    public static string Json(bool online, DateTimeOffset at) =>
        JsonSerializer.Serialize(new StatusMessage(online, Format.Ts(at), Firmware), WireJson.Default.StatusMessage);
}

/// <summary>A command to a device: <c>{"command":"stop-port","port":3,"alertId":"...","reason":"port-overpower"}</c>.</summary>
public sealed record CommandMessage(string Command, int? Port, string? AlertId, string? Reason)
{
    public const string StopPort = "stop-port";

    /// <summary>The command in <paramref name="payload"/>, or null when it is not a JSON command object.</summary>
    public static CommandMessage? TryParse(ReadOnlySpan<byte> payload)
    {
        try
        {
            return JsonSerializer.Deserialize(payload, WireJson.Default.CommandMessage);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>Source-generated serializers for the messages a device sends and receives (camelCase, as the contract spells them).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(StatusMessage))]
[JsonSerializable(typeof(CommandMessage))]
internal sealed partial class WireJson : JsonSerializerContext;
