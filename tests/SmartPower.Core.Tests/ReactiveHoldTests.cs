using SmartPower.Alerts;
using SmartPower.Detection;
using SmartPower.Registry;

namespace SmartPower.Tests;

/// <summary>
/// The reactive hold rule (<see cref="ReactiveHold"/>) on single circuits: a charger found as a step of non-active power
/// Q that holds for 12 minutes, where resistive loads switching beside it hide it from the charging signature; and the
/// loads that must not be called. Readings carry the current rounded to 0.01 A, as the meters send it.
/// </summary>
public sealed class ReactiveHoldTests
{
    private const double Hour = 3600;
    private const double PlugIn = 1930; // while the heater is on and the kettle off: not in the same reading as a resistive switch

    /// <summary>
    /// A circuit whose loads draw real power <c>P</c> and non-active power <c>Q</c>: the meter reports P and the current
    /// sqrt(P^2 + Q^2) / V. Another circuit keeps the stream's time moving. <paramref name="carry"/> may swap the engine
    /// at a reading (a save and restore).
    /// </summary>
    private static Feed Run(double seconds, Func<double, (double P, double Q)> load, string deviceId = "m-0001", int seed = 1, Func<double, Feed, DetectionEngine>? carry = null, Func<double, bool>? silent = null)
    {
        var feed = new Feed();
        var noise = new Random(seed);
        for (var s = 0.0; s < seconds; s += 10)
        {
            if (carry is not null)
            {
                feed.Engine = carry(s, feed);
            }

            var (p, q) = load(s);
            p = Math.Max(0, p + ((noise.NextDouble() - 0.5) * 2));
            if (silent?.Invoke(s) != true)
            {
                feed.Meter(deviceId, s, Math.Round(Math.Sqrt((p * p) + (q * q)) / 230, 2), Math.Round(p, 1));
            }

            feed.Meter("m-0002", s + 5, 2, 460);
        }

        return feed;
    }

    /// <summary>The calls of the rule alone (no charging signature, a fresh incident each reading) over the same readings as <see cref="Run"/>.</summary>
    private static List<Alert> CallsAlone(double seconds, Func<double, (double P, double Q)> load, int seed = 1) =>
        Alone(seconds, load, seed, freshIncident: true).Where(t => t.Kind == TransitionKind.Opened).Select(t => t.Alert).ToList();

    /// <summary>The rule alone over the same readings as <see cref="Run"/>: its transitions of the meter's incident.</summary>
    private static List<AlertTransition> Alone(double seconds, Func<double, (double P, double Q)> load, int seed = 1, bool freshIncident = false, double? maxPowerJitter = null)
    {
        var device = RegistryLoader.Parse(Feed.RegistryJson).Devices.Single(d => d.DeviceId == "m-0001");
        if (maxPowerJitter is { } jitter)
        {
            device = device with { Thresholds = device.Thresholds with { ReactiveMaxPowerJitter = jitter } };
        }

        var rule = new ReactiveHold();
        var sink = new CollectingSink();
        var noise = new Random(seed);
        Incident? incident = null;
        for (var s = 0.0; s < seconds; s += 10)
        {
            var (p, q) = load(s);
            p = Math.Round(Math.Max(0, p + ((noise.NextDouble() - 0.5) * 2)), 1);
            incident = freshIncident ? null : incident;
            rule.Observe(Feed.T0.AddSeconds(s).ToUnixTimeMilliseconds(), p, 230, Math.Round(Math.Sqrt((p * p) + (q * q)) / 230, 2), device, DeviceLimits.OfflineAfterMs(device), false, false, 0, ref incident, sink);
        }

        return sink.Transitions;
    }

    private static (double P, double Q) Add(params (double P, double Q)[] loads) => (loads.Sum(l => l.P), loads.Sum(l => l.Q));

    /// <summary>A 48 V pack on a 3.5 A charger: 210 W at a power factor of 0.8 (0.75 var a watt), rising 4%/h, from plug-in to unplug.</summary>
    private static (double P, double Q) Charger(double t, double unplug = double.PositiveInfinity) => Charger(t, PlugIn, unplug, 210);

    /// <summary>A charger of <paramref name="watts"/> at plug-in, 0.75 var a watt, rising 4%/h, from <paramref name="from"/> to <paramref name="until"/>.</summary>
    private static (double P, double Q) Charger(double t, double from, double until, double watts)
    {
        if (t < from || t >= until)
        {
            return (0, 0);
        }

        var p = watts * (1 + (0.04 * (t - from) / Hour));
        return (p, 0.75 * p);
    }

