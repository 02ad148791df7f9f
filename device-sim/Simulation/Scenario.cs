using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace SmartPower.DeviceSim.Simulation;

/// <summary>
/// What to simulate: when, for how long, which fleet (when no registry is given), whether to inject hazards and
/// look-alikes, and which data faults to add. Everything is deterministic from <see cref="Seed"/>.
/// Shipped scenarios are JSON files in <c>device-sim/scenarios/</c>; <see cref="ScenarioFile"/> reads them.
/// </summary>
public sealed record Scenario
{
    public string Name { get; init; } = "custom";

    public int Seed { get; init; } = 1;

    /// <summary>Default 2026-11-26T10:00:00Z, which is 18:00 in Asia/Shanghai.</summary>
    public DateTimeOffset Start { get; init; } = new(2026, 11, 26, 10, 0, 0, TimeSpan.Zero);

    public TimeSpan Duration { get; init; } = TimeSpan.FromHours(12);

    /// <summary>Sites (compounds) of a generated fleet; the counts below are per site.</summary>
    public int Sites { get; init; } = 1;

    public int Dwellings { get; init; } = 60;

    public int CommonAreas { get; init; } = 6;

    public int Piles { get; init; } = 3;

    public int ReportIntervalS { get; init; } = 10;

    public bool InjectIncidents { get; init; } = true;

    public bool IncludeLookAlikes { get; init; } = true;

    /// <summary>How many incidents of each kind a site gets; unset ones follow the site's size.</summary>
    public IncidentCounts IncidentCounts { get; init; } = new();

    public DataFaults Faults { get; init; } = DataFaults.None;

    /// <summary>Throws <see cref="ScenarioException"/> naming the first setting out of range.</summary>
    public Scenario Validated()
    {
        Check(Sites is >= 1 and <= 1000, "sites", "1-1000");
        Check(Dwellings is >= 0 and <= 100_000, "dwellings", "0-100000");
        Check(CommonAreas is >= 0 and <= 10_000, "commonAreas", "0-10000");
        Check(Piles is >= 0 and <= 10_000, "piles", "0-10000");
        Check(Dwellings + CommonAreas + Piles > 0, "fleet", "at least one device");
        Check(ReportIntervalS is >= 1 and <= 3600, "reportIntervalS", "1-3600");
        Check(Duration > TimeSpan.Zero && Duration <= TimeSpan.FromHours(24), "durationH", "(0, 24]");
        Check(Start.Year is >= 2020 and < 2100, "start", "2020-2099");
        Faults.Validate();
        IncidentCounts.Validate();
        return this;
    }

    /// <summary>The file's <c>durationH</c> as a duration; beyond what a TimeSpan holds it is out of range, not an overflow.</summary>
    internal static TimeSpan Hours(double h)
    {
        Check(double.IsFinite(h) && Math.Abs(h) <= 1e6, "durationH", "(0, 24]");
        return TimeSpan.FromHours(h);
    }

    internal static void Check(bool ok, string name, string range)
    {
        if (!ok)
        {
            throw new ScenarioException($"{name}: must be {range}");
        }
    }
}

/// <summary>
/// Incidents per site and kind (0 turns a kind off; null leaves it to the site's size: a dwelling in six charging
/// indoors, most common-area circuits with a flying lead, an overload per 15 dwellings, a modified pack per pile,
/// three each of the rest). Leakage cycles through a critical one in a dwelling, a warning one on a common-area
/// circuit and one on a pile; overtemperature and arc faults make every third one the critical kind.
/// </summary>
public sealed record IncidentCounts
{
    public int? IllegalChargingDwellings { get; init; }

    public int? IllegalChargingCommonAreas { get; init; }

    public int? Overloads { get; init; }

    public int? PortOverpower { get; init; }

    public int? Leakage { get; init; }

    public int? Overtemperature { get; init; }

    public int? ArcFaults { get; init; }

    public int? Offline { get; init; }

    internal void Validate()
    {
        int?[] all = [IllegalChargingDwellings, IllegalChargingCommonAreas, Overloads, PortOverpower, Leakage, Overtemperature, ArcFaults, Offline];
        Scenario.Check(all.All(c => c is null or (>= 0 and <= 10_000)), "incidentCounts", "0-10000 each");
    }
}

/// <summary>
/// Faults of delivery rather than of the wiring, added to the message stream (none by default):
/// <see cref="DuplicateRate"/> of readings delivered twice (QoS 1 redelivery), <see cref="Malformed"/> broken
/// payloads, <see cref="ClockSkewDevices"/> devices whose clock runs up to <see cref="ClockSkewMaxS"/> fast or slow,
/// <see cref="Bursts"/> devices holding 30-50 s of readings and sending them at once, and
/// <see cref="ReconnectStorms"/> moments when <see cref="StormShare"/> of the fleet drops its connection at once and
/// comes back within seconds. None of them is a hazard, so none of them is ground truth.
/// </summary>
public sealed record DataFaults
{
    public static readonly DataFaults None = new();

    public double DuplicateRate { get; init; }

    public int Malformed { get; init; }

    public int ClockSkewDevices { get; init; }

    /// <summary>The largest clock error of a skewed device, in seconds (each draws 25-100% of it, ahead or behind).</summary>
    public double ClockSkewMaxS { get; init; } = 240;

    public int Bursts { get; init; }

    public int ReconnectStorms { get; init; }

    public double StormShare { get; init; } = 0.5;

    public bool Any => DuplicateRate > 0 || Malformed > 0 || ClockSkewDevices > 0 || Bursts > 0 || ReconnectStorms > 0;

