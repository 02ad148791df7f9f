using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using SmartPower.Contract;

namespace SmartPower.Registry;

/// <summary>
/// Reads the contract's registry JSON (<c>{"sites":[...],"devices":[...]}</c>) and checks it, failing with
/// a message that names the entry and field at fault. Threshold overrides merge defaults, then the site's
/// <c>"thresholds"</c>, then the device's.
/// </summary>
public static class RegistryLoader
{
    public static DeviceRegistry Load(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            return Load(stream);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // UnauthorizedAccessException: a directory, or no permission to read it.
            throw new RegistryException($"cannot read registry '{path}': {e.Message}", e);
        }
    }

    public static DeviceRegistry Load(Stream utf8Json)
    {
        RegistryDocument? doc;
        try
        {
            doc = JsonSerializer.Deserialize(utf8Json, RegistryJsonContext.Default.RegistryDocument);
        }
        catch (JsonException e)
        {
            // Valid JSON of the wrong shape (an array at the top, a number where an id goes) lands here too.
            throw new RegistryException($"registry is not a JSON object of the contract's shape, with sites and devices, or not JSON at all ({e.Path}): {e.Message}", e);
        }

        doc = doc ?? throw new RegistryException("registry is empty");
        if (doc.Sites is null || doc.Devices is null)
        {
            // A misspelt key ("device") loaded as an empty fleet, and every reading was then an unknown device.
            throw new RegistryException($"registry: the {(doc.Sites is null ? "sites" : "devices")} array is required");
        }

        return Build(doc);
    }

    public static DeviceRegistry Parse(string json) => Load(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(json)));

    private static DeviceRegistry Build(RegistryDocument doc)
    {
        var defaults = JsonSerializer.SerializeToNode(DetectionThresholds.Default, RegistryJsonContext.Default.DetectionThresholds)!.AsObject();
        var sites = new List<Site>();
        var siteThresholds = new Dictionary<string, (DetectionThresholds Value, JsonObject Merged)>(StringComparer.Ordinal);
        var zones = new Dictionary<string, TimeZoneInfo?>(StringComparer.Ordinal);
        for (var i = 0; i < (doc.Sites?.Count ?? 0); i++)
        {
            var where = $"sites[{i}]";
            var s = doc.Sites![i] ?? throw new RegistryException($"{where}: not a JSON object");
            Require(Ids.IsValid(s.SiteId), where, $"siteId '{s.SiteId}' does not match the id rule");
            if (s.TimeZone is not null)
            {
                Require(TimeZoneInfo.TryFindSystemTimeZoneById(s.TimeZone, out _), where, $"timeZone '{s.TimeZone}' is not a known IANA time zone");
            }

            var merged = Merge(defaults, s.Thresholds, where);
            var thresholds = ToThresholds(merged, where);
            siteThresholds[s.SiteId!] = (thresholds, merged);
            zones[s.SiteId!] = s.TimeZone is null ? null : TimeZoneInfo.FindSystemTimeZoneById(s.TimeZone);
            sites.Add(new Site(s.SiteId!, string.IsNullOrWhiteSpace(s.Name) ? s.SiteId! : s.Name, s.Address, s.FireStation, s.Lat, s.Lon, s.ManagerId, s.TimeZone) { Thresholds = thresholds });
        }

        var devices = new List<Device>(doc.Devices?.Count ?? 0);
        for (var i = 0; i < (doc.Devices?.Count ?? 0); i++)
        {
            var d = doc.Devices![i] ?? throw new RegistryException($"devices[{i}]: not a JSON object");
            var where = $"devices[{i}] ('{d.DeviceId}')";
            Require(Ids.IsValid(d.DeviceId), where, "deviceId does not match the id rule");
            Require(d.SiteId is not null && siteThresholds.ContainsKey(d.SiteId), where, $"siteId '{d.SiteId}' is not a listed site");
            Require(ContractNames.TryParseKind(d.Kind, out var kind), where, $"kind '{d.Kind}' is not meter or pile");
            Require(ContractNames.TryParseCircuit(d.Circuit ?? (kind == DeviceKind.Pile ? "pile" : null), out var circuit), where, $"circuit '{d.Circuit}' is not dwelling, common-area or pile");
            Require((kind == DeviceKind.Pile) == (circuit == Circuit.Pile), where, $"a {d.Kind} cannot be on a '{d.Circuit}' circuit");
            var interval = d.ReportIntervalS ?? Device.DefaultReportIntervalS;
            Require(interval is > 0 and <= 86_400, where, "reportIntervalS must be between 1 and 86400");
            if (kind == DeviceKind.Meter)
            {
                Require(d.RatedCurrentA is > 0 and <= 1000, where, "a meter needs ratedCurrentA between 0 and 1000");
            }
            else
            {
                Require(d.PortCount is > 0 and <= 64, where, "a pile needs portCount between 1 and 64");
                // Not above what a port's reading may report (more is refused as impossible): such a limit could never be reached.
                Require(d.PortMaxW > 0 && d.PortMaxW <= ReadingLimits.Default.MaxPortPowerW, where, FormattableString.Invariant($"a pile needs portMaxW between 0 and {ReadingLimits.Default.MaxPortPowerW:0}"));
            }

            var site = siteThresholds[d.SiteId!];
            var thresholds = d.Thresholds is null ? site.Value : ToThresholds(Merge(site.Merged, d.Thresholds, where), where);
            CheckUsable(thresholds, interval, where);
            var location = d.Location is null ? null : new Location(d.Location.Building, d.Location.Unit, d.Location.Floor, d.Location.Room);
            devices.Add(new Device(d.DeviceId!, d.SiteId!, kind, circuit, d.RatedCurrentA, d.PortCount, d.PortMaxW, interval, location) { Thresholds = thresholds, TimeZone = zones[d.SiteId!] });
        }

        return new DeviceRegistry(sites, devices);
    }

    /// <summary>The longest hold the reactive rule can decide (its ring of 1-minute values spans 80 minutes).</summary>
    private const double MaxReactiveHoldS = 3600;

    /// <summary>The longest offline limit: past it a silence is not worth an alert, and longer ones overflow event time.</summary>
    private const double MaxOfflineS = 7 * 24 * 3600;

    /// <summary>
    /// Overrides a rule cannot work with are registry errors, not rules silently off: an offline limit no longer than the
    /// report interval takes every reading for a gap and interrupts every hold (overload, leakage, temperature and port
    /// rules could never fire); a critical or warning level no accepted reading reaches (the reading parser refuses more
    /// as impossible); a clear level of 0, under which no reading goes, so an incident would never clear and a later
    /// episode would raise nothing; a reactive hold longer than the reactive rule's memory of the circuit.
    /// </summary>
    private static void CheckUsable(DetectionThresholds t, int reportIntervalS, string where)
    {
        var limits = ReadingLimits.Default;
        var offlineS = Math.Max(t.OfflineIntervals * reportIntervalS, t.OfflineMinS);
        Require(offlineS > reportIntervalS && offlineS <= MaxOfflineS, where, FormattableString.Invariant(
            $"the offline limit, max(offlineIntervals x reportIntervalS, offlineMinS) = {offlineS:0.###} s, must be longer than the report interval ({reportIntervalS} s) and at most {MaxOfflineS:0} s (7 days)"));
        Require(t.LeakageCriticalMa <= limits.MaxLeakageMa && t.LeakageWarningMa <= limits.MaxLeakageMa, where,
            FormattableString.Invariant($"leakage levels above {limits.MaxLeakageMa:0} mA are never reached: readings above it are refused as impossible"));
        Require(t.TemperatureCriticalC <= limits.MaxTempC && t.TemperatureWarningC <= limits.MaxTempC, where,
            FormattableString.Invariant($"temperature levels above {limits.MaxTempC:0} C are never reached: readings above it are refused as impossible"));
        Require(t.OverloadCriticalFactor <= limits.MaxCurrentFactor && t.OverloadWarningFactor <= limits.MaxCurrentFactor, where,
            FormattableString.Invariant($"overload factors above {limits.MaxCurrentFactor:0} x the rating are never reached: readings above it are refused as impossible"));
        Require(t.ReactiveHoldS > 0 && t.ReactiveHoldS <= MaxReactiveHoldS, where, FormattableString.Invariant(
            $"reactiveHoldS must be more than 0 and at most {MaxReactiveHoldS:0} s: the reactive hold rule keeps 80 minutes of 1-minute values, and a longer hold is never decided"));
        Require(t.NightFloorFromHour < 24 && t.NightFloorUntilHour < 24 && Detection.NightFloor.HoursIntoNight(t.NightFloorFromHour) < Detection.NightFloor.HoursIntoNight(t.NightFloorUntilHour), where, FormattableString.Invariant(
            $"nightFloorFromHour ({t.NightFloorFromHour:0.##}) must come before nightFloorUntilHour ({t.NightFloorUntilHour:0.##}) in the night from 18:00, both local hours under 24"));
        var nightH = Detection.NightFloor.HoursIntoNight(t.NightFloorUntilHour) - Detection.NightFloor.HoursIntoNight(t.NightFloorFromHour);
        Require(t.NightFloorHoldS > 0 && t.NightFloorHoldS <= nightH * 3600 && t.NightFloorMinVar > 0, where, FormattableString.Invariant(
            $"nightFloorHoldS must be more than 0 and at most the {nightH:0.##} h from nightFloorFromHour to nightFloorUntilHour, and nightFloorMinVar more than 0: else the night floor calls at once, on any drift, or never"));
        Require(t.LeakageClearMa > 0 && t.OverloadClearFactor > 0 && t.PortClearFactor > 0 && t.TemperatureClearC > limits.MinTempC, where,
            "a clear level no reading goes below (leakageClearMa, overloadClearFactor or portClearFactor of 0, temperatureClearC at the lowest reading) would never clear an incident");
    }

    private static JsonObject Merge(JsonObject baseline, JsonObject? overrides, string where)
    {
        var merged = (JsonObject)baseline.DeepClone();
        if (overrides is null)
        {
            return merged;
        }

        foreach (var (name, value) in overrides)
        {
            Require(merged.ContainsKey(name), where, $"thresholds.{name} is not a known threshold");
            Require(value is JsonValue v && v.TryGetValue<double>(out var number) && double.IsFinite(number) && number >= 0, where, $"thresholds.{name} must be a non-negative number");
            merged[name] = value!.DeepClone();
        }

        return merged;
    }

    private static DetectionThresholds ToThresholds(JsonObject merged, string where)
    {
        try
        {
            return merged.Deserialize(RegistryJsonContext.Default.DetectionThresholds)!;
        }
        catch (JsonException e)
        {
            throw new RegistryException($"{where}: thresholds: {e.Message}", e);
        }
    }

    private static void Require(bool condition, string where, string problem)
    {
        if (!condition)
        {
            throw new RegistryException($"{where}: {problem}");
        }
    }
}

