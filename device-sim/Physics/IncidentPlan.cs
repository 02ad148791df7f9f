using System.Globalization;
using SmartPower.DeviceSim.Simulation;
using SmartPower.DeviceSim.Truth;

namespace SmartPower.DeviceSim.Physics;

/// <summary>
/// Plans the night's hazards and the deliberate look-alikes onto devices. Each hazard gets a device of its
/// own (so they never mask each other), a time drawn from when such things happen in a residential
/// compound, and the physical cause that produces it (a charger, a bank of heaters, a loose terminal...).
/// </summary>
internal sealed class IncidentPlan
{
    private readonly int _seed;
    private readonly NightClock _clock;
    private readonly DateTimeOffset _start;
    private readonly bool _lookAlikes;
    private readonly IncidentCounts _counts;
    private readonly int _dwellingCount;
    private readonly int _commonCount;
    private readonly List<MeterDevice> _dwellings;
    private readonly List<MeterDevice> _commons;
    private readonly List<PileDevice> _piles;
    private readonly Rng _plan;

    /// <param name="planStream">The name of the random stream that shuffles the site's devices ("scenario" for the first site).</param>
    public IncidentPlan(int seed, string planStream, NightClock clock, DateTimeOffset start, bool lookAlikes, IncidentCounts counts,
        List<MeterDevice> dwellings, List<MeterDevice> commons, List<PileDevice> piles)
    {
        _counts = counts;
        _seed = seed;
        _clock = clock;
        _start = start;
        _lookAlikes = lookAlikes;
        _dwellingCount = dwellings.Count;
        _commonCount = commons.Count;
        _plan = Rng.For(seed, planStream);
        _dwellings = [.. dwellings];
        _commons = [.. commons];
        _piles = piles;
        _plan.Shuffle(_dwellings);
        _plan.Shuffle(_commons);
    }

    private double S(double h) => _clock.S(h);

    private DateTimeOffset At(double t) => _start.AddMilliseconds(Math.Round(Math.Clamp(t, 0, _clock.DurationS) * 1000));

    private MeterDevice? TakeDwelling(Func<MeterDevice, bool>? fits = null)
    {
        var i = _dwellings.FindIndex(m => fits is null || fits(m));
        if (i < 0)
        {
            i = _dwellings.Count > 0 ? 0 : -1;
        }

        if (i < 0)
        {
            return null;
        }

        var m = _dwellings[i];
        _dwellings.RemoveAt(i);
        return m;
    }

    private MeterDevice? TakeCommon()
    {
        if (_commons.Count == 0)
        {
            return null;
        }

        var m = _commons[0];
        _commons.RemoveAt(0);
        return m;
    }

    /// <summary>A start time at local hour in [hLo, hHi], moved inside the night if that leaves too little room.</summary>
    private double When(Rng r, double hLo, double hHi, double needS)
    {
        var t = S(r.Uniform(hLo, hHi));
        var lo = Math.Min(300, _clock.DurationS * 0.05);
        var hi = _clock.DurationS - needS - lo;
        if (hi <= lo)
        {
            hi = Math.Max(lo, _clock.DurationS * 0.5);
        }

        return t < lo || t > hi ? r.Uniform(lo, hi) : t;
    }

    private static IEnumerable<Interval> Busy(DeviceBase d) => d.Injected.Values.SelectMany(x => x);

    private static void Suppress(MeterDevice m, Interval window)
    {
        foreach (var load in m.Loads.Where(l => l.Heavy))
        {
            load.Suppressed.Add(window);
        }
    }

    public void InjectIncidents()
    {
        IllegalCharging();
        Overloads();
        PortOverpower();
        Leakage();
        OverTemperature();
        ArcFaults();
        Offline();
    }