    /// <summary>
    /// A busy dwelling, all resistive: a kettle (2 kW, 3 min every 17), a heater (1.2 kW, its thermostat 4 min on, 6 off)
    /// and an iron (1 kW, a minute on, a minute off). The real power steps every minute or so, which hides a charger's
    /// switch-on and rise from the charging signature; the non-active power does not move with them.
    /// </summary>
    private static (double P, double Q) Busy(double t) =>
        ((t % 1020 < 180 ? 2000 : 0) + (t % 600 < 240 ? 1200 : 0) + (t % 120 < 60 ? 1000 : 0), 0);

    /// <summary>Lighting and standby: 60 W, 20 var.</summary>
    private static (double P, double Q) Base(double t) => (60, 20);

    private static double Normal(Random random) => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    [Fact]
    public void A_charger_plugged_in_beside_a_busy_resistive_load_is_called_after_its_twelve_minute_hold()
    {
        var feed = Run(2 * Hour, t => Add(Base(t), Busy(t), Charger(t)));
        var alert = Assert.Single(feed.Opened);
        Assert.Equal(AlertType.IllegalCharging, alert.Type);
        Assert.Equal(Severity.Warning, alert.Severity); // a dwelling
        Assert.Equal(ReactiveHold.RuleId, alert.Evidence["rule"]);
        Assert.InRange((alert.OpenedAt - Feed.T0.AddSeconds(PlugIn)).TotalMinutes, 12, 19);
        Assert.InRange(alert.Evidence["stepW"]!.Value, 190, 230);
        Assert.InRange(alert.Evidence["reactiveRatio"]!.Value, 0.65, 0.85);

        // The same circuit without the charger: the kettle and heater add no non-active power.
        Assert.Empty(Run(2 * Hour, t => Add(Base(t), Busy(t))).Opened);
    }

    [Fact]
    public void A_charger_on_a_common_area_circuit_is_critical()
    {
        var alert = Assert.Single(Run(2 * Hour, t => Add(Base(t), Busy(t), Charger(t)), "m-0100").Opened);
        Assert.Equal(Severity.Critical, alert.Severity);
    }

    [Fact]
    public void A_tv_or_pc_switched_on_for_the_evening_is_not_called()
    {
        // A TV: 150 W at a power factor of 0.95 (0.33 var a watt), its picture moving its draw by 8%: under the ratio a
        // small charger shows.
        var picture = new Random(7);
        Assert.Empty(Run(3 * Hour, t =>
        {
            var tv = t < PlugIn ? 0 : 150 * (1 + (0.08 * Normal(picture)));
            return Add(Base(t), Busy(t), (tv, 0.33 * tv));
        }).Opened);

        // A PC: 260 W at 0.92 (0.43 var a watt, a charger's ratio at that size), its load moving its draw by 5% from one
        // reading to the next: the scatter a charger's input does not have. (Beside kilowatts of resistive load the
        // meter's rounding of the current scatters Q more than that, and such a PC would be called: as in the prototype.)
        var work = new Random(11);
        Assert.Empty(Run(3 * Hour, t =>
        {
            var pc = t < PlugIn ? 0 : 260 * (1 + (0.05 * Normal(work)));
            return Add(Base(t), (pc, 0.43 * pc));
        }).Opened);

        // The same PC drawing steadily would be: the scatter is what tells it apart.
        Assert.Single(CallsAlone(3 * Hour, t => Add(Base(t), t < PlugIn ? (0, 0) : (260, 0.43 * 260))));
    }

    /// <summary>
    /// A PC switched to heavy work beside the busy resistive loads: 250 W and 120 var (a charger's ratio at that size),
    /// its work moving its real power by 5% from one reading to the next while its non-active power hardly moves (its
    /// power-factor-corrected supply). The scatter of Q cannot see it; that of P can (stop 21). The same load drawing
    /// steadily would be called.
    /// </summary>
    [Fact]
    public void A_load_whose_real_power_jitters_is_not_called_though_its_non_active_power_holds()
    {
        var work = new Random(5);
        Assert.Empty(CallsAlone(2 * Hour, t => Add(Base(t), Busy(t), t < PlugIn ? (0, 0) : (250 * (1 + (0.05 * Normal(work))), 120))));
        Assert.Single(CallsAlone(2 * Hour, t => Add(Base(t), Busy(t), t < PlugIn ? (0, 0) : (250, 120))));
    }

