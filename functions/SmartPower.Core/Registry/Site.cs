namespace SmartPower.Registry;

/// <summary>A residential compound, as the registry describes it.</summary>
public sealed record Site(
    string SiteId,
    string Name,
    string? Address,
    string? FireStation,
    double? Lat,
    double? Lon,
    string? ManagerId,
    string? TimeZone)
{
    /// <summary>The detection thresholds in force on this site (defaults, then the site's overrides).</summary>
    public DetectionThresholds Thresholds { get; init; } = DetectionThresholds.Default;
}
