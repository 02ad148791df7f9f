using SmartPower.Alerts;
using SmartPower.Detection;

namespace SmartPower.Tests;

/// <summary>
/// The charger signature on single circuits with simple physics: a charger whose input power rises with
/// battery voltage, beside or instead of ordinary appliances. The labelled-night tests check the same on
/// a whole compound. The reactive hold rule, which would call many of these chargers too (after 12 minutes), is off here
/// (<see cref="Feed.SignatureOnlyRegistryJson"/>): these tests are about the signature; ReactiveHoldTests about the other.
/// </summary>
public sealed class ChargingSignatureTests
{
    private const double Hour = 3600;

    /// <summary>A 48 V lithium pack on a 2 A charger: ~110 W rising ~5 %/h in constant current, then a taper.</summary>
    private static double Charger(double sinceStart)
    {
        if (sinceStart < 0)
        {
            return 0;
        }

        var hours = sinceStart / Hour;
        return hours < 3 ? 110 * (1 + (0.05 * hours)) : 126.5 * Math.Exp(-(hours - 3) / 0.5);
    }

    /// <summary>A fridge: 15 min on, 25 min off, with a one-sample compressor inrush, settling as it runs.</summary>
    private static double Fridge(double t)
    {
        var phase = t % 2400;
        return phase >= 900 ? 0 : phase < 10 ? 600 : 130 - (phase / 900 * 10);
    }

    private static Feed Run(string deviceId, double seconds, Func<double, double> watts, int seed = 1)
    {
        var feed = new Feed(Feed.SignatureOnlyRegistryJson);
        var noise = new Random(seed);
        for (var s = 0.0; s < seconds; s += 10)
        {
            var p = Math.Max(0, watts(s) + (noise.NextDouble() - 0.5) * 2);
            feed.Meter(deviceId, s, p / 230, p);
            feed.Meter("m-0002", s + 5, 2, 460); // another circuit keeps the stream's time moving
        }

        return feed;
    }

    /// <summary>
    /// A circuit whose loads draw real power <c>P</c> and non-active power <c>Q</c> (a rectifier's or motor's; 0 for a
    /// resistive load): the meter reports P and the current sqrt(P^2 + Q^2) / V.
    /// </summary>
    private static Feed RunPq(string deviceId, double seconds, Func<double, (double P, double Q)> load, int seed = 1, int currentDecimals = 3, string? registry = null)
    {
        var feed = new Feed(registry ?? Feed.SignatureOnlyRegistryJson);
        var noise = new Random(seed);
        for (var s = 0.0; s < seconds; s += 10)
        {
            var (p, q) = load(s);
            p = Math.Max(0, p + ((noise.NextDouble() - 0.5) * 2));
            feed.Meter(deviceId, s, Math.Round(Math.Sqrt((p * p) + (q * q)) / 230, currentDecimals), p);
            feed.Meter("m-0002", s + 5, 2, 460);
        }

        return feed;
    }

    /// <summary>A charger with a power factor of 0.8 (non-active power 0.75 W per watt) that does not rise at all.</summary>
    private static (double P, double Q) FlatCharger(double sinceStart, double watts = 180) =>
        sinceStart < 0 ? (0, 0) : (watts, 0.75 * watts);

    [Fact]
    public void A_quiet_steady_load_with_a_rectifiers_non_active_power_is_called_within_twenty_minutes_without_waiting_for_the_rise()
    {
        var feed = RunPq("m-0001", 2 * Hour, t => Add((40, 10), FlatCharger(t - 1800)));
        var alert = Assert.Single(feed.Opened);
        Assert.InRange((alert.OpenedAt - Feed.T0.AddSeconds(1800)).TotalMinutes, 10, 20);
        Assert.InRange(alert.Evidence["reactiveRatio"]!.Value, 0.6, 0.9);
    }

    [Fact]
    public void A_chargers_non_active_power_is_measured_as_it_is_beside_a_water_heater()
    {
        // A meter rounds its current to 0.01 A (2.3 VA), so beside 2 kW of resistive load each sample's S^2 - P^2 scatters by
        // about 2 S x 0.7 VA either way; the step's non-active power must still come out near the charger's 0.75 W per watt.
        var feed = RunPq("m-0001", 2 * Hour, t => Add(Add((40, 10), (2000, 0)), FlatCharger(t - 1800)), currentDecimals: 2);
        var alert = Assert.Single(feed.Opened);
        Assert.InRange(alert.Evidence["reactiveRatio"]!.Value, 0.65, 0.85);
    }