    /// <summary>
    /// The same PC switched on 5 minutes after a charger's plug-in. Found in review: the jitter was read over the
    /// charger's third to twelfth minute from the whole circuit, so the PC's was charged to the charger's step and the
    /// charger, drawing for hours, was never called. The least scatter of the window's three thirds is taken now: the
    /// first is over before the PC starts.
    /// </summary>
    [Fact]
    public void A_jittery_load_switched_on_during_the_hold_does_not_cost_the_chargers_call()
    {
        static Func<double, (double P, double Q)> Circuit(double pcOn)
        {
            var work = new Random(5);
            return t => Add(Base(t), Busy(t), Charger(t), t < pcOn ? (0, 0) : (250 * (1 + (0.05 * Normal(work))), 120));
        }

        Assert.Single(Alone(3 * Hour, Circuit(PlugIn + 1800)), t => t.Kind == TransitionKind.Opened);
        Assert.Single(Alone(3 * Hour, Circuit(PlugIn + 300), maxPowerJitter: 1), t => t.Kind == TransitionKind.Opened);
        Assert.Single(Alone(3 * Hour, Circuit(PlugIn + 300)), t => t.Kind == TransitionKind.Opened);
    }

    [Fact]
    public void A_freezer_running_long_after_its_compressors_inrush_is_not_called()
    {
        // 140 W at 0.86 (0.59 var a watt), on for 55 minutes, off for 25, with a locked-rotor inrush of 5x in the first
        // reading: the same ratio as a small charger and held longer than the hold, but a motor starting.
        static (double P, double Q) Freezer(double t, bool inrush = true)
        {
            var phase = (t + 600) % 4800;
            return phase >= 3300 ? (0, 0) : phase < 10 && inrush ? (700, 415) : (140, 83);
        }

        Assert.Empty(Run(4 * Hour, t => Add(Base(t), Freezer(t))).Opened);

        // Without its inrush the same cycle would be held long enough to be called: the inrush is what tells it apart.
        Assert.NotEmpty(CallsAlone(4 * Hour, t => Add(Base(t), Freezer(t, inrush: false))));
    }

    [Fact]
    public void The_incident_clears_once_the_charger_is_unplugged()
    {
        const double Unplug = PlugIn + (2 * Hour);
        var feed = Run(3.5 * Hour, t => Add(Base(t), Busy(t), Charger(t, Unplug)));
        var opened = Assert.Single(feed.Of(AlertType.IllegalCharging), t => t.Kind == TransitionKind.Opened);
        var cleared = Assert.Single(feed.Of(AlertType.IllegalCharging), t => t.Kind == TransitionKind.Cleared);
        Assert.Equal(opened.Alert.AlertId, cleared.Alert.AlertId);
        // The circuit's 1-minute Q under the floor before the step plus a quarter of it for 8 of 10 minutes, or the fall
        // known not to be reversed (12 minutes and the readings its medians need), whichever comes first.
        Assert.InRange((cleared.At - Feed.T0.AddSeconds(Unplug)).TotalMinutes, 7, 18);
    }

    /// <summary>
    /// An air-conditioner (1.2 kW, 300 var) runs all along beside the busy loads; the charger is unplugged two hours in.
    /// The reactive rule sees its charge end some 8 minutes later, but the signature watches a candidate for the same
    /// charger that it never ends (a rectifier's candidate is watched for its taper up to 8 hours), and the ended charge
    /// was held on for that candidate with no limit: the incident cleared six hours after the unplug (found in review).
    /// It is now held on at most 20 minutes past the charge's end.
    /// </summary>
    [Fact]
    public void An_unplugged_charge_the_signature_still_watches_does_not_hold_the_incident_open_for_hours()
    {
        const double Unplug = PlugIn + (2 * Hour);
        var transitions = Run(10 * Hour, t => Add(Base(t), Busy(t), (1200, 300), Charger(t, Unplug))).Of(AlertType.IllegalCharging).ToList();
        Assert.Single(transitions, t => t.Kind == TransitionKind.Opened);
        var cleared = Assert.Single(transitions, t => t.Kind == TransitionKind.Cleared);
        Assert.InRange((cleared.At - Feed.T0.AddSeconds(Unplug)).TotalMinutes, 0, 30);
    }

