using System.Globalization;
using System.Text;
using System.Text.Json;
using SmartPower.DeviceSim.Contract;

namespace SmartPower.DeviceSim.Truth;

/// <summary>
/// One injected (or naturally arising) hazard, as the contract's ground-truth JSON Lines carry it.
/// <see cref="Start"/> is when the hazardous condition physically begins (for sustained-threshold hazards,
/// the first reading over the alarm threshold); <see cref="End"/> is when it stops.
/// </summary>
public sealed record GroundTruthIncident(string Type, string DeviceId, int? Port, DateTimeOffset Start, DateTimeOffset End)
{
    /// <summary>Human-readable detail (severity, cause, peak); not written to the ground-truth file and not part of equality.</summary>
    public string? Note { get; init; }

    public bool Equals(GroundTruthIncident? other) =>
        other is not null && Type == other.Type && DeviceId == other.DeviceId && Port == other.Port &&
        Start == other.Start && End == other.End;

    public override int GetHashCode() => HashCode.Combine(Type, DeviceId, Port, Start, End);

    /// <summary>The contract's ground-truth line: {"type":...,"deviceId":...,"port":...,"start":...,"end":...}.</summary>
    public string ToJsonLine()
    {
        var sb = new StringBuilder(160);
        sb.Append("{\"type\":").Append(JsonSerializer.Serialize(Type))
            .Append(",\"deviceId\":").Append(JsonSerializer.Serialize(DeviceId))
            .Append(",\"port\":").Append(Port is { } p ? p.ToString(CultureInfo.InvariantCulture) : "null")
            .Append(",\"start\":\"").Append(Format.Ts(Start))
            .Append("\",\"end\":\"").Append(Format.Ts(End)).Append("\"}");
        return sb.ToString();
    }

    /// <summary>Parses one ground-truth JSON line.</summary>
    public static GroundTruthIncident Parse(string jsonLine)
    {
        using var doc = JsonDocument.Parse(jsonLine);
        var root = doc.RootElement;
        int? port = root.TryGetProperty("port", out var p) && p.ValueKind == JsonValueKind.Number ? p.GetInt32() : null;
        return new GroundTruthIncident(
            root.GetProperty("type").GetString() ?? "",
            root.GetProperty("deviceId").GetString() ?? "",
            port,
            ParseTime(root.GetProperty("start").GetString()),
            ParseTime(root.GetProperty("end").GetString()));
    }

    internal static DateTimeOffset ParseTime(string? s) =>
        DateTimeOffset.Parse(s ?? throw new FormatException("missing timestamp"), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
}

/// <summary>
/// Ordinary activity that resembles a hazard (not in ground truth): which appliance, on which device (and
/// pile port), when. Lets a test say which look-alike provoked a false alert.
/// </summary>
public sealed record LookAlike(string Appliance, string DeviceId, int? Port, DateTimeOffset Start, DateTimeOffset End);
