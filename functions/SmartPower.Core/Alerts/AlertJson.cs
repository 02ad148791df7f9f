using System.Text.Json;
using SmartPower.Contract;

namespace SmartPower.Alerts;

/// <summary>Alerts in the contract's JSON, written with a fixed field order so output is byte-stable.</summary>
public static class AlertJson
{
    public static void Write(Utf8JsonWriter writer, Alert alert)
    {
        writer.WriteStartObject();
        writer.WriteString("alertId"u8, alert.AlertId);
        writer.WriteString("type"u8, AlertNames.Of(alert.Type));
        writer.WriteString("severity"u8, AlertNames.Of(alert.Severity));
        writer.WriteString("deviceId"u8, alert.DeviceId);
        writer.WriteString("siteId"u8, alert.SiteId);
        if (alert.Port is { } port)
        {
            writer.WriteNumber("port"u8, port);
        }
        else
        {
            writer.WriteNull("port"u8);
        }

        writer.WriteString("openedAt"u8, EventTime.Format(alert.OpenedAt));
        if (alert.ClearedAt is { } cleared)
        {
            writer.WriteString("clearedAt"u8, EventTime.Format(cleared));
        }
        else
        {
            writer.WriteNull("clearedAt"u8);
        }

        writer.WriteString("state"u8, AlertNames.Of(alert.State));
        writer.WriteStartObject("evidence"u8);
        foreach (var item in alert.Evidence.Items)
        {
            writer.WriteNumber(item.Name, item.Value);
        }

        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    public static string ToJson(Alert alert)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            Write(writer, alert);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Reads one alert line; throws <see cref="FormatException"/> naming what is wrong.</summary>
    public static Alert Parse(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        string Text(string name) => root.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.String
            ? p.GetString()!
            : throw new FormatException($"alert field '{name}' is missing or not a string");
        if (!AlertNames.TryParseType(Text("type"), out var type)) throw new FormatException($"unknown alert type '{Text("type")}'");
        if (!AlertNames.TryParseSeverity(Text("severity"), out var severity)) throw new FormatException($"unknown severity '{Text("severity")}'");
        int? port = root.TryGetProperty("port", out var portElement) && portElement.ValueKind == JsonValueKind.Number ? portElement.GetInt32() : null;
        DateTimeOffset? cleared = root.TryGetProperty("clearedAt", out var c) && c.ValueKind == JsonValueKind.String ? c.GetDateTimeOffset() : null;
        var items = new List<EvidenceItem>();
        if (root.TryGetProperty("evidence", out var evidence) && evidence.ValueKind == JsonValueKind.Object)
        {
            foreach (var p in evidence.EnumerateObject())
            {
                if (p.Value.ValueKind == JsonValueKind.Number)
                {
                    items.Add(new EvidenceItem(p.Name, p.Value.GetDouble()));
                }
            }
        }

        return new Alert(
            Text("alertId"),
            type,
            severity,
            Text("deviceId"),
            Text("siteId"),
            port,
            root.GetProperty("openedAt").GetDateTimeOffset(),
            cleared,
            Text("state") == "open" ? AlertState.Open : AlertState.Cleared,
            new Evidence([.. items]));
    }
}