    /// <summary>
    /// A dwelling with two e-bikes: the first charger is called after its hold and charges on; a second one (200 W) is
    /// plugged in after the call and unplugged later. Its fall is the size and ratio of the first charge, but a load
    /// that switched on since: that load's. Found in review: once the second charger had run longer than the steps kept
    /// for the holds (about 74 minutes), its rise was forgotten and its unplug ended the first charge, clearing the
    /// incident while the first charger still drew. The loads switched beside a charge are now followed for as long as
    /// it lasts.
    /// </summary>
    [Fact]
    public void A_second_charger_unplugged_after_the_call_does_not_end_the_first_charge()
    {
        foreach (var secondOnMinutes in new[] { 50.0, 90.0, 150.0 })
        {
            var secondOn = PlugIn + (1.2 * Hour);
            var transitions = Alone(5 * Hour, t => Add(Base(t), Charger(t), Charger(t, secondOn, secondOn + (secondOnMinutes * 60), 200)));
            Assert.Single(transitions, t => t.Kind == TransitionKind.Opened);
            Assert.DoesNotContain(transitions, t => t.Kind == TransitionKind.Cleared);
        }
    }

    /// <summary>
    /// An air-conditioner (1.2 kW at 0.25 var a watt: 300 var) runs through the evening beside the busy resistive loads;
    /// a charger is plugged in, called after its hold, and charges on; the air-conditioner is switched off an hour and
    /// a half after the plug-in. Its fall is neither the charger's size nor its ratio. Found in review: the end floor
    /// (the circuit's Q before the charger plus a quarter of its step) was measured with the air-conditioner on, and the
    /// charger alone is under it: the charge "ended" minutes later and the incident cleared while the charger drew. A
    /// reactive load that was on before the charger switching off now lowers the end floor by its Q; the charger's unplug
    /// still ends the charge.
    /// </summary>
    [Fact]
    public void A_reactive_load_on_before_the_plug_in_switching_off_does_not_end_the_charge()
    {
        const double AcOff = PlugIn + (1.5 * Hour);
        const double Unplug = PlugIn + (3 * Hour);
        Func<double, (double P, double Q)> load = t => Add(Base(t), Busy(t), t < AcOff ? (1200, 300) : (0, 0), Charger(t, Unplug));
        var feed = Run(4 * Hour, load);
        var transitions = feed.Of(AlertType.IllegalCharging).ToList();
        Assert.Single(transitions, t => t.Kind == TransitionKind.Opened);
        var cleared = Assert.Single(transitions, t => t.Kind == TransitionKind.Cleared);
        Assert.InRange((cleared.At - Feed.T0.AddSeconds(Unplug)).TotalMinutes, 0, 18);

        // The followed loads and the floor's shift are saved and restored with the rest (cut after the air-conditioner
        // went off, and again between its fall and the charger's).
        double[] cuts = [AcOff + 600, AcOff + 3000];
        var restored = Run(4 * Hour, load, carry: (s, f) =>
            cuts.Contains(s) ? DetectionEngine.Restore(f.Registry, SavedStateTests.Save(f.Engine.SaveState)) : f.Engine).Sink.Transitions;
        Assert.Equal(feed.Sink.Transitions, restored);
    }

    /// <summary>The same air-conditioner cycling off and on again after the call: back on, its Q is in the floor again, and its next switch-off is again not the charge's end.</summary>
    [Fact]
    public void A_reactive_load_on_before_the_plug_in_cycling_off_and_on_does_not_end_the_charge()
    {
        Func<double, bool> acOn = t => t < PlugIn + (1.2 * Hour) || (t >= PlugIn + (1.6 * Hour) && t < PlugIn + (2.2 * Hour));
        var transitions = Run(4 * Hour, t => Add(Base(t), Busy(t), acOn(t) ? (1200, 300) : (0, 0), Charger(t))).Of(AlertType.IllegalCharging).ToList();
        Assert.Single(transitions, t => t.Kind == TransitionKind.Opened);
        Assert.DoesNotContain(transitions, t => t.Kind == TransitionKind.Cleared);
    }

