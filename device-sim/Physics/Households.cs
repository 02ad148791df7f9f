namespace SmartPower.DeviceSim.Physics;

/// <summary>
/// Ordinary appliance use on dwelling and common-area circuits, on a late-November evening in Hangzhou
/// (local time, Asia/Shanghai). Appliance sizes are chosen per breaker rating so that a household's own
/// appliances, however they coincide, stay below the rating (a household that trips its breaker every
/// evening buys a bigger one); over-rating episodes are injected deliberately.
/// </summary>
internal static class Households
{
    public static void Dwelling(MeterDevice m, int seed, NightClock clock, bool lookAlikes)
    {
        var id = m.DeviceId;
        Rng R(string what) => Rng.For(seed, $"{id}/{what}");
        var r = R("household");
        var rated = m.RatedA;
        var small = rated <= 32;
        var large = rated >= 63;

        m.Loads.Add(new StandbyLoad("standby", r.Uniform(10, 60), r.Uniform(0.85, 0.95), R("standby")) { LeakMa = 0.8 });
        if (lookAlikes)
        {
            m.Loads.Add(new FridgeLoad("fridge", r.Uniform(90, 180), R("fridge"), clock) { LookAlike = "fridge", LeakMa = 0.3 });
        }

        if (r.Chance(0.07))
        {
            return; // nobody home tonight: standby and the fridge only
        }

        var arrival = r.Chance(0.5) ? 17.0 : r.Uniform(18.0, 20.8);
        var bedtime = r.NormalClamped(23.2, 0.7, 21.8, 25.5);
        var wake = r.Uniform(29.5, 31.0);
        double S(double h) => clock.S(h);

        // LED lighting: 3-8 fittings of 5-40 W; someone switches one on or off every ~12 minutes while awake.
        var lamps = Enumerable.Range(0, r.Int(3, 9)).Select(_ => 5.0 * r.Int(1, 9)).ToArray();
        var lit = new bool[lamps.Length];
        var changes = new List<(double, double)>();
        var lr = R("lights");
        var awake = Math.Max(arrival, 17.3);
        lit[0] = true;
        changes.Add((S(awake), lamps[0]));
        for (var h = awake + lr.Exponential(0.2); h < bedtime; h += lr.Exponential(0.2))
        {
            var k = lr.Int(0, lamps.Length);
            lit[k] = !lit[k];
            if (!lit.Any(x => x))
            {
                lit[(k + 1) % lamps.Length] = true;
            }

            changes.Add((S(h), lamps.Where((_, i) => lit[i]).Sum()));
        }

        changes.Add((S(bedtime), 0));
        for (var n = lr.Int(0, 3); n > 0; n--)
        {
            var h = lr.Uniform(bedtime + 0.5, wake);
            var w = 5.0 * lr.Int(1, 4);
            changes.Add((S(h), w));
            changes.Add((S(h) + lr.Uniform(120, 360), 0));
        }

        changes.Add((S(wake), lamps[0] + lamps[^1]));
        m.Loads.Add(new SeriesLoad("lighting", 0.9, new StepSeries(changes), lr, noise: 0.002) { LeakMa = 0.1 });

        // Inverter air conditioner in heating mode (outdoor ~8-12 C).
        if (r.Chance(0.55))
        {
            var ar = R("ac");
            var maxW = small ? ar.Uniform(900, 1200) : ar.Uniform(1000, 1500);
            var on = Math.Max(18.0, arrival + ar.Uniform(0, 0.5));
            var off = ar.Chance(0.12) ? wake : bedtime - ar.Uniform(0, 0.5);
            m.Loads.Add(new InverterAcLoad("air-conditioner", ar, [new Interval(S(on), S(off))], maxW, ar.Uniform(400, Math.Min(800, maxW * 0.7)))
            { Heavy = true, LookAlike = lookAlikes ? "air-conditioner" : null, LeakMa = 0.5 });
        }

        if (!lookAlikes)
        {
            return;
        }

        // Television all evening.
        if (r.Chance(0.75))
        {
            var tr = R("tv");
            var on = Math.Max(arrival, tr.Uniform(18.8, 20.0));
            var off = bedtime - tr.Uniform(0, 1.0);
            var sessions = new List<Interval>();
            if (tr.Chance(0.3) && off - on > 2)
            {
                var gap = tr.Uniform(on + 0.5, off - 1.0);
                sessions.Add(new Interval(S(on), S(gap)));
                sessions.Add(new Interval(S(gap + tr.Uniform(0.2, 0.5)), S(off)));
            }
            else
            {
                sessions.Add(new Interval(S(on), S(off)));
            }

            m.Loads.Add(new TvLoad("tv", tr, sessions, tr.Uniform(60, 200)) { LookAlike = "tv", LeakMa = 0.3 });
        }

        // Dinner: induction hob and/or rice cooker.
        var cooking = new Interval(double.NaN, double.NaN);
        if (r.Chance(0.7))
        {
            var cr = R("cooking");
            var startH = Math.Max(arrival + cr.Uniform(0.1, 0.6), cr.Uniform(18.0, 19.5));
            var a = S(startH);
            var b = a + (cr.Uniform(15, 45) * 60);
            cooking = new Interval(a - 2400, b + 300);
            if (cr.Chance(0.5))
            {
                var cookA = a - (cr.Uniform(10, 30) * 60);
                var cook = new Interval(cookA, cookA + (cr.Uniform(25, 40) * 60));
                m.Loads.Add(new RiceCookerLoad("rice-cooker", cr, cook, cook.B + (cr.Uniform(1, 3) * 3600), small ? cr.Uniform(600, 800) : cr.Uniform(700, 1000))
                { Heavy = true, LookAlike = "cooker" });
            }

            if (cr.Chance(0.75))
            {
                m.Loads.Add(new InductionLoad("induction-hob", cr, [new Interval(a, b)], small ? 1600 : 2000)
                { Heavy = true, LookAlike = "cooker", LeakMa = 0.4 });
            }
        }

        // Kettle, never while the hob is in use.
        if (r.Chance(0.4))
        {
            var kr = R("kettle");
            var w = small ? kr.Uniform(1500, 1800) : kr.Uniform(1800, 2200);
            var runs = new List<(Interval, double)>();
            for (var n = kr.Int(1, 4); n > 0; n--)
            {
                var a = S(kr.Uniform(19.0, Math.Max(19.5, bedtime)));
                var run = new Interval(a, a + (kr.Uniform(2, 5) * 60));
                if (!double.IsNaN(cooking.A) && run.Overlaps(cooking))
                {
                    continue;
                }

                runs.Add((run, w));
            }

            var kettle = new SeriesLoad("kettle", 1.0, StepSeries.FromIntervals(runs), kr, resistive: true)
            { Heavy = true, LookAlike = "kettle" };
            kettle.Planned.AddRange(runs.Select(x => x.Item1));
            m.Loads.Add(kettle);
        }

        // Storage water heater with showers in the evening; some only heat on the 22:00-08:00 valley tariff.
        if (r.Chance(0.7))
        {
            var wr = R("water-heater");
            var w = small ? wr.Uniform(1500, 1800) : large ? wr.Uniform(2000, 3000) : wr.Uniform(1500, 2500);
            var draws = new List<(Interval, double)>();
            for (var n = wr.Int(1, 4); n > 0; n--)
            {
                var a = S(wr.Uniform(20.0, Math.Max(20.3, bedtime - 0.2)));
                draws.Add((new Interval(a, a + (wr.Uniform(6, 15) * 60)), wr.Uniform(6, 9)));
            }

            if (!double.IsNaN(cooking.A))
            {
                draws.Add((new Interval(cooking.B + 600, cooking.B + 600 + (wr.Uniform(3, 8) * 60)), 2.0));
            }

            Interval? valley = wr.Chance(0.3) ? new Interval(S(22), S(32)) : null;
            m.Loads.Add(new WaterHeaterLoad("water-heater", wr, w, wr.Uniform(40, 80), draws, valley)
            { Heavy = true, LookAlike = "water-heater", LeakMa = 0.6 });
        }

        // Desktop PC.
        if (r.Chance(0.35))
        {
            var pr = R("pc");
            var a = S(pr.Uniform(19.0, 21.0));
            var b = S(Math.Min(bedtime, pr.Uniform(22.5, 25.5)));
            m.Loads.Add(new PcLoad("pc", pr, [new Interval(a, Math.Max(a + 1800, b))], pr.Uniform(55, 80), pr.Uniform(160, 300))
            { LookAlike = "pc", LeakMa = 0.5 });
        }

        // Laptop: in use, then left charging overnight.
        if (r.Chance(0.35))
        {
            var lr2 = R("laptop");
            var a = S(lr2.Uniform(19.0, 22.0));
            var use = new Interval(a, a + (lr2.Uniform(1, 3) * 3600));
            m.Loads.Add(new LaptopLoad("laptop", lr2, use, S(wake), lr2.Uniform(30, 65), lr2.Uniform(40, 90))
            { LookAlike = "laptop-charger", LeakMa = 0.2 });
        }

        // Electric blanket: pre-warm the bed, low setting later, some left on all night.
        if (r.Chance(0.45))
        {
            var br = R("blanket");
            var a = bedtime - (br.Uniform(20, 60) / 60.0);
            var b = br.Chance(0.4) ? bedtime + br.Uniform(0.5, 2) : wake;
            m.Loads.Add(new BlanketLoad("electric-blanket", br, new Interval(S(a), S(b)), S(bedtime + br.Uniform(0.5, 1.5)), br.Uniform(40, 120), br.Chance(0.5))
            { LookAlike = "electric-blanket", LeakMa = 0.1 });
        }
    }

