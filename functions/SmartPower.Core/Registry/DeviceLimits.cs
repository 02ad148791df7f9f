namespace SmartPower.Registry;

/// <summary>Limits that follow from a device's registry entry and thresholds, computed in one place.</summary>
public static class DeviceLimits
{
    /// <summary>How long a device may stay silent before it is offline: max(OfflineIntervals x reportIntervalS, OfflineMinS).</summary>
    public static long OfflineAfterMs(Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        return (long)(Math.Max(device.Thresholds.OfflineIntervals * device.ReportIntervalS, device.Thresholds.OfflineMinS) * 1000);
    }
}
