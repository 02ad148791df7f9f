using SmartPower.Alerts;
using SmartPower.Detection;

namespace SmartPower.Tests;

/// <summary>
/// The night floor (<see cref="NightFloor"/>): a charger left on after midnight in a dwelling, found from the rise of the
/// circuit's floor of non-active power over the evening's lowest, where neither rule saw it switch on. Most tests turn
/// the step rules off (no step is that big), so what calls is the floor alone. The feed starts at 20:00 in the site's
/// time zone (Asia/Shanghai), readings every 10 s unless said, the current rounded to 0.01 A as meters send it. The tests
/// after the first ones come from the stop-23 review (each failed on the rule as first committed).
/// </summary>
public sealed class NightFloorTests
{
    private const double Hour = 3600;
    private const double LocalMidnight = 4 * Hour; // Feed.T0 is 20:00 local

    private static readonly string FloorOnly = Feed.RegistryWith("\"reactiveMinStepVar\":1e9,\"chargerMinStepW\":1e8,\"chargerMaxStepW\":1e9");

    /// <summary>The signature off (no step is that big): the reactive hold and the night floor.</summary>
    private static readonly string NoSignature = Feed.RegistryWith("\"chargerMinStepW\":1e8,\"chargerMaxStepW\":1e9");

    private static Feed Run(double seconds, Func<double, (double P, double Q)> load, string? registry = null, Func<double, Feed, DetectionEngine>? carry = null) =>
        Run(0, seconds, load, registry ?? FloorOnly, carry: carry);

    /// <summary>
    /// Readings of m-0001 from <paramref name="from"/> to <paramref name="to"/> seconds after T0, every <paramref name="every"/>
    /// s, none where <paramref name="silent"/>; m-0002 keeps the stream's time. <paramref name="carry"/> may swap the engine
    /// at a reading (a save and restore).
    /// </summary>
    private static Feed Run(double from, double to, Func<double, (double P, double Q)> load, string registry, Func<double, bool>? silent = null, double every = 10, Func<double, Feed, DetectionEngine>? carry = null)
    {
        var feed = new Feed(registry);
        var noise = new Random(7);
        for (var s = from; s < to; s += every)
        {
            if (carry is not null)
            {
                feed.Engine = carry(s, feed);
            }

            var (p, q) = load(s);
            p = Math.Max(0, p + ((noise.NextDouble() - 0.5) * 2));
            if (silent?.Invoke(s) == true)
            {
                continue;
            }

            feed.Meter("m-0001", s, Math.Round(Math.Sqrt((p * p) + (q * q)) / 230, 2), Math.Round(p, 1));
            feed.Meter("m-0002", s + 5, 2, 460);
        }

        return feed;
    }