    /// <summary>Stairwell/corridor/shed circuit: standing loads, motion- or timer-switched LED lighting, the odd socket load.</summary>
    public static void CommonArea(MeterDevice m, string room, int seed, NightClock clock, bool lookAlikes)
    {
        var id = m.DeviceId;
        Rng R(string what) => Rng.For(seed, $"{id}/{what}");
        var r = R("common");
        double S(double h) => clock.S(h);
        m.Loads.Add(new StandbyLoad("cctv-intercom", r.Uniform(15, 40), 0.85, R("standby")) { LeakMa = 1.0 });

        // Motion-sensor LED lighting: each trigger lights the fittings for a 60-180 s hold-off (re-triggers extend it).
        var lr = R("lights");
        var w = 10.0 * lr.Int(2, 13);
        var hold = lr.Uniform(60, 180);
        var runs = new List<(Interval, double)>();
        var h = clock.StartHour;
        var end = clock.StartHour + (clock.DurationS / 3600.0);
        while (h < end)
        {
            var rate = h < 22.5 ? 12 : h < 24 ? 5 : h < 29 ? 0.8 : 3; // triggers per hour
            h += lr.Exponential(1.0 / rate);
            var a = S(h);
            runs.Add((new Interval(a, a + hold), 1));
        }

        var merged = Merge(runs.Select(x => x.Item1)).Select(x => (x, w)).ToList();
        if (room == "bike-shed")
        {
            merged.Add((new Interval(S(17.3), S(23.0)), lr.Uniform(40, 120)));
        }

        m.Loads.Add(new SeriesLoad("stair-lighting", 0.9, StepSeries.FromIntervals(merged), lr, noise: 0.002) { LeakMa = 0.1 });

        if (!lookAlikes)
        {
            return;
        }

        // Occasional socket loads: the cleaner's vacuum, a guard's fan heater or radio.
        var sr = R("socket");
        if (sr.Chance(0.35))
        {
            var a = S(sr.Uniform(18.5, 21.0));
            var run = new Interval(a, a + (sr.Uniform(5, 20) * 60));
            var vac = new SeriesLoad("vacuum", 0.95, StepSeries.FromIntervals([(run, sr.Uniform(600, 1200))]), sr, noise: 0.02)
            { LookAlike = "vacuum-cleaner" };
            vac.Planned.Add(run);
            m.Loads.Add(vac);
        }

        for (var n = sr.Int(0, 3); n > 0; n--)
        {
            var a = S(sr.Uniform(18.5, 26.0));
            var run = new Interval(a, a + (sr.Uniform(10, 60) * 60));
            var small = new SeriesLoad("small-socket-load", 0.9, StepSeries.FromIntervals([(run, sr.Uniform(20, 80))]), sr, noise: 0.01)
            { LookAlike = "small-socket-load" };
            small.Planned.Add(run);
            m.Loads.Add(small);
        }
    }

