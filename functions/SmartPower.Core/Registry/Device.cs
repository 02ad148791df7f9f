using SmartPower.Contract;

namespace SmartPower.Registry;

/// <summary>Where a device is, as precisely as the registry knows.</summary>
public sealed record Location(string? Building, string? Unit, int? Floor, string? Room);

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

    /// <summary>Dense index within its registry, used by the engine to find the device's state without hashing twice.</summary>
    internal int Index { get; init; }

    /// <summary>The site id as UTF-8, to check a topic's site without allocating.</summary>
    internal byte[] SiteIdUtf8 { get; init; } = [];
}