    /// <summary>
    /// A smaller air-conditioner (600 W, 150 var) on from before the plug-in is switched off in the same seconds as the
    /// charger is unplugged, a ventilation fan (150 W, 100 var) running on: one fall of two loads' Q, larger than the
    /// charge's, but larger too than all the circuit carried before the charger, so not the other load's alone. The
    /// charge ends.
    /// </summary>
    [Fact]
    public void A_charger_unplugged_with_a_load_that_was_on_before_it_ends_the_charge()
    {
        const double Unplug = PlugIn + (2 * Hour);
        var transitions = Run(3.5 * Hour, t => Add(Base(t), Busy(t), (150, 100), t < Unplug ? (600, 150) : (0, 0), Charger(t, Unplug))).Of(AlertType.IllegalCharging).ToList();
        Assert.Single(transitions, t => t.Kind == TransitionKind.Opened);
        var cleared = Assert.Single(transitions, t => t.Kind == TransitionKind.Cleared);
        Assert.InRange((cleared.At - Feed.T0.AddSeconds(Unplug)).TotalMinutes, 0, 18);
    }

    /// <summary>
    /// As above, but the charger is unplugged 40 minutes after the plug-in, its charge called at 16. A charge that ends
    /// within the hour of its step is held on for any candidate the signature watches since it (the signature may still
    /// be deciding on the same switch-on, and a second alert for one charge is a false one), but for at most 2 hours.
    /// </summary>
    [Fact]
    public void A_charge_unplugged_within_the_hour_is_held_on_for_the_signature_at_most_two_hours()
    {
        const double Unplug = PlugIn + 2400;
        var transitions = Run(10 * Hour, t => Add(Base(t), Busy(t), (1200, 300), Charger(t, Unplug))).Of(AlertType.IllegalCharging).ToList();
        Assert.Single(transitions, t => t.Kind == TransitionKind.Opened);
        var cleared = Assert.Single(transitions, t => t.Kind == TransitionKind.Cleared);
        Assert.InRange((cleared.At - Feed.T0.AddSeconds(Unplug)).TotalMinutes, 0, 150);
    }

    /// <summary>
    /// A dehumidifier (400 W, 250 var) on the charger's power strip, on before the plug-in, switched off with it, a dryer
    /// (1.2 kW, 400 var) running on. Found in review: their one fall (420 var) is over 1.6 x the charge's step and under
    /// all the circuit carried before it, so it is taken for the dehumidifier's alone, the end floor is lowered by the
    /// charger's Q too, and the charge never ended. Not told apart yet (README); but no charge is held over 16 hours.
    /// </summary>
    [Fact]
    public void A_charge_whose_unplug_merged_with_another_loads_switch_off_ends_within_sixteen_hours()
    {
        const double Unplug = PlugIn + (2 * Hour);
        var transitions = Alone(18 * Hour, t => Add(Base(t), Busy(t), (1200, 400), t < Unplug ? (400, 250) : (0, 0), Charger(t, Unplug)));
        Assert.Single(transitions, t => t.Kind == TransitionKind.Opened);
        var cleared = Assert.Single(transitions, t => t.Kind == TransitionKind.Cleared);
        Assert.InRange((cleared.At - Feed.T0.AddSeconds(PlugIn)).TotalHours, 2, 16.1);
    }

    [Fact]
    public void The_rule_lets_go_of_a_charge_once_it_has_tapered_away()
    {
        // Constant current for 1.5 h, then constant voltage: the input falls exponentially (20 minutes' time constant).
        // The rule alone: on this circuit the signature confirms the charger too, later, and the incident then waits for
        // it as well (The_incident_stays_open_while_either_rule_holds_a_charger).
        var transitions = Alone(4.5 * Hour, t =>
        {
            var (p, q) = Charger(t);
            var cv = PlugIn + (1.5 * Hour);
            var share = t < cv ? 1 : Math.Exp(-(t - cv) / 1200);
            return Add(Base(t), Busy(t), (p * share, q * share));
        });
        Assert.Single(transitions, t => t.Kind == TransitionKind.Opened);
        var cleared = Assert.Single(transitions, t => t.Kind == TransitionKind.Cleared);

        // Under the floor before it plus a quarter of its step for 8 of 10 minutes: ln 4 time constants (28 min) into the
        // taper and 10 more at the soonest; later as the meter's rounding of the current beside kilowatts of resistive
        // load scatters the 1-minute Q over the line.
        Assert.InRange((cleared.At - Feed.T0.AddSeconds(PlugIn + (1.5 * Hour))).TotalMinutes, 37, 90);
    }

