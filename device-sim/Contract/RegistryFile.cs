using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace SmartPower.DeviceSim.Contract;

public enum DeviceKind
{
    Meter,
    Pile,
}

/// <summary>A site (compound) of the registry.</summary>
public sealed record Site(string SiteId, string Name, string? Address, string? FireStation, double? Lat, double? Lon, string? ManagerId, string? TimeZone);

/// <summary>Where a device hangs; each part optional.</summary>
public sealed record DeviceLocation(string? Building, string? Unit, int? Floor, string? Room);

/// <summary>
/// A device of the registry. <see cref="Circuit"/> is <c>dwelling</c>, <c>common-area</c> or <c>pile</c>;
/// <see cref="RatedCurrentA"/> is a meter's breaker rating, <see cref="PortCount"/> and <see cref="PortMaxW"/> a pile's.
/// </summary>
public sealed record DeviceSpec(string DeviceId, string SiteId, DeviceKind Kind, string Circuit, double RatedCurrentA,
    int ReportIntervalS, int PortCount, double PortMaxW, DeviceLocation Location)
{
    public bool IsDwelling => Circuit == "dwelling";
}

/// <summary>A registry file is not in the contract's format; the message names the entry and field at fault.</summary>
public sealed class RegistryFormatException(string message) : Exception(message);

/// <summary>The contract's device registry file: <c>{"sites":[...],"devices":[...]}</c>. Reads and writes it.</summary>
public sealed partial record RegistryFile(IReadOnlyList<Site> Sites, IReadOnlyList<DeviceSpec> Devices)
{
    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\z")] // \z: $ also matches before a final newline
    private static partial Regex IdPattern();

    /// <summary>Reads and checks a registry file; a format error names the file as well as the entry and field.</summary>
    public static RegistryFile Load(string path)
    {
        var json = File.ReadAllText(path);
        try
        {
            return Parse(json);
        }
        catch (RegistryFormatException e)
        {
            throw new RegistryFormatException($"{path}: {e.Message}");
        }
    }