    /// <summary>Evening sessions of compliant chargers on a pile: most bikes arrive 18:30-22:30 and stay till morning.</summary>
    public static void Pile(PileDevice p, int pileNo, int seed, NightClock clock)
    {
        double S(double h) => clock.S(h);
        var sessionNo = 0;
        for (var j = 0; j < p.PortCount; j++)
        {
            var r = Rng.For(seed, $"{p.DeviceId}/port{j + 1}");
            if (!r.Chance(0.75))
            {
                continue;
            }

            var h = r.Weighted(0.6, 0.3, 0.1) switch
            {
                0 => r.NormalClamped(19.5, 0.8, 17.5, 22),
                1 => r.NormalClamped(21.5, 1.0, 19, 24),
                _ => r.Uniform(23, 26),
            };
            var a = S(h);
            var early = r.Chance(0.25);
            var b = early ? a + (r.Uniform(2, 5) * 3600) : S(r.Uniform(30, 32));
            var charger = EbikeCharger.Compliant(r);
            p.Ports[j].Add(new PortSession(a, b, charger, $"s-{pileNo}{j + 1:00}-{++sessionNo}"));
            if (early && r.Chance(0.5))
            {
                var a2 = b + (r.Uniform(10, 60) * 60);
                p.Ports[j].Add(new PortSession(a2, S(r.Uniform(30, 32)), EbikeCharger.Compliant(r), $"s-{pileNo}{j + 1:00}-{++sessionNo}"));
            }
        }
    }

    public static List<Interval> Merge(IEnumerable<Interval> intervals)
    {
        var result = new List<Interval>();
        foreach (var iv in intervals.OrderBy(x => x.A))
        {
            if (result.Count > 0 && iv.A <= result[^1].B)
            {
                result[^1] = new Interval(result[^1].A, Math.Max(result[^1].B, iv.B));
            }
            else
            {
                result.Add(iv);
            }
        }

        return result;
    }
}