    [Fact]
    public void The_incident_stays_open_while_either_rule_holds_a_charger()
    {
        // A quiet circuit: the signature calls the charger within 20 minutes, the hold rule at 40 and holds it too. The
        // charger is unplugged: one incident, opened once and cleared once, when both have let go.
        const double Unplug = PlugIn + (2 * Hour);
        var feed = Run(3.5 * Hour, t => Add(Base(t), Charger(t, Unplug)));
        var transitions = feed.Of(AlertType.IllegalCharging).ToList();
        var opened = Assert.Single(transitions, t => t.Kind == TransitionKind.Opened);
        Assert.Equal(ChargingSignature.RuleId, opened.Alert.Evidence["rule"]);
        var cleared = Assert.Single(transitions, t => t.Kind == TransitionKind.Cleared);

        // The signature let go at the unplug; the incident cleared only when the hold rule did, minutes later.
        Assert.Equal(ReactiveHold.RuleId, cleared.Alert.Evidence["rule"]);
        Assert.InRange((cleared.At - Feed.T0.AddSeconds(Unplug)).TotalMinutes, 7, 18);
    }

    [Fact]
    public void A_gap_in_the_readings_restarts_the_hold_but_keeps_a_called_charge()
    {
        // Silent for 10 minutes (offline) 5 minutes into the hold: what switched in the gap is unknown, so the step
        // before it is not carried over it, and nothing is called 12 minutes after the plug-in.
        var gapInHold = Run(2 * Hour, t => Add(Base(t), Busy(t), Charger(t)), silent: t => t >= PlugIn + 300 && t < PlugIn + 900);
        Assert.DoesNotContain(gapInHold.Of(AlertType.IllegalCharging), t => t.Kind == TransitionKind.Opened && t.At < Feed.T0.AddSeconds(PlugIn + 3600));

        // The same gap after the call: the charge stays called, and its unplug after the gap still ends it.
        const double Unplug = PlugIn + (2 * Hour);
        var gapAfterCall = Run(3.5 * Hour, t => Add(Base(t), Busy(t), Charger(t, Unplug)), silent: t => t >= PlugIn + 3600 && t < PlugIn + 4200);
        var charging = gapAfterCall.Of(AlertType.IllegalCharging).ToList();
        Assert.Single(charging, t => t.Kind == TransitionKind.Opened);
        var cleared = Assert.Single(charging, t => t.Kind == TransitionKind.Cleared);
        Assert.InRange((cleared.At - Feed.T0.AddSeconds(Unplug)).TotalMinutes, 7, 18);
    }

    [Fact]
    public void Saving_and_restoring_in_the_middle_of_a_hold_gives_the_same_alerts()
    {
        Func<double, (double P, double Q)> load = t => Add(Base(t), Busy(t), Charger(t, PlugIn + (2 * Hour)));
        var uninterrupted = Run(3.5 * Hour, load).Sink.Transitions;
        Assert.NotEmpty(uninterrupted);

        // Cut 5 and 11 minutes into the hold, as it is being decided, and twice after the call while the charge is held.
        double[] cuts = [PlugIn + 300, PlugIn + 660, PlugIn + 960, PlugIn + 1200, PlugIn + 4000];
        var restored = Run(3.5 * Hour, load, carry: (s, feed) =>
            cuts.Contains(s) ? DetectionEngine.Restore(feed.Registry, SavedStateTests.Save(feed.Engine.SaveState)) : feed.Engine).Sink.Transitions;
        Assert.Equal(uninterrupted, restored);
    }

    /// <summary>
    /// A large fridge (250 W, 150 var, a charger's size and ratio, with its compressor's inrush) runs 10 minutes in every
    /// 30. Plugged in 2 minutes before one of its runs, the charger was never called (review, stop 21): the fridge's
    /// switch-on, 12 readings after the charger's, was hidden by the charger's larger edge, so its stop in the hold was taken
    /// for the charge's fall. Now an edge is the largest of its own hump only, and a fall in the hold that pairs with a load
    /// switched on since the step, or on from before it, is that load's. The first case (the fridge on before the plug-in and
    /// stopping 2 minutes after it) shows the second half: with the edges found apart but no pairing, its stop ended the hold.
    /// </summary>
    [Fact]
    public void A_fridge_run_in_the_hold_does_not_cost_the_chargers_call()
    {
        static Func<double, (double P, double Q)> Circuit(double fridgeStart, double period = 1800) => t =>
        {
            var phase = ((t - fridgeStart) % period + period) % period;
            var fridge = phase >= 600 ? (0.0, 0.0) : phase < 10 ? (1250.0, 750.0) : (250.0, 150.0);
            return Add(Base(t), fridge, Charger(t));
        };

        Assert.Single(Alone(4 * Hour, Circuit(PlugIn + 1320)), t => t.Kind == TransitionKind.Opened); // on 8 minutes before, off 2 after
        Assert.Single(Alone(4 * Hour, Circuit(PlugIn + 120, period: 1080)), t => t.Kind == TransitionKind.Opened); // off 8 minutes: reversed
        Assert.Single(Alone(4 * Hour, Circuit(PlugIn + 120)), t => t.Kind == TransitionKind.Opened); // on 2 minutes after, off 10 minutes later
    }