    internal void Validate()
    {
        Scenario.Check(DuplicateRate is >= 0 and <= 0.5, "dataFaults.duplicateRate", "0-0.5");
        Scenario.Check(Malformed is >= 0 and <= 100_000, "dataFaults.malformed", "0-100000");
        Scenario.Check(ClockSkewDevices >= 0, "dataFaults.clockSkewDevices", "0 or more");
        Scenario.Check(ClockSkewMaxS is >= 0 and <= 3600, "dataFaults.clockSkewMaxS", "0-3600");
        Scenario.Check(Bursts is >= 0 and <= 100_000, "dataFaults.bursts", "0-100000");
        Scenario.Check(ReconnectStorms is >= 0 and <= 100, "dataFaults.reconnectStorms", "0-100");
        Scenario.Check(StormShare is > 0 and <= 1, "dataFaults.stormShare", "(0, 1]");
    }
}

/// <summary>A scenario file that cannot be used; the message says which file and setting.</summary>
public sealed class ScenarioException(string message) : Exception(message);

/// <summary>
/// Reads scenario JSON files: by path, or by the name of a shipped one (<c>compound-night</c> is
/// <c>scenarios/compound-night.json</c> beside the program). Unknown settings are refused, so a typo cannot
/// pass silently.
/// </summary>
public static class ScenarioFile
{
    /// <summary>The folder of the shipped scenarios (copied beside the program when it is built).</summary>
    public static string ShippedFolder => Path.Combine(AppContext.BaseDirectory, "scenarios");

    public static IReadOnlyList<string> ShippedNames() =>
        Directory.Exists(ShippedFolder)
            ? Directory.GetFiles(ShippedFolder, "*.json").Select(Path.GetFileNameWithoutExtension).OfType<string>().Order(StringComparer.Ordinal).ToList()
            : [];

    /// <summary>Loads <paramref name="nameOrPath"/>: an existing file, or the name of a shipped scenario.</summary>
    public static Scenario Load(string nameOrPath)
    {
        var path = File.Exists(nameOrPath) ? nameOrPath : Path.Combine(ShippedFolder, nameOrPath + ".json");
        if (!File.Exists(path))
        {
            throw new ScenarioException($"no scenario file or shipped scenario named \"{nameOrPath}\" (shipped: {string.Join(", ", ShippedNames())})");
        }

        try
        {
            return Parse(File.ReadAllText(path), Path.GetFileNameWithoutExtension(path));
        }
        catch (ScenarioException e)
        {
            throw new ScenarioException($"{path}: {e.Message}");
        }
    }

    public static Scenario Parse(string json, string defaultName)
    {
        ScenarioJson? file;
        try
        {
            file = JsonSerializer.Deserialize(json, ScenarioJsonContext.Default.ScenarioJson);
        }
        catch (JsonException e)
        {
            throw new ScenarioException(e.Message);
        }

        if (file is null)
        {
            throw new ScenarioException("the scenario must be a JSON object");
        }

        var d = new Scenario();
        DateTimeOffset start = d.Start;
        if (file.Start is { } s && !DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out start))
        {
            throw new ScenarioException($"start: \"{s}\" is not an RFC 3339 time");
        }

        var faults = file.DataFaults;
        return new Scenario
        {
            Name = file.Name ?? defaultName,
            Seed = file.Seed ?? d.Seed,
            Start = start,
            Duration = file.DurationH is { } h ? Scenario.Hours(h) : d.Duration,
            Sites = file.Fleet?.Sites ?? d.Sites,
            Dwellings = file.Fleet?.Dwellings ?? d.Dwellings,
            CommonAreas = file.Fleet?.CommonAreas ?? d.CommonAreas,
            Piles = file.Fleet?.Piles ?? d.Piles,
            ReportIntervalS = file.ReportIntervalS ?? d.ReportIntervalS,
            InjectIncidents = file.Incidents ?? d.InjectIncidents,
            IncludeLookAlikes = file.LookAlikes ?? d.IncludeLookAlikes,
            IncidentCounts = file.IncidentCounts ?? d.IncidentCounts,
            Faults = faults is null ? DataFaults.None : new DataFaults
            {
                DuplicateRate = faults.DuplicateRate ?? 0,
                Malformed = faults.Malformed ?? 0,
                ClockSkewDevices = faults.ClockSkewDevices ?? 0,
                ClockSkewMaxS = faults.ClockSkewMaxS ?? DataFaults.None.ClockSkewMaxS,
                Bursts = faults.Bursts ?? 0,
                ReconnectStorms = faults.ReconnectStorms ?? 0,
                StormShare = faults.StormShare ?? DataFaults.None.StormShare,
            },
        }.Validated();
    }
}

/// <summary>The scenario file's shape (every setting optional; defaults are <see cref="Scenario"/>'s).</summary>
internal sealed record ScenarioJson(string? Name, string? Description, int? Seed, string? Start, double? DurationH, int? ReportIntervalS,
    FleetJson? Fleet, bool? Incidents, bool? LookAlikes, IncidentCounts? IncidentCounts, DataFaultsJson? DataFaults);

internal sealed record FleetJson(int? Sites, int? Dwellings, int? CommonAreas, int? Piles);

internal sealed record DataFaultsJson(double? DuplicateRate, int? Malformed, int? ClockSkewDevices, double? ClockSkewMaxS, int? Bursts, int? ReconnectStorms, double? StormShare);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true)]
[JsonSerializable(typeof(ScenarioJson))]
[JsonSerializable(typeof(IncidentCounts))]
internal sealed partial class ScenarioJsonContext : JsonSerializerContext;
