using SmartPower.Alerts;
using SmartPower.Contract;
using SmartPower.Registry;

namespace SmartPower.Detection;

/// <summary>
/// Everything the engine remembers about one device between readings. Incidents are created only when
/// something happens, so a quiet device carries little more than its last timestamp and hold watches.
/// </summary>
internal class DeviceState(Device device)
{
    public Device Device { get; } = device;

    public bool Seen { get; set; }

    public long LastTs { get; set; }

    public long LastSeq { get; set; }

    /// <summary>
    /// When the last reading was heard, on the stream's clock: its own timestamp, or the stream's time if that was later
    /// (a device whose clock runs slow). Silence is measured from here, so a slow clock is not taken for silence.
    /// </summary>
    public long HeardAtMs { get; set; }

    /// <summary>Used by <see cref="StreamClock"/> to count each device once.</summary>
    public int ClockMark { get; set; }

    public bool AwaitingSilence { get; set; }

    /// <summary>While <see cref="AwaitingSilence"/>: the deadline the device is queued under (it may have been heard from since).</summary>
    public long SilenceDeadline { get; set; }

    public long OfflineAfterMs { get; } = (long)(Math.Max(
        device.Thresholds.OfflineIntervals * device.ReportIntervalS,
        device.Thresholds.OfflineMinS) * 1000);

    public Incident? Offline;
    public HoldWatch LeakageWatch;
    public Incident? Leakage;
    public HoldWatch TemperatureWatch;
    public Incident? Temperature;
    public HoldWatch ArcWatch;
    public Incident? Arc;

    public static DeviceState For(Device device) => device.Kind == DeviceKind.Meter ? new MeterState(device) : new PileState(device);
}

internal sealed class MeterState(Device device) : DeviceState(device)
{
    public HoldWatch OverloadWatch;
    public Incident? Overload;
    public readonly ChargingSignature Charging = new();
    public Incident? IllegalCharging;
}

internal sealed class PileState(Device device) : DeviceState(device)
{
    public readonly HoldWatch[] PortWatches = new HoldWatch[device.PortCount!.Value];
    public readonly Incident?[] PortIncidents = new Incident?[device.PortCount!.Value];
}