    /// <summary>
    /// A kettle (2 kW, 3 minutes) switched on in the same reading as the charger: the step's real power is the kettle's
    /// and the charger's (over 2 kW, out of a charger's band), its non-active power the charger's alone. The charger's own
    /// power is read once the kettle is off again (its switch-off: a fall of real power with the non-active power
    /// unchanged), and the call carries it. Helper-59 traced 67 of the 210 chargers missed on the 48 unseen nights to a
    /// step out of band above, 55 of them with a kettle switched on in the same instant (stop 22). A TV switched on with
    /// the kettle is still not called (its ratio), nor a charger whose kettle is not seen going off within 11 minutes.
    /// </summary>
    [Fact]
    public void A_charger_switched_on_with_a_kettle_is_called_with_its_own_power()
    {
        static (double P, double Q) Kettle(double t, double minutes = 3) => t >= PlugIn && t < PlugIn + (minutes * 60) ? (2000, 0) : (0, 0);

        var call = Assert.Single(CallsAlone(3 * Hour, t => Add(Base(t), Kettle(t), Charger(t))));
        Assert.InRange(call.Evidence["stepW"]!.Value, 190, 230);
        Assert.InRange(call.Evidence["reactiveRatio"]!.Value, 0.65, 0.85);

        Assert.Empty(CallsAlone(3 * Hour, t => Add(Base(t), Kettle(t), t < PlugIn ? (0, 0) : (150, 0.33 * 150))));
        Assert.Empty(CallsAlone(3 * Hour, t => Add(Base(t), Kettle(t, minutes: 15), Charger(t))));
    }

    [Fact]
    public void Saving_and_restoring_while_a_chargers_power_waits_for_the_kettle_gives_the_same_alerts()
    {
        Func<double, (double P, double Q)> load = t => Add(Base(t), t >= PlugIn && t < PlugIn + 180 ? (2000, 0) : (0, 0), Charger(t, PlugIn + (2 * Hour)));
        var uninterrupted = Run(3 * Hour, load).Sink.Transitions;
        Assert.Contains(uninterrupted, t => t.Kind == TransitionKind.Opened);

        double[] cuts = [PlugIn + 120, PlugIn + 400, PlugIn + 700];
        var restored = Run(3 * Hour, load, carry: (s, feed) =>
            cuts.Contains(s) ? DetectionEngine.Restore(feed.Registry, SavedStateTests.Save(feed.Engine.SaveState)) : feed.Engine).Sink.Transitions;
        Assert.Equal(uninterrupted, restored);
    }

    /// <summary>
    /// A rice cooker (800 W, resistive) cooking for half an hour switches off in the same reading as the charger switches
    /// on: the step's real power is the charger's less the cooker's (negative), its non-active power the charger's alone.
    /// The charger's own power is the step's plus the cooker's switch-on, found in the hour before (a rise of the 1-minute
    /// real power with the non-active power unchanged, on until the step). Helper-59 traced 68 of the 210 chargers missed
    /// on the 48 unseen nights to a step under the band, 49 of them with a rice cooker switched off in the same instant
    /// (stop 22). A TV switched on as the cooker goes off is still not called (its ratio), nor a fridge (its inrush).
    /// </summary>
    [Fact]
    public void A_charger_switched_on_as_a_rice_cooker_switches_off_is_called_with_its_own_power()
    {
        static (double P, double Q) Cooker(double t) => t >= PlugIn - 1800 && t < PlugIn ? (800, 0) : (0, 0);

        var call = Assert.Single(CallsAlone(3 * Hour, t => Add(Base(t), Cooker(t), Charger(t))));
        Assert.InRange(call.Evidence["stepW"]!.Value, 190, 230);
        Assert.InRange(call.Evidence["reactiveRatio"]!.Value, 0.65, 0.85);

        Assert.Empty(CallsAlone(3 * Hour, t => Add(Base(t), Cooker(t), t < PlugIn ? (0, 0) : (150, 0.33 * 150))));
        Assert.Empty(CallsAlone(3 * Hour, t =>
        {
            var phase = ((t - PlugIn) % 1800 + 1800) % 1800;
            var fridge = phase >= 900 ? (0.0, 0.0) : phase < 10 ? (1250.0, 750.0) : (250.0, 150.0);
            return Add(Base(t), Cooker(t), fridge);
        }));
    }