    /// <summary>E-bike chargers carried indoors or run off a flying lead in the stairwell.</summary>
    private void IllegalCharging()
    {
        var n = _counts.IllegalChargingDwellings ?? Math.Max(1, (int)Math.Round(_dwellingCount / 6.0));
        for (var i = 0; i < n; i++)
        {
            if (TakeDwelling() is not { } m)
            {
                break;
            }

            var r = Rng.For(_seed, $"{m.DeviceId}/illegal-charging");
            var (lo, hi) = r.Weighted(0.6, 0.25, 0.15) switch
            {
                0 => (19.0, 22.5),
                1 => (22.5, 25.0),
                _ => (25.0, 27.0),
            };
            var a = When(r, lo, hi, 3600);
            var charger = EbikeCharger.Household(r);
            var unplug = r.Weighted(0.6, 0.25, 0.15) switch
            {
                0 => S(r.Uniform(30, 31.5)),
                1 => a + charger.DoneS + (r.Uniform(0.2, 1.5) * 3600),
                _ => a + (r.Uniform(1.5, 3) * 3600),
            };
            var note = $"indoors: {charger.Pack}, {charger.PeakW:F0} W peak";
            if (_lookAlikes)
            {
                note += Coincidence(m, r, i, a);
            }

            AddCharger(m, r, charger, a, unplug, note);
        }

        var nCommon = Math.Min(_commons.Count, Math.Max(3, (int)Math.Round(_commonCount * 4 / 6.0)));
        nCommon = Math.Min(nCommon, Math.Max(0, _commons.Count - 2)); // keep two common circuits for other hazards
        if (_commonCount >= 3)
        {
            nCommon = Math.Max(nCommon, Math.Min(3, _commons.Count));
        }

        if (_counts.IllegalChargingCommonAreas is { } wanted)
        {
            nCommon = Math.Min(wanted, _commons.Count);
        }

        for (var i = 0; i < nCommon; i++)
        {
            if (TakeCommon() is not { } m)
            {
                break;
            }

            var r = Rng.For(_seed, $"{m.DeviceId}/illegal-charging");
            var a = r.Chance(0.6) ? When(r, 19, 23, 3600) : When(r, 23, 26, 3600);
            var charger = EbikeCharger.Household(r);
            var unplug = r.Chance(0.8) ? S(r.Uniform(30, 31.5)) : a + charger.DoneS + (r.Uniform(0.2, 1) * 3600);
            AddCharger(m, r, charger, a, unplug, $"flying lead in the common area: {charger.Pack}, {charger.PeakW:F0} W peak");
        }
    }

    private void AddCharger(MeterDevice m, Rng r, EbikeCharger charger, double a, double unplug, string note)
    {
        m.Loads.Add(new ChargerLoad("ebike-charger", charger, a, unplug, r) { LeakMa = 0.5 });

        // Lithium chargers cut off when done (the charging stops); lead-acid ones float until unplugged.
        var end = charger.Lithium ? Math.Min(unplug, a + charger.DoneS) : unplug;
        m.InjectedFor("illegal-charging").Add(new Interval(a, end));
        m.FixedIncidents.Add(new GroundTruthIncident("illegal-charging", m.DeviceId, null, At(a), At(end)) { Note = note });
    }

    /// <summary>Another appliance switching in the same instant as the charger is plugged in.</summary>
    private string Coincidence(MeterDevice m, Rng r, int i, double a)
    {
        switch (i % 5)
        {
            case 1:
                {
                    var w = r.Uniform(650, 900);
                    var rice = new SeriesLoad("rice-cooker", 1.0, StepSeries.FromIntervals([(new Interval(a - 1800, a), w)]), r, resistive: true)
                    { LookAlike = "coincident-switch" };
                    rice.Planned.Add(new Interval(a - 1800, a));
                    m.Loads.Add(rice);
                    return $"; a {w:F0} W rice cooker switches off in the same instant";
                }

            case 3:
                {
                    var w = r.Uniform(1500, 1800);
                    var run = new Interval(a, a + (r.Uniform(2, 4) * 60));
                    var kettle = new SeriesLoad("kettle", 1.0, StepSeries.FromIntervals([(run, w)]), r, resistive: true)
                    { LookAlike = "coincident-switch" };
                    kettle.Planned.Add(run);
                    m.Loads.Add(kettle);
                    return $"; a {w:F0} W kettle switches on in the same instant";
                }

            case 4:
                {
                    var w = r.Uniform(80, 150);
                    m.Loads.Add(new TvLoad("bedroom-tv", r, [new Interval(a, a + (r.Uniform(1, 2.5) * 3600))], w) { LookAlike = "coincident-switch" });
                    return $"; a {w:F0} W bedroom TV switches on in the same instant";
                }

            default:
                return "";
        }
    }

