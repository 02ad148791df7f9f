using SmartPower.Alerts;
using SmartPower.Detection;

namespace SmartPower.Tests;

/// <summary>
/// The night floor (<see cref="NightFloor"/>): a charger left on after midnight in a dwelling, found from the rise of the
/// circuit's floor of non-active power over the evening's lowest, where neither rule saw it switch on. The step rules are
/// turned off here (no step is that big), so what calls is the floor alone. The feed starts at 20:00 in the site's time
/// zone (Asia/Shanghai), readings every 10 s, the current rounded to 0.01 A as meters send it.
/// </summary>
public sealed class NightFloorTests
{
    private const double Hour = 3600;
    private const double LocalMidnight = 4 * Hour; // Feed.T0 is 20:00 local

    private static readonly string FloorOnly = Feed.RegistryWith("\"reactiveMinStepVar\":1e9,\"chargerMinStepW\":1e8,\"chargerMaxStepW\":1e9");

    private static Feed Run(double seconds, Func<double, (double P, double Q)> load, string? registry = null, Func<double, Feed, DetectionEngine>? carry = null)
    {
        var feed = new Feed(registry ?? FloorOnly);
        var noise = new Random(7);
        for (var s = 0.0; s < seconds; s += 10)
        {
            if (carry is not null)
            {
                feed.Engine = carry(s, feed);
            }

            var (p, q) = load(s);
            p = Math.Max(0, p + ((noise.NextDouble() - 0.5) * 2));
            feed.Meter("m-0001", s, Math.Round(Math.Sqrt((p * p) + (q * q)) / 230, 2), Math.Round(p, 1));
            feed.Meter("m-0002", s + 5, 2, 460);
        }

        return feed;
    }

    /// <summary>A dwelling asleep: a router and standby loads, a fridge running 12 minutes in every 40.</summary>
    private static (double P, double Q) Household(double t) => t % 2400 < 720 ? (150, 85) : (60, 15);

    /// <summary>A 48 V pack on a 3.5 A charger: 210 W at a power factor of 0.8 (0.75 var a watt), rising 4%/h.</summary>
    private static (double P, double Q) Charger(double t, double from, double until = double.PositiveInfinity)
    {
        if (t < from || t >= until)
        {
            return (0, 0);
        }

        var watts = 210 * (1 + (0.04 * (t - from) / Hour));
        return (watts, 0.75 * watts);
    }

    private static (double P, double Q) Add((double P, double Q) a, (double P, double Q) b) => (a.P + b.P, a.Q + b.Q);

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
}