    [Fact]
    public void The_same_step_from_a_resistive_load_or_one_too_small_is_not_called_quickly()
    {
        // A blanket or heater: the same watts, no non-active power. Flat, so the rise rule never speaks either.
        Assert.Empty(RunPq("m-0001", 2 * Hour, t => Add((40, 10), t < 1800 ? (0, 0) : (180, 0))).Opened);

        // 90 W: below the quick call's smallest step (LED lighting groups, set-top boxes); left to the rise rule.
        Assert.Empty(RunPq("m-0001", 2 * Hour, t => Add((40, 10), FlatCharger(t - 1800, 90))).Opened);

        // A noisy load (a TV's picture) with the same non-active power.
        var picture = new Random(3);
        Assert.Empty(RunPq("m-0001", 2 * Hour, t => Add((40, 10), t < 1800 ? (0, 0) : (180 * (1 + (0.05 * Normal(picture))), 60))).Opened);
    }

    [Fact]
    public void A_charger_switched_on_with_a_tv_is_not_quick_called_from_what_stays_when_the_tv_goes_off_but_found_at_its_switch_on()
    {
        // Both come on in the same instant: one 300 W step, noisy with the TV's picture. When the TV goes off after an
        // hour the 180 W that stays is a paired candidate, its non-active power only the pair's less the TV's: no quick
        // call for it (stop 23: on the nights measured such calls were mostly a fridge or an air-conditioner started
        // inside a water heater's or a cooker's step, 36 false alerts for 5 chargers). The signature alone, with no rise
        // to see, calls nothing; with the reactive hold beside it, the pair's Q step at the switch-on is a charger's.
        var picture = new Random(5);
        (double P, double Q) Load(double t)
        {
            var tv = t >= 1800 && t < 5400 ? (120 * (1 + (0.05 * Normal(picture))), 40.0) : (0.0, 0.0);
            return Add(Add((40, 10), tv), FlatCharger(t - 1800));
        }

        Assert.Empty(RunPq("m-0001", 3 * Hour, Load).Opened);

        picture = new Random(5);
        var alert = Assert.Single(RunPq("m-0001", 3 * Hour, Load, registry: Feed.RegistryJson).Opened);
        Assert.InRange((alert.OpenedAt - Feed.T0.AddSeconds(1800)).TotalMinutes, 10, 20);
        Assert.Equal(ReactiveHold.RuleId, alert.Evidence["rule"]);
    }

    [Fact]
    public void A_big_rectifier_load_still_at_its_step_an_hour_later_is_called_on_a_circuit_too_busy_for_the_other_rules()
    {
        // A 250 W charger at a power factor of 0.8 that does not rise, beside a TV whose picture makes the circuit too
        // noisy for the quick call: nothing can be said in the first hour, the hold call speaks once it has passed.
        var picture = new Random(7);
        var feed = RunPq("m-0001", 3 * Hour, t => Add(Add((40, 10), (100 * (1 + (0.15 * Normal(picture))), 33)), FlatCharger(t - 1800, 250)));
        var alert = Assert.Single(feed.Opened);
        Assert.InRange((alert.OpenedAt - Feed.T0.AddSeconds(1800)).TotalMinutes, 60, 62);
        Assert.Equal(Severity.Warning, alert.Severity);
        Assert.InRange(alert.Evidence["reactiveRatio"]!.Value, 0.65, 0.85);
    }

    [Fact]
    public void The_hold_call_leaves_small_power_factor_corrected_and_resistive_loads_alone()
    {
        (double P, double Q) Tv(Random picture) => (100 * (1 + (0.15 * Normal(picture))), 33);

        // Under 180 W (a laptop adapter, a group of LED fittings): the same hour says nothing.
        var small = new Random(7);
        Assert.Empty(RunPq("m-0001", 3 * Hour, t => Add(Add((40, 10), Tv(small)), FlatCharger(t - 1800, 150))).Opened);

        // 250 W at a power factor of 0.95 (a big TV or PC, which must correct it), or resistive (a heater).
        var corrected = new Random(7);
        Assert.Empty(RunPq("m-0001", 3 * Hour, t => Add(Add((40, 10), Tv(corrected)), t < 1800 ? (0, 0) : (250, 82))).Opened);
        var resistive = new Random(7);
        Assert.Empty(RunPq("m-0001", 3 * Hour, t => Add(Add((40, 10), Tv(resistive)), t < 1800 ? (0, 0) : (250, 0))).Opened);
    }