    /// <summary>
    /// Heater + water heater + cooker + AC together: stage one (water heater, AC) goes on, a few minutes later
    /// the resistive bank (space heaters, oven, hob) takes the circuit over its rating; warning episodes sit
    /// at 1.12-1.35x for 20-60 min, critical ones at 1.5-1.75x for 10-30 min. The breaker is assumed not to
    /// trip (oversized or failed), which is the situation the monitoring exists for.
    /// </summary>
    private void Overloads()
    {
        var n = _counts.Overloads ?? Math.Max(2, (int)Math.Round(_dwellingCount / 15.0));
        for (var i = 0; i < n; i++)
        {
            if (TakeDwelling(m => m.RatedA <= 40) is not { } m)
            {
                break;
            }

            var critical = i % 2 == 1;
            var r = Rng.For(_seed, $"{m.DeviceId}/overload");
            var ratio = critical ? r.Uniform(1.5, 1.75) : r.Uniform(1.12, 1.35);
            var a0 = When(r, 18.5, 22.5, 2.5 * 3600);
            var s2 = new Interval(a0 + (r.Uniform(3, 12) * 60), 0);
            s2 = s2 with { B = s2.A + ((critical ? r.Uniform(10, 30) : r.Uniform(20, 60)) * 60) };
            var s1b = s2.B + (r.Uniform(5, 20) * 60);
            var stage1 = new Interval(a0, s1b);
            var wh = m.RatedA <= 32 ? r.Uniform(1500, 1800) : r.Uniform(1800, 2500);
            var ac = r.Uniform(1000, 1400);
            m.Loads.Add(new SeriesLoad("water-heater", 1.0, StepSeries.FromIntervals([(stage1, wh)]), r, resistive: true));
            m.Loads.Add(new SeriesLoad("air-conditioner", 0.97, StepSeries.FromIntervals([(stage1, ac)]), r, noise: 0.02));
            m.TopUps.Add(new TopUpLoad("space-heaters+oven+hob", s2, ratio, m.RatedA, r));
            Suppress(m, new Interval(a0 - 60, s1b + 60));
            m.InjectedFor("overload").Add(new Interval(a0, s1b + 600));
            var rated = m.RatedA;
            m.Trackers.Add(new ThresholdTracker("overload", null, new Interval(s2.A - 60, s2.B + 120), x => x.CurrentA > rated,
                string.Create(CultureInfo.InvariantCulture, $"{(critical ? "critical" : "warning")}: {ratio:F2}x of {rated} A (water heater + AC + space heaters/oven/hob)")));
        }
    }

    /// <summary>A modified (over-capacity) pack on a pile port drawing 500-900 W for tens of minutes.</summary>
    private void PortOverpower()
    {
        if (_piles.Count == 0)
        {
            return;
        }

        var n = _counts.PortOverpower ?? (_piles.Count >= 2 ? _piles.Count : 2);
        for (var i = 0; i < n; i++)
        {
            var pile = _piles[i % _piles.Count];
            var r = Rng.For(_seed, $"{pile.DeviceId}/overpower-{i}");
            var charger = EbikeCharger.Modified(r);
            var a = When(r, 19.5, 25, 2.5 * 3600);
            var b = a + (r.Uniform(60, 120) * 60);
            var port = r.Int(0, pile.PortCount);
            for (var k = 0; k < pile.PortCount && pile.Ports[port].Any(x => x.SessionId.StartsWith("x-", StringComparison.Ordinal) && new Interval(x.PlugIn - 600, x.Unplug + 600).Overlaps(new Interval(a, b))); k++)
            {
                port = (port + 1) % pile.PortCount; // never two modified packs on one port at once
            }

            if (pile.Ports[port].Any(x => x.SessionId.StartsWith("x-", StringComparison.Ordinal) && new Interval(x.PlugIn - 600, x.Unplug + 600).Overlaps(new Interval(a, b))))
            {
                // Every port has one then (a pile of one port): removing it left its tracker labelling this pack's
                // readings, the same incident twice in the truth (review). No second pack on this pile at this time.
                continue;
            }

            pile.Ports[port].RemoveAll(s => new Interval(s.PlugIn - 600, s.Unplug + 600).Overlaps(new Interval(a, b)));
            pile.Ports[port].Add(new PortSession(a, b, charger, $"x-{pile.DeviceId[2..]}{port + 1:00}-{i + 1}"));
            pile.InjectedFor($"port-overpower/{port + 1}").Add(new Interval(a, b));
            var max = pile.PortMaxW;
            var portNo = port + 1;
            var j = port;
            pile.Trackers.Add(new ThresholdTracker("port-overpower", portNo, new Interval(a, b), x => x.PortW[j] > max,
                string.Create(CultureInfo.InvariantCulture, $"modified {charger.Pack}, {charger.PeakW:F0} W peak")));
        }
    }