    private static string Local(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms).ToOffset(TimeSpan.FromHours(8)).ToString("HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture);

    private static long Ms(double seconds) => Feed.T0.AddSeconds(seconds).ToUnixTimeMilliseconds();

    /// <summary>A dwelling asleep: a router and standby loads, a fridge running 12 minutes in every 40.</summary>
    private static (double P, double Q) Household(double t) => (((t % 2400) + 2400) % 2400) < 720 ? (150, 85) : (60, 15);

    /// <summary>
    /// A 48 V pack on a 3.5 A charger: 210 W at a power factor of 0.8 (0.75 var a watt), rising 4%/h; switched on over
    /// <paramref name="rampS"/> (0: a step, as the step rules would see it).
    /// </summary>
    private static (double P, double Q) Charger(double t, double from, double until = double.PositiveInfinity, double rampS = 0)
    {
        if (t < from || t >= until)
        {
            return (0, 0);
        }

        var watts = 210 * (1 + (0.04 * (t - from) / Hour)) * (rampS > 0 ? Math.Min(1, (t - from) / rampS) : 1);
        return (watts, 0.75 * watts);
    }

    /// <summary>A second, smaller charger: 150 W, 112 var, a clean step (what the reactive hold calls).</summary>
    private static (double P, double Q) Small(double t, double from, double until) => t >= from && t < until ? (150, 112) : (0, 0);

    private static (double P, double Q) Add(params (double P, double Q)[] loads) => (loads.Sum(l => l.P), loads.Sum(l => l.Q));

    [Fact]
    public void A_charger_on_through_the_night_is_called_an_hour_after_midnight_and_cleared_when_unplugged()
    {
        var plugIn = 2 * Hour; // 22:00
        var unplug = LocalMidnight + (2.5 * Hour); // 02:30
        var feed = Run(LocalMidnight + (4 * Hour), t => Add(Household(t), Charger(t, plugIn, unplug)));

        var opened = Assert.Single(feed.Of(AlertType.IllegalCharging), t => t.Kind == TransitionKind.Opened).Alert;
        Assert.Equal(Severity.Warning, opened.Severity);
        Assert.Equal(ReactiveHold.NightFloorRuleId, opened.Evidence["rule"]);
        Assert.InRange((opened.OpenedAt - Feed.T0.AddSeconds(LocalMidnight + Hour)).TotalMinutes, -1, 3);
        Assert.InRange(opened.Evidence["stepVar"]!.Value, 150, 185); // the charger's Q by then (0.75 x 210-220 W)
        Assert.InRange(opened.Evidence["stepW"]!.Value, 190, 245);

        var cleared = Assert.Single(feed.Of(AlertType.IllegalCharging), t => t.Kind == TransitionKind.Cleared).Alert;
        Assert.InRange((cleared.ClearedAt!.Value - Feed.T0.AddSeconds(unplug)).TotalMinutes, 0, 15);
        Assert.Equal(ReactiveHold.NightFloorRuleId, cleared.Evidence["rule"]);
    }

    [Fact]
    public void A_charger_unplugged_before_the_floor_held_an_hour_after_midnight_is_not_called()
    {
        Assert.Empty(Run(LocalMidnight + (3 * Hour), t => Add(Household(t), Charger(t, 2 * Hour, LocalMidnight + (50 * 60)))).Opened);
    }

    [Fact]
    public void Loads_left_on_that_are_not_a_rectifier_are_not_called()
    {
        // An air-conditioner (0.25 var a watt), a TV left on (0.33), a laptop adapter (1.5), a heater (none).
        foreach (var (p, q) in new[] { (700.0, 175.0), (150.0, 50.0), (30.0, 45.0), (1000.0, 0.0) })
        {
            var feed = Run(LocalMidnight + (3 * Hour), t => Add(Household(t), t >= 2 * Hour ? (p, q) : (0, 0)));
            Assert.Empty(feed.Opened);
        }
    }

    [Fact]
    public void A_charger_already_on_when_the_evening_began_lifts_no_floor()
    {
        // The evening's lowest floor has the charger in it: the rule sees no rise (a charger plugged in before 18:00 is
        // left to the step rules).
        Assert.Empty(Run(LocalMidnight + (3 * Hour), t => Add(Household(t), Charger(t, 0))).Opened);
    }

    [Fact]
    public void A_site_without_a_time_zone_has_no_night_floor()
    {
        var registry = FloorOnly.Replace(",\"timeZone\":\"Asia/Shanghai\"", string.Empty, StringComparison.Ordinal);
        Assert.DoesNotContain("timeZone", registry, StringComparison.Ordinal);
        Assert.Empty(Run(LocalMidnight + (3 * Hour), t => Add(Household(t), Charger(t, 2 * Hour)), registry).Opened);
    }

    [Fact]
    public void A_charger_the_step_rules_found_this_evening_is_not_called_again_by_the_floor()
    {
        // All rules on: the charger plugged in alone at 22:00 is called within minutes. Whether or not a rule lets go of it
        // later in its taper, the night floor adds no second alert for the same night.
        var feed = Run(LocalMidnight + (4 * Hour), t => Add(Household(t), Charger(t, 2 * Hour)), Feed.RegistryJson);
        var opened = Assert.Single(feed.Opened);
        Assert.NotEqual(ReactiveHold.NightFloorRuleId, opened.Evidence["rule"]);
        Assert.InRange((opened.OpenedAt - Feed.T0.AddSeconds(2 * Hour)).TotalMinutes, 0, 20);
    }

    [Fact]
    public void A_restored_engine_calls_the_charger_as_one_never_saved()
    {
        var plugIn = 2 * Hour;
        var uninterrupted = Run(LocalMidnight + (2 * Hour), t => Add(Household(t), Charger(t, plugIn)));

        // Saved and restored every 21 minutes 10 s (mid-minute), through the evening's baseline and the run after midnight.
        var restored = Run(LocalMidnight + (2 * Hour), t => Add(Household(t), Charger(t, plugIn)), carry: (s, feed) =>
            s > 0 && s % 1270 == 0 ? DetectionEngine.Restore(feed.Registry, SavedStateTests.Save(feed.Engine.SaveState)) : feed.Engine);

        Assert.Single(uninterrupted.Opened);
        Assert.Equal(uninterrupted.Sink.Transitions, restored.Sink.Transitions);
    }

    [Theory]
    [InlineData("\"nightFloorFromHour\":6,\"nightFloorUntilHour\":0")] // the window would run from morning to midnight
    [InlineData("\"nightFloorUntilHour\":24")]
    public void Night_hours_out_of_order_are_a_registry_error(string thresholds)
    {
        var e = Assert.Throws<Registry.RegistryException>(() => Registry.RegistryLoader.Parse(Feed.RegistryWith(thresholds)));
        Assert.Contains("nightFloorFromHour", e.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// Review (stop 23), a defect since fixed: the night floor's call sets _lastCallEnd only to its own time (not the reactive call's hold + 6 h), so the
    /// reactive hold calls the next charger-like step and Call() overwrites _charge: the floor's charge is forgotten.
    /// When that second charger is unplugged the incident clears while the floor-called charger charges on, and the
    /// floor (done for the night) never raises it again: an illegal charger left on for hours with no open alert.
    /// </summary>
    [Fact]
    public void A_reactive_call_after_the_floor_call_does_not_take_over_and_end_its_charge()
    {
        var plugB = 2 * Hour;                    // 22:00, switched on over 30 minutes: no step for the reactive hold
        var unplugB = LocalMidnight + (5 * Hour); // 05:00
        var (plugC, unplugC) = (LocalMidnight + (1.5 * Hour), LocalMidnight + (2.7 * Hour)); // 01:30 .. 02:42
        var feed = Run(0, LocalMidnight + (5.5 * Hour), t => Add(Household(t), Charger(t, plugB, unplugB, 1800), Small(t, plugC, unplugC)), NoSignature);

        var opened = Assert.Single(feed.Of(AlertType.IllegalCharging), t => t.Kind == TransitionKind.Opened);
        Assert.Equal(ReactiveHold.NightFloorRuleId, opened.Alert.Evidence["rule"]);
        foreach (var cleared in feed.Of(AlertType.IllegalCharging).Where(t => t.Kind == TransitionKind.Cleared))
        {
            Assert.True(cleared.AtMs >= Ms(unplugB), $"cleared at {Local(cleared.AtMs)} with the floor's charger on until 05:00");
        }
    }

    /// <summary>
    /// Review (stop 23), a defect since fixed: the floor's call sets _lastCallEnd to its own time, so every reactive candidate held at that moment is
    /// dropped (Decide: c.Ts &lt; _lastCallEnd), though no step in the 90 minutes before the call can be the floor's
    /// charger (its floor must have stood an hour, over a 30-minute percentile). A second charger switched on at 00:50 is
    /// never called; its rise came before the floor charge's StepTs, so it is not among that charge's loads either. When
    /// the floor's charger is unplugged at 03:00 the incident clears, and the second charges on until 05:00 unalerted.
    /// </summary>
    [Fact]
    public void A_charger_switched_on_shortly_before_the_floor_call_is_not_dropped_by_it()
    {
        // B: 260 W / 195 var switched on over 30 minutes (no step) 22:00 .. 03:00; C: 150 W / 95 var, a clean step, 00:50 .. 05:00.
        // With the floor off, the reactive hold calls C at 01:06 and holds its incident until 05:08.
        var (plugB, unplugB) = (2 * Hour, LocalMidnight + (3 * Hour));
        var (plugC, unplugC) = (LocalMidnight + (50 * 60), LocalMidnight + (5 * Hour));
        static (double P, double Q) B(double t, double from, double until) => t >= from && t < until ? (260 * Math.Min(1, (t - from) / 1800), 195 * Math.Min(1, (t - from) / 1800)) : (0, 0);
        var feed = Run(0, LocalMidnight + (5.5 * Hour), t => Add(Household(t), B(t, plugB, unplugB), t >= plugC && t < unplugC ? (150, 95) : (0, 0)), NoSignature);

        var transitions = feed.Of(AlertType.IllegalCharging).ToList();
        Assert.Equal(ReactiveHold.NightFloorRuleId, transitions.First(t => t.Kind == TransitionKind.Opened).Alert.Evidence["rule"]);
        var firstClear = transitions.FirstOrDefault(t => t.Kind == TransitionKind.Cleared);
        var covered = firstClear is null || firstClear.AtMs >= Ms(unplugC)
            || transitions.Any(t => t.Kind == TransitionKind.Opened && t.AtMs > firstClear.AtMs && t.AtMs < Ms(unplugC));
        Assert.True(covered, $"cleared at {Local(firstClear?.AtMs ?? 0)} and not raised again, with charger C on until 05:00");
    }

    /// <summary>
    /// Review (stop 23), a defect since fixed: a floor charge's FromTs is the call itself and its Loads are empty, so a load already on at the call (a
    /// fridge-freezer's compressor, 155 W / 120 var, 0.68 of the charger's Q at its ratio) that switches off after it is
    /// taken for the charger's unplug: the incident clears minutes after the call with the charger still on for hours
    /// (a reactive call's hold, 12 minutes from the step, and its falls paired with rises since 20 minutes before the
    /// step, keep this from happening to its charges).
    /// </summary>
    [Fact]
    public void A_fridge_running_at_the_floor_call_that_stops_after_it_does_not_clear_the_charge()
    {
        // The compressor runs 12 minutes in every 40: 00:55-01:07, around the floor's call at about 01:00.
        static (double P, double Q) Fridge(double t) => t % 2400 is >= 900 and < 1620 ? (215, 135) : (60, 15);
        var (plugIn, unplug) = (2 * Hour, LocalMidnight + (5 * Hour));
        var feed = Run(0, LocalMidnight + (5.5 * Hour), t => Add(Fridge(t), Charger(t, plugIn, unplug)), FloorOnly);

        var opened = Assert.Single(feed.Of(AlertType.IllegalCharging), t => t.Kind == TransitionKind.Opened);
        Assert.Equal(ReactiveHold.NightFloorRuleId, opened.Alert.Evidence["rule"]);
        var cleared = Assert.Single(feed.Of(AlertType.IllegalCharging), t => t.Kind == TransitionKind.Cleared);
        Assert.True(cleared.AtMs >= Ms(unplug), $"cleared at {Local(cleared.AtMs)} with the charger on until 05:00");
    }

    /// <summary>
    /// Review (stop 23), a defect since fixed: the floor's call is used up (_done) when it comes while an incident opened before 18:00 is still open
    /// (README: the floor is kept off only by incidents opened since 18:00). Charger A, called by the reactive hold at
    /// 17:17, is unplugged at 01:30 and its incident clears; charger B, switched on at 22:00 where the reactive hold's
    /// 6-hour spacing drops it, charges on until 05:00 and is never alerted.
    /// </summary>
    [Fact]
    public void An_incident_open_from_before_the_evening_does_not_use_up_the_nights_floor_call()
    {
        var (plugA, unplugA) = (-3 * Hour, LocalMidnight + (1.5 * Hour)); // 17:00 .. 01:30
        var (plugB, unplugB) = (2 * Hour, LocalMidnight + (5 * Hour));    // 22:00 .. 05:00
        var feed = Run(-4 * Hour, LocalMidnight + (5.5 * Hour), t => Add(Household(t), Small(t, plugA, unplugA), Charger(t, plugB, unplugB, 1800)), NoSignature);

        var transitions = feed.Of(AlertType.IllegalCharging).ToList();
        var first = transitions.First(t => t.Kind == TransitionKind.Opened);
        Assert.True(first.AtMs < Ms(-2 * Hour), "charger A is called before 18:00");
        var clearedA = transitions.First(t => t.Kind == TransitionKind.Cleared);
        Assert.True(clearedA.AtMs < Ms(unplugB) - (2 * 3_600_000), $"A's incident clears at {Local(clearedA.AtMs)}");
        Assert.Contains(transitions, t => t.Kind == TransitionKind.Opened && t.AtMs > clearedA.AtMs && t.AtMs < Ms(unplugB));
    }

    /// <summary>
    /// Review (stop 23), a defect since fixed: the new thresholds are validated only for the order of the hours. A hold of 0 calls on the
    /// first qualifying minute (false alerts), a hold longer than the night's hours never calls (a silent off switch),
    /// and a rise of 0 var takes any drift of the floors at a charger's ratio for a charger. (Negative values are refused already.)
    /// </summary>
    [Theory]
    [InlineData("\"nightFloorHoldS\":0")]
    [InlineData("\"nightFloorHoldS\":25200")] // 7 h of qualifying minutes in a 6-hour window
    [InlineData("\"nightFloorMinVar\":0")]
    public void Night_floor_thresholds_that_cannot_work_are_a_registry_error(string thresholds)
    {
        Assert.Throws<Registry.RegistryException>(() => Registry.RegistryLoader.Parse(Feed.RegistryWith(thresholds)));
    }

    /// <summary>
    /// Review (stop 23), a defect since fixed: a gap over the offline limit (60 s) restarts the reactive rule's minutes and the floor's run, and the floor
    /// then needs 20 minutes of new minutes and 60 qualifying ones in a row: 80 minutes without a 61-second dropout. A meter
    /// on a link that drops two minutes of readings every hour never has its charger called, though the floors (30-minute
    /// percentiles over an hour-old baseline) are as good across a 2-minute hole as without it.
    /// </summary>
    [Fact]
    public void A_charger_on_all_night_is_called_on_a_meter_that_drops_two_minutes_of_readings_an_hour()
    {
        var (plugIn, unplug) = (2 * Hour, LocalMidnight + (6 * Hour));
        static bool Dropout(double t) => t > 3 * Hour && (t - (3 * Hour)) % Hour < 120; // 23:00-23:02, 00:00-00:02, ...
        var feed = Run(0, LocalMidnight + (6 * Hour), t => Add(Household(t), Charger(t, plugIn, unplug)), FloorOnly, Dropout);
        var opened = Assert.Single(feed.Of(AlertType.IllegalCharging), t => t.Kind == TransitionKind.Opened);
        Assert.Equal(ReactiveHold.NightFloorRuleId, opened.Alert.Evidence["rule"]);
    }

    /// <summary>
    /// Review (stop 23), a defect since fixed: the floor counts its hold and its 20-minute least in closed "minutes", which are 6 readings: a minute only
    /// for a 10-second meter. For a meter reporting every 30 s a 30-minute window holds 10 of them (under 20): the floor
    /// never forms and a charger left on all night is never called; every 5 s, the hour's hold is half an hour.
    /// </summary>
    [Theory]
    [InlineData(30)]
    [InlineData(5)]
    public void The_hold_is_an_hour_of_event_time_whatever_the_report_interval(int every)
    {
        var registry = FloorOnly.Replace("{\"deviceId\":\"m-0001\",\"siteId\":\"xihu-wutong\",\"kind\":\"meter\",\"circuit\":\"dwelling\",\"ratedCurrentA\":40,\"reportIntervalS\":10}",
            $"{{\"deviceId\":\"m-0001\",\"siteId\":\"xihu-wutong\",\"kind\":\"meter\",\"circuit\":\"dwelling\",\"ratedCurrentA\":40,\"reportIntervalS\":{every}}}", StringComparison.Ordinal);
        Assert.Contains($"\"reportIntervalS\":{every}", registry, StringComparison.Ordinal);
        var feed = Run(0, LocalMidnight + (4 * Hour), t => Add(Household(t), Charger(t, 2 * Hour)), registry, every: every);
        var opened = Assert.Single(feed.Of(AlertType.IllegalCharging), t => t.Kind == TransitionKind.Opened);
        Assert.InRange((opened.AtMs - Ms(LocalMidnight + Hour)) / 60_000.0, -1, 5); // an hour after 00:00
    }

    /// <summary>
    /// Defect (evidence): a floor charge's StepTs is the call itself, so its clear reports chargedS from the call (an hour
    /// or more after the floor rose, 1.5-2.5 h after the plug-in), not from the rise: a charger on 22:00-02:30 is reported
    /// as charged 1.5 h. The floor's rise had stood at least the hold (from 00:00) when it was called.
    /// </summary>
    [Fact]
    public void A_floor_charges_cleared_evidence_counts_the_charge_from_the_rise_not_from_the_call()
    {
        var (plugIn, unplug) = (2 * Hour, LocalMidnight + (2.5 * Hour));
        var feed = Run(0, LocalMidnight + (4 * Hour), t => Add(Household(t), Charger(t, plugIn, unplug)), FloorOnly);
        var cleared = Assert.Single(feed.Of(AlertType.IllegalCharging), t => t.Kind == TransitionKind.Cleared);
        Assert.True(cleared.Alert.Evidence["chargedS"] >= unplug - LocalMidnight, $"chargedS {cleared.Alert.Evidence["chargedS"]} for a floor risen before 00:00 and unplugged at 02:30");
    }
}