internal sealed class RegistryDocument
{
    public List<SiteEntry>? Sites { get; set; }

    public List<DeviceEntry>? Devices { get; set; }
}

internal sealed class SiteEntry
{
    public string? SiteId { get; set; }

    public string? Name { get; set; }

    public string? Address { get; set; }

    public string? FireStation { get; set; }

    public double? Lat { get; set; }

    public double? Lon { get; set; }

    public string? ManagerId { get; set; }

    public string? TimeZone { get; set; }

    public JsonObject? Thresholds { get; set; }
}

internal sealed class DeviceEntry
{
    public string? DeviceId { get; set; }

    public string? SiteId { get; set; }

    public string? Kind { get; set; }

    public string? Circuit { get; set; }

    public double? RatedCurrentA { get; set; }

    public int? ReportIntervalS { get; set; }

    public int? PortCount { get; set; }

    public double? PortMaxW { get; set; }

    public LocationEntry? Location { get; set; }

    public JsonObject? Thresholds { get; set; }
}

internal sealed class LocationEntry
{
    public string? Building { get; set; }

    public string? Unit { get; set; }

    public int? Floor { get; set; }

    public string? Room { get; set; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true, NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(RegistryDocument))]
[JsonSerializable(typeof(DetectionThresholds))]
internal sealed partial class RegistryJsonContext : JsonSerializerContext;