    /// <summary>
    /// Insulation breakdown from water ingress: a critical one rising past 300 mA (the GB 14287 residual-current
    /// fire-alarm range; many older circuits have no 30 mA RCD), a warning one held at 130-220 mA.
    /// </summary>
    private void Leakage()
    {
        for (var k = 0; k < (_counts.Leakage ?? 3); k++)
        {
            switch (k % 3)
            {
                case 0 when TakeDwelling() is { } crit:
                    {
                        var r = Rng.For(_seed, $"{crit.DeviceId}/leakage");
                        AddLeak(crit, r, When(r, 19, 24, 5400), r.Uniform(10, 25) * 60, r.Uniform(5, 20) * 60, r.Uniform(320, 480), "critical: washing-machine socket on the balcony, water ingress");
                        break;
                    }

                case 1 when (TakeCommon() ?? TakeDwelling()) is { } warn:
                    {
                        var r = Rng.For(_seed, $"{warn.DeviceId}/leakage");
                        AddLeak(warn, r, When(r, 19, 25, 5400), r.Uniform(3, 8) * 60, r.Uniform(15, 35) * 60, r.Uniform(130, 220), "warning: damp junction box");
                        break;
                    }

                case 2 when k / 3 < _piles.Count:
                    {
                        // Each pile once, from the last: a second leak on one pile would repeat its random stream,
                        // the same incident twice in the truth.
                        var pile = _piles[^(1 + (k / 3))];
                        var r = Rng.For(_seed, $"{pile.DeviceId}/leakage");
                        AddLeak(pile, r, When(r, 20, 26, 5400), r.Uniform(5, 10) * 60, r.Uniform(15, 30) * 60, r.Uniform(120, 200), "warning: rain in a socket of the shed");
                        break;
                    }
            }
        }
    }

    private static void AddLeak(DeviceBase d, Rng r, double a, double ramp, double hold, double peak, string note)
    {
        var when = new Interval(a, a + ramp + hold);
        d.Leaks.Add(new LeakageFault(when, peak, ramp, r));
        d.InjectedFor("leakage").Add(when);
        d.Trackers.Add(new ThresholdTracker("leakage", null, new Interval(a, when.B + 60), x => x.LeakMa >= HazardThresholds.LeakageWarningMa,
            string.Create(CultureInfo.InvariantCulture, $"{note}, peak {peak:F0} mA")));
    }

    /// <summary>Loose terminals heating under a long heater load; two settle near 76-82 C, one near 90-96 C.</summary>
    private void OverTemperature()
    {
        for (var i = 0; i < (_counts.Overtemperature ?? 3); i++)
        {
            if (TakeDwelling() is not { } m)
            {
                break;
            }

            var r = Rng.For(_seed, $"{m.DeviceId}/overtemperature");
            var ramp = r.Uniform(15, 25) * 60;
            var a = When(r, 19, 24.5, 2.5 * 3600);
            var b = a + ramp + (r.Uniform(30, 50) * 60);
            var target = i % 3 == 2 ? r.Uniform(90, 96) : r.Uniform(76, 82);
            var heater = new Interval(a - 600, b);
            m.Loads.Add(new SeriesLoad("oil-heater", 1.0, StepSeries.FromIntervals([(heater, r.Uniform(1800, 2200))]), r, resistive: true));
            Suppress(m, new Interval(a - 600, b + 1800));
            m.Terminals.Add(new LooseTerminal(new Interval(a, b), ramp, target));
            m.InjectedFor("overtemperature").Add(new Interval(a, b + 2400));
            m.Trackers.Add(new ThresholdTracker("overtemperature", null, new Interval(a, b + 2400), x => x.TempC > HazardThresholds.OverTemperatureC,
                string.Create(CultureInfo.InvariantCulture, $"{(target > 85 ? "critical" : "warning")}: loose terminal under a heater, settling near {target:F0} C")));
        }
    }

    /// <summary>A heater on a damaged cord arcing a few times over a few minutes.</summary>
    private void ArcFaults()
    {
        for (var i = 0; i < (_counts.ArcFaults ?? 3); i++)
        {
            var m = i % 3 == 2 ? TakeCommon() ?? TakeDwelling() : TakeDwelling();
            if (m is null)
            {
                break;
            }

            var r = Rng.For(_seed, $"{m.DeviceId}/arc-fault");
            var a = When(r, 19, 25, 5400);
            var dur = r.Uniform(2, 6) * 60;
            var count = r.Int(3, 7);
            var slot = dur / count;
            var arcs = Enumerable.Range(0, count).Select(k => a + (slot * (k + 0.5 + r.Uniform(-0.3, 0.3)))).ToArray();
            var on = new Interval(a - (r.Uniform(10, 30) * 60), a + dur + (r.Uniform(5, 30) * 60));
            var heater = new ArcingHeaterLoad("heater-damaged-cord", r, on, m.RatedA <= 16 ? r.Uniform(1000, 1500) : r.Uniform(1200, 2000), arcs, new Interval(a, a + dur));
            m.Loads.Add(heater);
            m.ArcLoads.Add(heater);
            m.InjectedFor("arc-fault").Add(new Interval(a, a + dur));
            m.Trackers.Add(new ThresholdTracker("arc-fault", null, new Interval(a - 1, a + dur + m.Spec.ReportIntervalS + 1), x => x.Arc,
                string.Create(CultureInfo.InvariantCulture, $"{count} arcs from a heater's damaged cord over {dur / 60:F1} min")));
        }
    }

