using SmartPower.Alerts;
using SmartPower.Contract;
using SmartPower.Registry;

namespace SmartPower.Detection;

/// <summary>
/// Everything the engine remembers about one device between readings. The hold watches and incidents live in a
/// <see cref="Hazards"/> object created only when something happens (a watch leaves its idle state, an incident is
/// raised), so a quiet device carries little more than its last timestamp and sequence number.
/// </summary>
internal class DeviceState(Device device)
{
    public Device Device { get; } = device;

    public bool Seen { get; set; }

    public long LastTs { get; set; }

    public long LastSeq { get; set; }

    /// <summary>
    /// When the last reading was heard, on the stream's clock: its own timestamp, or the stream's front if the reading was
    /// behind the stream's time (a device whose clock runs slow, see <see cref="StreamClock.Front"/>). Silence is measured
    /// from here, so a slow clock is not taken for silence.
    /// </summary>
    public long HeardAtMs { get; set; }

    /// <summary>Used by <see cref="StreamClock"/> to count each device once.</summary>
    public int ClockMark { get; set; }

    public bool AwaitingSilence { get; set; }

    /// <summary>While <see cref="AwaitingSilence"/>: the deadline the device is queued under (it may have been heard from since).</summary>
    public long SilenceDeadline { get; set; }

    public long OfflineAfterMs => DeviceLimits.OfflineAfterMs(Device);

    /// <summary>The device's hold watches and incidents; null while every watch is idle and no incident was ever raised.</summary>
    public Hazards? Hazards;

    public static DeviceState For(Device device) => device.Kind == DeviceKind.Meter ? new MeterState(device) : new PileState(device);
}

internal sealed class MeterState(Device device) : DeviceState(device)
{
    public readonly ChargingSignature Charging = new();

    /// <summary>The second illegal-charging rule, fed every reading beside <see cref="Charging"/>.</summary>
    public readonly ReactiveHold Reactive = new();
}

internal sealed class PileState(Device device) : DeviceState(device)
{
    public readonly HoldWatch[] PortWatches = new HoldWatch[device.PortCount!.Value];
    public readonly Incident?[] PortIncidents = new Incident?[device.PortCount!.Value];

    /// <summary>The event time each port was last listed in a reading (0: never); a pile may leave ports out.</summary>
    public readonly long[] PortHeardAt = new long[device.PortCount!.Value];
}

/// <summary>
/// A device's hold watches and incidents (a pile's ports keep theirs in <see cref="PileState"/>). The detectors work on
/// the engine's idle scratch instance for a device without one, and the device adopts it once it is no longer idle.
/// </summary>
internal sealed class Hazards
{
    /// <summary>Never changed: what a device without hazards saves.</summary>
    public static readonly Hazards None = new();

    public Incident? Offline;
    public HoldWatch LeakageWatch;
    public Incident? Leakage;
    public HoldWatch TemperatureWatch;
    public Incident? Temperature;
    public HoldWatch ArcWatch;
    public Incident? Arc;
    public HoldWatch OverloadWatch;
    public Incident? Overload;
    public Incident? IllegalCharging;

    /// <summary>Every watch as new and no incident: nothing worth keeping.</summary>
    public bool IsIdle =>
        LeakageWatch.IsIdle && TemperatureWatch.IsIdle && ArcWatch.IsIdle && OverloadWatch.IsIdle
        && Offline is null && Leakage is null && Temperature is null && Arc is null && Overload is null && IllegalCharging is null;

    public void Interrupt()
    {
        LeakageWatch.Interrupt();
        TemperatureWatch.Interrupt();
        ArcWatch.Interrupt();
        OverloadWatch.Interrupt();
    }
}