    /// <summary>
    /// Review, stop 22. A 1.5 kW kettle (8 minutes to the boil) switched on with the charger: beside 1.7 kW the meter's
    /// 0.01 A rounding moves the circuit's Q by some +-15 var a reading, over 2% of the step once the kettle fills most of
    /// the 60 readings the Q scatter was read over, and the charger was never called (7 minutes was). Its scatter, of Q
    /// as of real power, is now read after the kettle's switch-off.
    /// </summary>
    [Fact]
    public void A_charger_switched_on_with_a_kettle_that_boils_for_eight_minutes_is_called()
    {
        var calls = CallsAlone(3 * Hour, t => Add(Base(t), t >= PlugIn && t < PlugIn + 480 ? (1500, 0) : (0, 0), Charger(t)));
        Assert.Single(calls);
    }

    /// <summary>
    /// Review, stop 22: a false call. An induction hob (2 kW, 450 var) switched on while a 1.5 kW water heater heats, the
    /// water heater's thermostat cutting out 6 minutes later: the hob's step was taken for a charger switched on with a
    /// kettle and the water heater's switch-off for that kettle's, and the hob called as a 500 W charger. A load that the
    /// circuit carried before the step already (its power under the level before it) is not a kettle switched with it.
    /// </summary>
    [Fact]
    public void An_induction_hob_switched_on_while_a_water_heater_runs_is_not_called()
    {
        Assert.Empty(CallsAlone(3 * Hour, t => Add(
            Base(t),
            t >= PlugIn - 1200 && t < PlugIn + 360 ? (1500, 0) : (0, 0),
            t >= PlugIn && t < PlugIn + 2400 ? (2000, 450) : (0, 0))));
    }

    /// <summary>
    /// Stop 23 (research trace: 21 of the 31 chargers still missed beside a rice cooker had its switch-on not found): a
    /// 400 W heater on before the cooker switches off while the cooker cooks. The circuit's power then falls under the
    /// level the cooker's switch-on reached, which the rule took for the cooker off; a cooker is now on until a fall of
    /// its own size. A cooker pulsing on keep-warm (800 W on a minute in every four) still is not taken for one that ran.
    /// </summary>
    [Fact]
    public void A_charger_switched_on_as_a_rice_cooker_switches_off_is_called_though_another_load_went_off_while_it_cooked()
    {
        static (double P, double Q) Cooker(double t) => t >= PlugIn - 1800 && t < PlugIn ? (800, 0) : (0, 0);
        static (double P, double Q) Heater(double t) => t < PlugIn - 900 ? (400, 0) : (0, 0);

        var call = Assert.Single(CallsAlone(3 * Hour, t => Add(Base(t), Heater(t), Cooker(t), Charger(t))));
        Assert.InRange(call.Evidence["stepW"]!.Value, 190, 230);

        static (double P, double Q) Pulsing(double t) => t >= PlugIn - 1800 && t < PlugIn && (t - PlugIn + 1800) % 240 < 60 ? (800, 0) : (0, 0);
        Assert.Empty(CallsAlone(3 * Hour, t => Add(Base(t), Pulsing(t), t < PlugIn ? (0, 0) : (60, 45))));
    }

    /// <summary>
    /// Stop 23 (research trace: 14 chargers switched on with a kettle not read as such): the charger soft-starts over
    /// 10 s at some 60 W, so its Q moves a reading after the kettle's switch-on. A resistive switch-on a reading either
    /// side of the Q move is the kettle switched with the charger.
    /// </summary>
    [Fact]
    public void A_charger_whose_soft_start_puts_its_step_a_reading_after_the_kettles_is_called_with_its_own_power()
    {
        static (double P, double Q) Kettle(double t) => t >= PlugIn - 10 && t < PlugIn + 170 ? (2000, 0) : (0, 0);
        static (double P, double Q) SoftStart(double t) => t >= PlugIn - 10 && t < PlugIn ? (60, 5) : Charger(t);

        var call = Assert.Single(CallsAlone(3 * Hour, t => Add(Base(t), Kettle(t), SoftStart(t))));
        Assert.InRange(call.Evidence["stepW"]!.Value, 170, 240);
    }
}