    /// <summary>Uplink lost for 12-40 minutes (router reboot, 4G dropout); readings taken meanwhile are lost.</summary>
    private void Offline()
    {
        for (var n = 0; n < (_counts.Offline ?? 3); n++)
        {
            DeviceBase? d = (n % 3) switch
            {
                0 => TakeDwelling(),
                1 => n / 3 < _piles.Count ? _piles[n / 3] : TakeDwelling(), // each pile once, as for leakage
                _ => TakeCommon() ?? TakeDwelling(),
            };
            if (d is null)
            {
                continue;
            }

            var r = Rng.For(_seed, $"{d.DeviceId}/offline");
            var gap = r.Uniform(12, 40) * 60;
            var a = When(r, 19, 27, 3600);

            // A silent device would hide its other hazards: keep the outage clear of them (a pile may carry several).
            for (var k = 0; k < 50 && Busy(d).Any(b => new Interval(b.A - 900, b.B + 900).Overlaps(new Interval(a, a + gap))); k++)
            {
                a = When(r, 19, 29, 3600);
            }

            d.Offline.Add(new Interval(a, a + gap));
        }
    }

    /// <summary>
    /// Look-alikes that do not happen by themselves often enough: an hour just under the breaker rating with
    /// booster-pump inrush spikes crossing it for one reading, and pile chargers with a start overshoot.
    /// </summary>
    public void AddSpecialLookAlikes()
    {
        for (var i = 0; i < 2; i++)
        {
            if (TakeDwelling(m => m.RatedA <= 40) is not { } m)
            {
                break;
            }

            var r = Rng.For(_seed, $"{m.DeviceId}/near-rating");
            var a = When(r, 19, 23, 5400);
            var window = new Interval(a, a + (r.Uniform(60, 70) * 60));
            m.TopUps.Add(new TopUpLoad("near-rating-load", window, r.Uniform(0.9, 0.92), m.RatedA, r) { LookAlike = "near-rating-load" });
            Suppress(m, new Interval(a - 60, window.B + 60));
            var runs = new List<Interval>();
            foreach (var offsetMin in new[] { r.Uniform(10, 25), r.Uniform(35, 55) })
            {
                var s = a + (offsetMin * 60);
                runs.Add(new Interval(s, s + r.Uniform(60, 180)));
                m.ExtraLookAlikes.Add(new LookAlike("inrush-spike", m.DeviceId, null, At(s), At(s + m.Spec.ReportIntervalS)));
            }

            m.Loads.Add(new PumpLoad("booster-pump", r, runs, r.Uniform(250, 370), r.Uniform(6, 8)));
        }

        foreach (var pile in _piles)
        {
            var r = Rng.For(_seed, $"{pile.DeviceId}/start-transient");
            var candidates = pile.Ports.SelectMany((list, j) => list.Select(s => (s, j)))
                .Where(x => !x.s.SessionId.StartsWith("x-", StringComparison.Ordinal) && x.s.PlugIn > 0 && x.s.PlugIn < _clock.DurationS)
                .ToList();
            for (var k = r.Int(1, 3); k > 0 && candidates.Count > 0; k--)
            {
                var pick = r.Int(0, candidates.Count);
                var (s, j) = candidates[pick];
                candidates.RemoveAt(pick);
                var factor = r.Uniform(430, 650) / (s.Charger.PeakW * 0.95);
                pile.Ports[j][pile.Ports[j].IndexOf(s)] = new PortSession(s.PlugIn, s.Unplug, s.Charger.WithStartTransient(factor), s.SessionId);
                pile.ExtraLookAlikes.Add(new LookAlike("pile-start-transient", pile.DeviceId, j + 1, At(s.PlugIn), At(s.PlugIn + pile.Spec.ReportIntervalS)));
            }
        }
    }
}
