using SmartPower.Alerts;
using SmartPower.Contract;
using SmartPower.Registry;

namespace SmartPower.Detection;

/// <summary>
/// The hazard rules, applied to one accepted reading. Each threshold comes from the device's
/// <see cref="DetectionThresholds"/> (documented defaults, overridable per site and device).
/// </summary>
internal static class Detectors
{
    /// <summary>
    /// While a port stays over its limit after its stop-port, the stop is sent again this often (event time, counted from
    /// the episode's start): a pile that was away, or lost or ignored the command, is told again.
    /// </summary>
    public const long StopRepeatMs = 5 * 60_000;

    /// <summary>
    /// Runs the rules; a device without <see cref="Hazards"/> works on <paramref name="scratch"/> (idle) and adopts it if
    /// it is idle no more, in which case this returns true and the caller needs a new scratch.
    /// </summary>
    public static bool Run(DeviceState state, in Reading reading, IDetectionSink sink, Hazards scratch)
    {
        var h = state.Hazards ?? scratch;
        var device = state.Device;
        var t = device.Thresholds;
        var ts = reading.TimestampMs;

        // Both are optional: a reading without one is a reading whose value is unknown, so no hold spans it (two 350 mA
        // samples an hour apart, with the value left out between, are not two consecutive readings).
        if (reading.LeakageMa is { } leakage)
        {
            Threshold(ref h.LeakageWatch, ref h.Leakage, device, AlertType.Leakage, null, leakage, ts, LeakageRule(t), "leakageMa", t.LeakageCriticalMa, sink);
        }
        else
        {
            h.LeakageWatch.Interrupt();
        }

        if (reading.TempC is { } temp)
        {
            Threshold(ref h.TemperatureWatch, ref h.Temperature, device, AlertType.Overtemperature, null, temp, ts, TemperatureRule(t), "tempC", t.TemperatureWarningC, sink);
        }
        else
        {
            h.TemperatureWatch.Interrupt();
        }

        Threshold(ref h.ArcWatch, ref h.Arc, device, AlertType.ArcFault, null, reading.ArcFault ? 1 : 0, ts, ArcRule(t), "arcFault", 1, sink);

        switch (state)
        {
            case MeterState meter:
                var rated = device.RatedCurrentA!.Value;
                Threshold(ref h.OverloadWatch, ref h.Overload, device, AlertType.Overload, null, reading.CurrentA, ts, OverloadRule(t, rated), "currentA", rated, sink);
                if (device.Circuit is Circuit.Dwelling or Circuit.CommonArea)
                {
                    // One illegal-charging incident per meter, two rules: either opens it (if it is not open already), and
                    // it clears only when neither holds a charger, so each is told whether the other still holds one. A
                    // charge the reactive rule lets go of while the signature watches a candidate that switched on since
                    // that charge did and around its end (it may be the same charger, found again as what stayed of a pair;
                    // ReactiveHold.SameChargeFromTs) is held on until the signature confirms that candidate (one charge,
                    // one alert) or drops it; likewise the reactive rule opens no alert for a step at the switch-on of a
                    // charger the signature confirmed and let go of, and the signature none for a candidate that switched on
                    // while the incident was open (the same episode, let go of since).
                    var (signature, reactive) = (meter.Charging, meter.Reactive);
                    signature.Observe(ts, reading.PowerW, reading.VoltageV, reading.CurrentA, device, state.OfflineAfterMs, reactive.HoldsCharge, ref h.IllegalCharging, sink);
                    var watches = reactive.HoldsCharge && signature.WatchesSince(reactive.SameChargeFromTs);
                    reactive.Observe(ts, reading.PowerW, reading.VoltageV, reading.CurrentA, device, state.OfflineAfterMs, signature.HoldsCharger, watches, signature.ConfirmedStartTs, ref h.IllegalCharging, sink);
                }

                break;
            case PileState pile:
                var rule = PortRule(t, device.PortMaxW!.Value);
                foreach (var port in reading.Ports!)
                {
                    var i = port.Port - 1;
                    var heardBefore = pile.PortHeardAt[i];
                    pile.PortHeardAt[i] = ts;
                    if (heardBefore != 0 && ts - heardBefore > state.OfflineAfterMs)
                    {
                        pile.PortWatches[i].Interrupt(); // left out of the readings for longer than a silence: a hold does not span it
                    }

                    var opened = pile.PortIncidents[i]?.IsOpen == true;
                    Threshold(ref pile.PortWatches[i], ref pile.PortIncidents[i], device, AlertType.PortOverpower, port.Port, port.PowerW, ts, rule, "powerW", device.PortMaxW!.Value, sink);
                    var start = pile.PortWatches[i].EpisodeStartMs;
                    var stopAgain = opened && heardBefore != 0 && rule.Reaches(port.PowerW, rule.CriticalAt)
                        && (heardBefore - start) / StopRepeatMs < (ts - start) / StopRepeatMs;
                    if (pile.PortIncidents[i]?.IsOpen == true && (!opened || stopAgain))
                    {
                        sink.OnCommand(new DeviceCommand(device.SiteId, DeviceKind.Pile, device.DeviceId, DeviceCommand.StopPort, port.Port, pile.PortIncidents[i]!.AlertId, AlertNames.Of(AlertType.PortOverpower)));
                    }
                }

                break;
        }

        if (ReferenceEquals(h, scratch) && !scratch.IsIdle)
        {
            state.Hazards = scratch;
            return true;
        }

        return false;
    }