    private static double Normal(Random random) => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    private static (double P, double Q) Add((double P, double Q) a, (double P, double Q) b) => (a.P + b.P, a.Q + b.Q);

    /// <summary>
    /// A 110 W charger rising 5%/h has risen the required 3 W after about 33 minutes: that, not the 20 minutes the
    /// issue hopes for, is how soon the rise rule can speak for a slow charger (see README, How well it works).
    /// </summary>
    [Fact]
    public void A_charger_alone_in_a_dwelling_is_a_warning_once_its_rise_shows()
    {
        var feed = Run("m-0001", 5 * Hour, t => 60 + Charger(t - 1800));
        var alert = Assert.Single(feed.Opened);
        Assert.Equal((AlertType.IllegalCharging, Severity.Warning, "m-0001"), (alert.Type, alert.Severity, alert.DeviceId));
        var latency = alert.OpenedAt - Feed.T0.AddSeconds(1800);
        Assert.InRange(latency.TotalMinutes, 10, 40);
        Assert.InRange(alert.Evidence["stepW"]!.Value, 100, 120);
    }

    [Fact]
    public void A_load_that_rises_by_more_than_a_charge_can_is_not_a_charger()
    {
        // A load growing by 45 W an hour from 150 W (an air-conditioner modulating up as the room warms, a PC under a
        // growing job): 30% an hour is too fast for a battery at first, and by the time that rate relative to its level has
        // fallen under the 20% an hour a charger may rise at, it has grown by a third, more than any constant-current
        // phase raises a charger's power (about a fifth).
        var noise = new Random(11);
        var feed = RunPq("m-0001", 4 * Hour, t =>
        {
            var load = t < 1800 ? 0 : (150 * (1 + (0.3 * (t - 1800) / Hour))) + (3 * Normal(noise));
            return (40 + load, 10 + (0.3 * load));
        });
        Assert.Empty(feed.Opened);
    }

    [Fact]
    public void A_charger_on_a_common_area_circuit_is_critical()
    {
        var feed = Run("m-0100", 3 * Hour, t => 30 + Charger(t - 600));
        var alert = Assert.Single(feed.Opened);
        Assert.Equal((AlertType.IllegalCharging, Severity.Critical), (alert.Type, alert.Severity));
    }

    [Fact]
    public void A_charger_beside_a_cycling_fridge_is_still_found_and_the_fridge_alone_is_not()
    {
        var fridgeOnly = Run("m-0001", 6 * Hour, t => 40 + Fridge(t));
        Assert.Empty(fridgeOnly.Opened);

        var both = Run("m-0001", 6 * Hour, t => 40 + Fridge(t) + Charger(t - 1234));
        var alert = Assert.Single(both.Opened);
        Assert.InRange((alert.OpenedAt - Feed.T0.AddSeconds(1234)).TotalMinutes, 10, 45);
    }

    [Fact]
    public void The_incident_clears_once_the_charge_has_tapered_away()
    {
        var feed = Run("m-0001", 6 * Hour, t => 60 + Charger(t - 600));
        var transitions = feed.Of(AlertType.IllegalCharging).ToList();
        Assert.Equal(TransitionKind.Cleared, transitions[^1].Kind);
        Assert.Single(feed.Opened);
    }

    [Fact]
    public void A_tv_all_evening_is_quiet()
    {
        var content = new Random(7);
        var feed = Run("m-0001", 5 * Hour, t => 50 + (t >= 600 ? 120 * (1 + ((content.NextDouble() - 0.5) * 0.12)) : 0));
        Assert.Empty(feed.Opened);
    }

    [Fact]
    public void A_flat_steady_load_such_as_a_blanket_or_lamp_is_quiet()
    {
        var feed = Run("m-0001", 5 * Hour, t => 50 + (t >= 600 ? 100 : 0));
        Assert.Empty(feed.Opened);
    }