    /// <summary>Parses and checks a registry; unknown fields are ignored, as the contract says.</summary>
    public static RegistryFile Parse(string json)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new RegistryFormatException($"not JSON: {e.Message}");
        }

        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new RegistryFormatException("the registry must be a JSON object with \"sites\" and \"devices\"");
            }

            var sites = Array(root, "sites", "").Select((s, i) => ParseSite(s, $"sites[{i}]")).ToList();
            var siteIds = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (s, i) in sites.Select((s, i) => (s, i)))
            {
                if (!siteIds.Add(s.SiteId))
                {
                    throw new RegistryFormatException($"sites[{i}].siteId: \"{s.SiteId}\" appears twice");
                }
            }

            var devices = Array(root, "devices", "").Select((d, i) => ParseDevice(d, $"devices[{i}]", siteIds)).ToList();
            var deviceIds = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (d, i) in devices.Select((d, i) => (d, i)))
            {
                if (!deviceIds.Add(d.DeviceId))
                {
                    throw new RegistryFormatException($"devices[{i}].deviceId: \"{d.DeviceId}\" appears twice");
                }
            }

            return new RegistryFile(sites, devices);
        }
    }

    /// <summary>The registry as indented JSON ('\n' line ends), as the generator writes it.</summary>
    public string ToJson()
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true, NewLine = "\n" }))
        {
            w.WriteStartObject();
            w.WriteStartArray("sites");
            foreach (var s in Sites)
            {
                WriteSite(w, s);
            }

            w.WriteEndArray();
            w.WriteStartArray("devices");
            foreach (var d in Devices)
            {
                WriteDevice(w, d);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(ms.ToArray());
    }

    private static void WriteSite(Utf8JsonWriter w, Site s)
    {
        w.WriteStartObject();
        w.WriteString("siteId", s.SiteId);
        w.WriteString("name", s.Name);
        WriteOptional(w, "address", s.Address);
        WriteOptional(w, "fireStation", s.FireStation);
        WriteOptional(w, "lat", s.Lat);
        WriteOptional(w, "lon", s.Lon);
        WriteOptional(w, "managerId", s.ManagerId);
        WriteOptional(w, "timeZone", s.TimeZone);
        w.WriteEndObject();
    }

    private static void WriteDevice(Utf8JsonWriter w, DeviceSpec d)
    {
        w.WriteStartObject();
        w.WriteString("deviceId", d.DeviceId);
        w.WriteString("siteId", d.SiteId);
        w.WriteString("kind", d.Kind == DeviceKind.Pile ? "pile" : "meter");
        w.WriteString("circuit", d.Circuit);
        if (d.Kind == DeviceKind.Pile)
        {
            w.WriteNumber("portCount", d.PortCount);
            w.WriteNumber("portMaxW", d.PortMaxW);
        }
        else
        {
            w.WriteNumber("ratedCurrentA", d.RatedCurrentA);
        }

        w.WriteNumber("reportIntervalS", d.ReportIntervalS);
        w.WriteStartObject("location");
        WriteOptional(w, "building", d.Location.Building);
        WriteOptional(w, "unit", d.Location.Unit);
        WriteOptional(w, "floor", d.Location.Floor);
        WriteOptional(w, "room", d.Location.Room);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteOptional(Utf8JsonWriter w, string name, string? value)
    {
        if (value is not null)
        {
            w.WriteString(name, value);
        }
    }

    private static void WriteOptional(Utf8JsonWriter w, string name, double? value)
    {
        if (value is { } v)
        {
            w.WriteNumber(name, v);
        }
    }

    private static Site ParseSite(JsonElement e, string at)
    {
        Object(e, at);
        var id = Id(e, "siteId", at);
        var tz = OptionalString(e, "timeZone", at);
        if (tz is not null && !TimeZoneInfo.TryFindSystemTimeZoneById(tz, out _))
        {
            throw new RegistryFormatException($"{at}.timeZone: \"{tz}\" is not a known IANA time zone");
        }

        return new Site(id, OptionalString(e, "name", at) ?? id, OptionalString(e, "address", at), OptionalString(e, "fireStation", at),
            OptionalNumber(e, "lat", at), OptionalNumber(e, "lon", at), OptionalString(e, "managerId", at), tz);
    }

    private static DeviceSpec ParseDevice(JsonElement e, string at, HashSet<string> siteIds)
    {
        Object(e, at);
        var id = Id(e, "deviceId", at);
        var site = Id(e, "siteId", at);
        if (!siteIds.Contains(site))
        {
            throw new RegistryFormatException($"{at}.siteId: \"{site}\" is not one of the registry's sites");
        }

        var kind = RequiredString(e, "kind", at) switch
        {
            "meter" => DeviceKind.Meter,
            "pile" => DeviceKind.Pile,
            var k => throw new RegistryFormatException($"{at}.kind: \"{k}\" is neither \"meter\" nor \"pile\""),
        };
        var circuit = OptionalString(e, "circuit", at) ?? (kind == DeviceKind.Pile ? "pile" : throw new RegistryFormatException($"{at}.circuit: missing"));
        if (kind == DeviceKind.Meter ? circuit is not ("dwelling" or "common-area") : circuit != "pile")
        {
            throw new RegistryFormatException($"{at}.circuit: \"{circuit}\" does not fit a {(kind == DeviceKind.Pile ? "pile (\"pile\")" : "meter (\"dwelling\" or \"common-area\")")}");
        }

        var interval = OptionalInteger(e, "reportIntervalS", at) ?? 10;
        if (interval is < 1 or > 86_400)
        {
            throw new RegistryFormatException($"{at}.reportIntervalS: {interval.ToString(CultureInfo.InvariantCulture)} is not in 1-86400 seconds");
        }

        var rated = kind == DeviceKind.Meter ? RequiredPositive(e, "ratedCurrentA", at, 1000) : 0;
        var ports = kind == DeviceKind.Pile ? OptionalInteger(e, "portCount", at) ?? throw new RegistryFormatException($"{at}.portCount: missing") : 0;
        if (kind == DeviceKind.Pile && ports is < 1 or > 64)
        {
            throw new RegistryFormatException($"{at}.portCount: {ports.ToString(CultureInfo.InvariantCulture)} is outside 1-64");
        }

        var portMax = kind == DeviceKind.Pile ? RequiredPositive(e, "portMaxW", at, 5000) : 0;
        var location = new DeviceLocation(null, null, null, null);
        if (e.TryGetProperty("location", out var loc) && loc.ValueKind == JsonValueKind.Object)
        {
            location = new DeviceLocation(OptionalString(loc, "building", at + ".location"), OptionalString(loc, "unit", at + ".location"),
                OptionalInteger(loc, "floor", at + ".location"), OptionalString(loc, "room", at + ".location"));
        }

        return new DeviceSpec(id, site, kind, circuit, rated, interval, ports, portMax, location);
    }

    private static IEnumerable<JsonElement> Array(JsonElement e, string name, string at)
    {
        if (!e.TryGetProperty(name, out var a) || a.ValueKind != JsonValueKind.Array)
        {
            throw new RegistryFormatException($"{at}{name}: missing, or not an array");
        }

        return a.EnumerateArray().ToList();
    }

    private static void Object(JsonElement e, string at)
    {
        if (e.ValueKind != JsonValueKind.Object)
        {
            throw new RegistryFormatException($"{at}: not a JSON object");
        }
    }

    private static string Id(JsonElement e, string name, string at)
    {
        var id = RequiredString(e, name, at);
        return IdPattern().IsMatch(id) ? id : throw new RegistryFormatException($"{at}.{name}: \"{id}\" does not match ^[A-Za-z0-9][A-Za-z0-9_.-]{{0,63}}$");
    }

    private static string RequiredString(JsonElement e, string name, string at) =>
        OptionalString(e, name, at) ?? throw new RegistryFormatException($"{at}.{name}: missing");

    private static string? OptionalString(JsonElement e, string name, string at) =>
        !e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString()
        : throw new RegistryFormatException($"{at}.{name}: not a string");

    private static double? OptionalNumber(JsonElement e, string name, string at) =>
        !e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.Number ? v.GetDouble()
        : throw new RegistryFormatException($"{at}.{name}: not a number");

    /// <summary>A whole number written as one (<c>4</c>, not <c>4.0</c>), as the pipeline's loader reads counts, intervals and floors.</summary>
    private static int? OptionalInteger(JsonElement e, string name, string at) =>
        !e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) ? n
        : throw new RegistryFormatException($"{at}.{name}: not a whole number ({v.GetRawText()})");

    private static double RequiredPositive(JsonElement e, string name, string at, double max)
    {
        var v = OptionalNumber(e, name, at) ?? throw new RegistryFormatException($"{at}.{name}: missing");
        return v > 0 && v <= max ? v : throw new RegistryFormatException($"{at}.{name}: {v.ToString(CultureInfo.InvariantCulture)} is outside (0, {max.ToString(CultureInfo.InvariantCulture)}]");
    }
}