    internal static HoldRule OverloadRule(DetectionThresholds t, double rated) => new(
        t.OverloadWarningFactor * rated, t.OverloadWarningHoldS * 1000,
        t.OverloadCriticalFactor * rated, t.OverloadCriticalHoldS * 1000, HoldRule.MinReadings,
        t.OverloadClearFactor * rated, t.OverloadClearHoldS * 1000, Inclusive: false);

    internal static HoldRule LeakageRule(DetectionThresholds t) => new(
        t.LeakageWarningMa, t.LeakageWarningHoldS * 1000,
        t.LeakageCriticalMa, 0, t.LeakageCriticalReadings,
        t.LeakageClearMa, t.LeakageClearHoldS * 1000, Inclusive: true);

    internal static HoldRule TemperatureRule(DetectionThresholds t) => new(
        t.TemperatureWarningC, t.TemperatureWarningHoldS * 1000,
        t.TemperatureCriticalC, t.TemperatureCriticalHoldS * 1000, HoldRule.MinReadings,
        t.TemperatureClearC, t.TemperatureClearHoldS * 1000, Inclusive: true);

    /// <summary>Port over-power has one level, critical: a port above portMaxW for the hold time.</summary>
    internal static HoldRule PortRule(DetectionThresholds t, double portMaxW) => new(
        double.PositiveInfinity, 0,
        portMaxW, t.PortOverpowerHoldS * 1000, HoldRule.MinReadings,
        t.PortClearFactor * portMaxW, t.PortClearHoldS * 1000, Inclusive: false);

    /// <summary>One arcing reading is critical; the incident clears after a quiet spell.</summary>
    internal static HoldRule ArcRule(DetectionThresholds t) => new(
        double.PositiveInfinity, 0,
        1, 0, 1,
        1, t.ArcClearAfterS * 1000, Inclusive: true);

    private static void Threshold(
        ref HoldWatch watch,
        ref Incident? incident,
        Device device,
        AlertType type,
        int? port,
        double value,
        long ts,
        in HoldRule rule,
        string measure,
        double limit,
        IDetectionSink sink)
    {
        var open = incident is { IsOpen: true };
        var level = watch.Observe(value, ts, open, rule);
        if (level is HoldLevel.Warning or HoldLevel.Critical)
        {
            incident ??= new Incident(device, type, port);
            var severity = level == HoldLevel.Critical ? Severity.Critical : Severity.Warning;
            incident.Raise(ts, severity, watch.Peak, Evidence(measure, watch.Peak, limit, ts - watch.EpisodeStartMs), sink);
        }
        else if (level == HoldLevel.Clear && incident is { IsOpen: true })
        {
            // Never a negative duration: a clock that jumped ahead (the episode began then) and back ends it earlier.
            incident.Clear(ts, Evidence(measure, watch.Peak, limit, Math.Max(0, ts - watch.EpisodeStartMs)), sink);
        }
    }

    private static Evidence Evidence(string measure, double peak, double limit, long sustainedMs) => measure switch
    {
        "currentA" => new(new("currentA", peak), new("ratedCurrentA", limit), new("sustainedS", sustainedMs / 1000.0)),
        "powerW" => new(new("powerW", peak), new("portMaxW", limit), new("sustainedS", sustainedMs / 1000.0)),
        "leakageMa" => new(new("leakageMa", peak), new("criticalMa", limit), new("sustainedS", sustainedMs / 1000.0)),
        "tempC" => new(new("tempC", peak), new("warningC", limit), new("sustainedS", sustainedMs / 1000.0)),
        _ => new(new("arcReadings", 1), new("sustainedS", sustainedMs / 1000.0)),
    };
}