    [Fact]
    public void An_electric_blanket_warming_up_then_cycling_is_quiet()
    {
        // PTC warm-up: power falls as the wire heats, then the thermostat cycles it.
        var feed = Run("m-0001", 6 * Hour, t =>
        {
            var on = t - 600;
            if (on < 0) return 40;
            if (on < 1800) return 40 + (120 * (1 - (0.25 * on / 1800)));
            return 40 + ((on % 900) < 400 ? 90 : 0);
        });
        Assert.Empty(feed.Opened);
    }

    [Fact]
    public void Heavy_loads_out_of_range_are_not_chargers()
    {
        var feed = Run("m-0001", 4 * Hour, t => 60 + (t >= 600 ? 1800 * (1 + (0.05 * t / Hour)) : 0)); // a heater
        Assert.DoesNotContain(feed.Opened, a => a.Type == AlertType.IllegalCharging);
    }

    /// <summary>
    /// A 160 W charger (power factor 0.8, under the hold call's 180 W) on a circuit too noisy for the rise rule (4% scatter) or the quick call to speak,
    /// its input rising 3%/h in constant current, then tapering with a 30-minute time constant from 2 h 30 min after the
    /// plug-in; <paramref name="reactivePerWatt"/> 0 makes the same shape a resistive load's.
    /// </summary>
    private static Func<double, (double P, double Q)> NoisyChargerThenTaper(double reactivePerWatt, int seed)
    {
        var noise = new Random(seed);
        return t =>
        {
            var since = t - 1800;
            if (since < 0)
            {
                return (40, 10);
            }

            var watts = since < 2.5 * Hour ? 160 * (1 + (0.03 * since / Hour)) : 172 * Math.Exp(-(since - (2.5 * Hour)) / 1800);
            watts *= 1 + (0.04 * Normal(noise));
            return (40 + watts, 10 + (reactivePerWatt * watts));
        };
    }

    [Fact]
    public void A_charger_whose_rise_never_showed_is_found_in_its_taper_before_the_charge_ends()
    {
        var feed = RunPq("m-0001", 5 * Hour, NoisyChargerThenTaper(0.75, seed: 11));
        var alert = Assert.Single(feed.Opened);

        // Half the peak after 0.69 time constants (21 min), then 10 minutes to see it stay down.
        var taperStart = Feed.T0.AddSeconds(1800 + (2.5 * Hour));
        Assert.InRange((alert.OpenedAt - taperStart).TotalMinutes, 25, 45);
    }

    [Fact]
    public void The_same_fall_without_a_rectifiers_non_active_power_or_rising_back_is_not_a_taper()
    {
        // A resistive load (a heater easing off on its thermostat) of the same shape.
        Assert.Empty(RunPq("m-0001", 5 * Hour, NoisyChargerThenTaper(0, seed: 11)).Opened);

        // A rectifier load hunting: down to half over 15 minutes, back up over 15, for hours (an inverter modulating).
        var noise = new Random(13);
        Assert.Empty(RunPq("m-0001", 6 * Hour, t =>
        {
            var since = t - 1800;
            if (since < 0)
            {
                return (40, 10);
            }

            var swing = since < Hour ? 1 : 0.75 + (0.25 * Math.Cos(2 * Math.PI * (since - Hour) / 1800));
            var watts = 180 * swing * (1 + (0.04 * Normal(noise)));
            return (40 + watts, 10 + (0.75 * watts));
        }).Opened);
    }

    [Fact]
    public void A_stairwell_fitting_that_keeps_coming_on_is_not_called_a_charger_but_a_charger_beside_it_is()
    {
        // A 120 W LED fitting (power factor 0.9) on a motion sensor: on 3 minutes in every 10 for an hour, then held on
        // for 40 minutes by people passing. Quiet, level and rectifier-like: a new load of this size would be a quick call.
        static (double P, double Q) Fitting(double t) =>
            (t < 3600 && t % 600 < 180) || (t >= 3600 && t < 6000) ? (120, 58) : (0, 0);

        Assert.Empty(RunPq("m-0100", 2.5 * Hour, t => Add((30, 15), Fitting(t))).Opened);

        var feed = RunPq("m-0100", 2.5 * Hour, t => Add(Add((30, 15), Fitting(t)), FlatCharger(t - 4200)));
        var alert = Assert.Single(feed.Opened);
        Assert.Equal(Severity.Critical, alert.Severity);
        Assert.InRange((alert.OpenedAt - Feed.T0.AddSeconds(4200)).TotalMinutes, 10, 20);
    }
}
