using SmartPower.Contract;

namespace SmartPower.Registry;

/// <summary>Where a device is, as precisely as the registry knows.</summary>
public sealed record Location(string? Building, string? Unit, int? Floor, string? Room)
{
    /// <summary>For people: <c>building 3, unit 2, floor 5, room 502</c> (parts not known are left out).</summary>
    public string Describe() => string.Join(", ", new[]
    {
        Building is null ? null : $"building {Building}",
        Unit is null ? null : $"unit {Unit}",
        Floor is null ? null : $"floor {Floor}",
        Room is null ? null : $"room {Room}",
    }.Where(x => x is not null));
}

/// <summary>A meter or pile, as the registry describes it.</summary>
public sealed record Device(
    string DeviceId,
    string SiteId,
    DeviceKind Kind,
    Circuit Circuit,
    double? RatedCurrentA,
    int? PortCount,
    double? PortMaxW,
    int ReportIntervalS,
    Location? Location)
{
    public const int DefaultReportIntervalS = 10;

    /// <summary>The thresholds in force for this device: defaults, then its site's, then its own overrides.</summary>
    public DetectionThresholds Thresholds { get; init; } = DetectionThresholds.Default;

    /// <summary>Its site's time zone (<c>timeZone</c> in the registry), for rules that depend on local time; null: none given.</summary>
    public TimeZoneInfo? TimeZone { get; init; }

    /// <summary>Dense index within its registry, used by the engine to find the device's state without hashing twice.</summary>
    internal int Index { get; init; }

    /// <summary>The site id as UTF-8, to check a topic's site without allocating.</summary>
    internal byte[] SiteIdUtf8 { get; init; } = [];

    /// <summary>Whether <paramref name="siteIdUtf8"/> (a topic's site segment) is this device's site.</summary>
    public bool IsOnSite(ReadOnlySpan<byte> siteIdUtf8) => siteIdUtf8.SequenceEqual(SiteIdUtf8);
}
