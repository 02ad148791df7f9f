using SmartPower.Contract;
using SmartPower.Detection;
using SmartPower.Registry;

namespace SmartPower.Alerts;

/// <summary>
/// The alert lifecycle for one condition on one device (and port): at most one incident open at a time,
/// updated while it lasts (severity only rises; a materially higher peak is reported), cleared once.
/// Detectors decide when a condition holds or has cleared; this decides what to tell the world.
/// </summary>
internal sealed class Incident
{
    /// <summary>A peak must grow by this fraction before an update is reported, so sustained conditions do not flood.</summary>
    private const double ReportablePeakGrowth = 0.10;

    private readonly Device _device;
    private readonly AlertType _type;
    private readonly int? _port;
    private string? _alertId;
    private long _openedAtMs;
    private Severity _severity;
    private double _reportedPeak;

    public Incident(Device device, AlertType type, int? port = null)
    {
        _device = device;
        _type = type;
        _port = port;
    }

    public bool IsOpen => _alertId is not null;

    public long OpenedAtMs => _openedAtMs;

    public Severity Severity => _severity;

    /// <summary>Opens the incident, or updates it if open. <paramref name="peak"/> is the figure whose growth is worth reporting.</summary>
    public void Raise(long atMs, Severity severity, double peak, Evidence evidence, IDetectionSink sink)
    {
        if (_alertId is null)
        {
            _alertId = Alert.IdFor(_device.SiteId, _device.DeviceId, _type, _port, atMs);
            _openedAtMs = atMs;
            _severity = severity;
            _reportedPeak = peak;
            sink.OnTransition(new AlertTransition(TransitionKind.Opened, Snapshot(evidence, null), atMs));
            return;
        }

        var raised = severity > _severity;
        var grown = peak > _reportedPeak * (1 + ReportablePeakGrowth);
        if (raised || grown)
        {
            _severity = raised ? severity : _severity;
            _reportedPeak = Math.Max(peak, _reportedPeak);
            sink.OnTransition(new AlertTransition(TransitionKind.Updated, Snapshot(evidence, null), atMs));
        }
    }

    public void Clear(long atMs, Evidence evidence, IDetectionSink sink)
    {
        if (_alertId is null)
        {
            return;
        }

        // Never before it opened: a device whose clock jumped ahead (the incident opened then) and back clears it on
        // readings stamped earlier (found in review).
        atMs = Math.Max(atMs, _openedAtMs);
        sink.OnTransition(new AlertTransition(TransitionKind.Cleared, Snapshot(evidence, atMs), atMs));
        _alertId = null;
    }

    /// <summary>The alert as it stands, for commands that cite it.</summary>
    public string AlertId => _alertId ?? throw new InvalidOperationException("no incident is open");

    /// <summary>
    /// Writes an incident (layout in <see cref="StateFormat"/>). A closed incident is written as none: nothing of it is
    /// read again, since the next <see cref="Raise"/> sets every field afresh.
    /// </summary>
    public static void Save(ref StateWriter w, Incident? incident)
    {
        if (incident?._alertId is not { } alertId)
        {
            w.Byte(0);
            return;
        }

        w.Byte((byte)(1 + (int)incident._severity));
        w.Ascii(alertId);
        w.Time(incident._openedAtMs);
        w.Double(incident._reportedPeak);
    }

    /// <summary>Reads what <see cref="Save"/> wrote, for <paramref name="device"/>'s incident of <paramref name="type"/> (and port).</summary>
    public static Incident? Read(ref StateReader r, Device device, AlertType type, int? port = null)
    {
        var open = r.Byte();
        if (open == 0)
        {
            return null;
        }

        if (open > 1 + (int)Severity.Critical)
        {
            throw new StateFormatException($"an incident's state is {open}");
        }

        return new Incident(device, type, port)
        {
            _severity = (Severity)(open - 1),
            _alertId = r.Ascii(Ids.MaxLength, "an alert id"),
            _openedAtMs = r.Time(),
            _reportedPeak = r.Double(),
        };
    }

    private Alert Snapshot(Evidence evidence, long? clearedAtMs) => new(
        _alertId!,
        _type,
        _severity,
        _device.DeviceId,
        _device.SiteId,
        _port,
        EventTime.ToDateTimeOffset(_openedAtMs),
        clearedAtMs is null ? null : EventTime.ToDateTimeOffset(clearedAtMs.Value),
        clearedAtMs is null ? AlertState.Open : AlertState.Cleared,
        evidence);
}
