using System.Text;
using SmartPower.DeviceSim.Truth;

namespace SmartPower.DeviceSim.Simulation;

/// <summary>A generated night: registry, replay lines in arrival order, ground truth and look-alikes.</summary>
public sealed record LabelledNight(string RegistryJson, IReadOnlyList<string> Lines, IReadOnlyList<GroundTruthIncident> Incidents)
{
    public IReadOnlyList<LookAlike> LookAlikes { get; init; } = [];

    /// <summary>Generator remarks, e.g. an injected hazard that never reached its threshold (empty when all went to plan).</summary>
    public IReadOnlyList<string> Diagnostics { get; init; } = [];

    /// <summary>Writes the replay input: one MQTT message a line, '\n' after each, UTF-8 without BOM.</summary>
    public void WriteReplay(Stream stream) => WriteLines(stream, Lines);

    /// <summary>Writes the ground truth as contract JSON Lines.</summary>
    public void WriteGroundTruth(Stream stream) => WriteLines(stream, Incidents.Select(i => i.ToJsonLine()));

    /// <summary>Look-alikes on <paramref name="deviceId"/> (and port, if given) active within <paramref name="margin"/> (default 10 min) of <paramref name="at"/>.</summary>
    public IEnumerable<LookAlike> LookAlikesNear(string deviceId, DateTimeOffset at, int? port = null, TimeSpan? margin = null)
    {
        var m = margin ?? TimeSpan.FromMinutes(10);
        return LookAlikes.Where(l => l.DeviceId == deviceId && (port is null || l.Port is null || l.Port == port) &&
            l.Start - m <= at && at <= l.End + m);
    }

    private static void WriteLines(Stream stream, IEnumerable<string> lines)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var writer = new StreamWriter(stream, new UTF8Encoding(false), 1 << 16, leaveOpen: true);
        foreach (var line in lines)
        {
            writer.Write(line);
            writer.Write('\n');
        }
    }
}
