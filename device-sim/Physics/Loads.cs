namespace SmartPower.DeviceSim.Physics;

/// <summary>What every load sees at one reading instant.</summary>
/// <param name="T">Seconds since the start of the night.</param>
/// <param name="Dt">Seconds since the previous reading of this device.</param>
/// <param name="V">Supply voltage at the device (RMS volts).</param>
/// <param name="OtherW">Real power of the loads evaluated before this one (used only by <see cref="TopUpLoad"/>).</param>
/// <param name="OtherVar">Reactive power of those loads.</param>
internal readonly record struct Step(double T, double Dt, double V, double OtherW, double OtherVar);

/// <summary>
/// One appliance on a circuit. Loads are stepped once per reading, in time order, and return the real
/// power they draw at that instant. Reactive power is taken as P tan(acos pf): the distortion power of
/// cheap rectifier loads is folded into an equivalent displacement power factor (a simplification).
/// </summary>
internal abstract class Load(string name, double powerFactor)
{
    public string Name { get; } = name;

    public double PowerFactor { get; } = Math.Clamp(powerFactor, 0.3, 1.0);

    public double TanPhi => Math.Tan(Math.Acos(PowerFactor));

    /// <summary>Earth leakage through the appliance's EMI-filter Y capacitors while it draws power (mA).</summary>
    public double LeakMa { get; init; } = 0.25;

    /// <summary>Big kitchen/heating loads that an injected scenario may switch off on its device.</summary>
    public bool Heavy { get; init; }

    /// <summary>Name under which this load's activity is listed as a look-alike, or null.</summary>
    public string? LookAlike { get; init; }

    /// <summary>Periods when the load is forced off (the scenario's own appliances replace it).</summary>
    public List<Interval> Suppressed { get; } = [];

    /// <summary>On-periods as the load actually ran (filled while simulating, for the look-alike list).</summary>
    public List<Interval> Episodes { get; } = [];

    /// <summary>Reported episodes for loads whose episodes are known in advance (sessions, whole night).</summary>
    public virtual IEnumerable<Interval> PlannedEpisodes => [];

    /// <summary>Steps the load (always, so its internal state keeps evolving) and returns its draw.</summary>
    public double Evaluate(in Step s)
    {
        var p = Power(s);
        foreach (var w in Suppressed)
        {
            if (w.Contains(s.T))
            {
                return 0;
            }
        }

        return p > 0 ? p : 0;
    }

    protected abstract double Power(in Step s);

    /// <summary>A resistive element's power scales with the square of the supply voltage.</summary>
    protected static double Resistive(double ratedW, double v) => ratedW * (v / 230.0) * (v / 230.0);

    protected static bool In(IReadOnlyList<Interval> windows, double t)
    {
        foreach (var w in windows)
        {
            if (w.Contains(t))
            {
                return true;
            }
        }

        return false;
    }

    protected static int IndexIn(IReadOnlyList<Interval> windows, double t)
    {
        for (var i = 0; i < windows.Count; i++)
        {
            if (windows[i].Contains(t))
            {
                return i;
            }
        }

        return -1;
    }
}

/// <summary>Always-on standby (router, set-top box, chargers left in, appliance clocks): 10-60 W, slow wander.</summary>
internal sealed class StandbyLoad(string name, double watts, double pf, Rng rng) : Load(name, pf)
{
    private readonly Ar1 _wander = new(rng, 0.995);

    protected override double Power(in Step s) => watts * (1 + (0.03 * _wander.Next()));
}

/// <summary>A piecewise-constant load (lights, kettle, timers) with a little ripple; resistive ones follow V^2.</summary>
internal sealed class SeriesLoad(string name, double pf, StepSeries series, Rng rng, bool resistive = false, double noise = 0.004) : Load(name, pf)
{
    private readonly List<Interval> _planned = [];

    public List<Interval> Planned => _planned;

    public override IEnumerable<Interval> PlannedEpisodes => _planned;

    protected override double Power(in Step s)
    {
        var w = series.At(s.T);
        if (w <= 0)
        {
            return 0;
        }

        if (resistive)
        {
            w = Resistive(w, s.V);
        }

        return w * (1 + (noise * rng.Normal()));
    }
}

/// <summary>
/// Domestic refrigerator: the compressor cycles on its thermostat (on 10-25 min, off 20-40 min, longer off
/// in the cold small hours). The first reading of each on-cycle catches the motor's locked-rotor inrush
/// (3-6x running power); running power then settles a little as the evaporator cools.
/// </summary>
internal sealed class FridgeLoad(string name, double runningW, Rng rng, NightClock clock) : Load(name, 0.86)
{
    private bool _init;
    private bool _on;
    private double _next;
    private double _cycleStart;
    private bool _pendingInrush;

    public override IEnumerable<Interval> PlannedEpisodes => [new Interval(0, clock.DurationS)];

    protected override double Power(in Step s)
    {
        if (!_init)
        {
            _init = true;
            _on = rng.Chance(0.35);
            _next = s.T + (_on ? rng.Uniform(60, 900) : rng.Uniform(60, 1800));
            _cycleStart = s.T - rng.Uniform(0, 600);
        }

        while (s.T >= _next)
        {
            _on = !_on;
            if (_on)
            {
                _cycleStart = _next;
                _pendingInrush = true;
                _next += rng.Uniform(600, 1500);
            }
            else
            {
                var colder = clock.H(_next) > 24 ? 1.2 : 1.0;
                _next += rng.Uniform(1200, 2400) * colder;
            }
        }

        if (!_on)
        {
            return 0;
        }

        var p = runningW * (1 + (0.15 * Math.Exp(-(s.T - _cycleStart) / 240.0))) * (1 + (0.01 * rng.Normal()));
        if (_pendingInrush)
        {
            _pendingInrush = false;
            p *= rng.Uniform(3, 6);
        }

        return p;
    }
}

/// <summary>
/// Induction hob: the cook changes the power level every few minutes; at low levels the inverter cannot
/// run continuously and pulses full power on a 16-30 s duty cycle, so 10-second readings jump about.
/// </summary>
internal sealed class InductionLoad : Load
{
    private readonly StepSeries _levels;
    private readonly double _peak;
    private readonly double _period;
    private readonly Rng _rng;
    private readonly List<Interval> _sessions;

    public InductionLoad(string name, Rng rng, List<Interval> sessions, double maxW) : base(name, 0.98)
    {
        _rng = rng;
        _sessions = sessions;
        _peak = Math.Min(maxW, rng.Uniform(1200, 1400));
        _period = rng.Uniform(16, 30);
        var changes = new List<(double, double)>();
        foreach (var session in sessions)
        {
            var t = session.A;
            while (t < session.B)
            {
                changes.Add((t, Math.Round(rng.Uniform(800, maxW) / 200) * 200));
                t += rng.Uniform(60, 300);
            }

            changes.Add((session.B, 0));
        }

        _levels = new StepSeries(changes);
    }

    public override IEnumerable<Interval> PlannedEpisodes => _sessions;

    protected override double Power(in Step s)
    {
        var level = _levels.At(s.T);
        if (level <= 0)
        {
            return 0;
        }

        if (level >= _peak)
        {
            return level * (1 + (0.01 * _rng.Normal()));
        }

        var phase = (s.T % _period) / _period;
        return phase < level / _peak ? _peak * (1 + (0.01 * _rng.Normal())) : 15;
    }
}

/// <summary>
/// Rice cooker: full heating while cooking, a bang-bang simmer at the end, then keep-warm in which the
/// element pulses full power for ~15 s every 3-5 minutes (single-sample spikes).
/// </summary>
internal sealed class RiceCookerLoad(string name, Rng rng, Interval cook, double warmEnd, double watts) : Load(name, 1.0)
{
    private readonly double _warmPeriod = rng.Uniform(180, 300);
    private readonly double _warmPulse = rng.Uniform(12, 20);

    public override IEnumerable<Interval> PlannedEpisodes => [new Interval(cook.A, warmEnd)];

    protected override double Power(in Step s)
    {
        var t = s.T;
        if (t < cook.A || t >= warmEnd)
        {
            return 0;
        }

        if (t < cook.B)
        {
            var simmer = t > cook.A + (0.75 * cook.Length);
            var on = !simmer || (t % 60.0) < 30.0;
            return on ? Resistive(watts, s.V) : 2;
        }

        return ((t - cook.B) % _warmPeriod) < _warmPulse ? Resistive(watts, s.V) : 2;
    }
}

/// <summary>
/// Storage electric water heater, simulated as a stirred tank: C dT/dt = P - UA (T - Tair) - m' c (T - Tin).
/// A thermostat with a few kelvin of hysteresis switches the element; hot-water draws (showers, dishes)
/// replace hot water with 15 C mains water. Optionally enabled only in the 22:00-08:00 valley tariff.
/// </summary>
internal sealed class WaterHeaterLoad : Load
{
    private const double WaterC = 4186.0;
    private readonly double _ratedW;
    private readonly double _capacityJk;
    private readonly double _ua;
    private readonly double _set;
    private readonly double _hyst;
    private readonly List<(Interval When, double Lpm)> _draws;
    private readonly Interval? _enabled;
    private double _tankC;
    private bool _heating;
    private double _onSince = double.NaN;

    public WaterHeaterLoad(string name, Rng rng, double ratedW, double litres, List<(Interval When, double Lpm)> draws, Interval? enabled)
        : base(name, 1.0)
    {
        _ratedW = ratedW;
        _capacityJk = litres * WaterC;
        _ua = rng.Uniform(1.2, 2.5);
        _set = rng.Uniform(60, 75);
        _hyst = rng.Uniform(4, 8);
        _draws = draws;
        _enabled = enabled;
        _tankC = rng.Uniform(_set - _hyst + 0.5, _set);
    }

    protected override double Power(in Step s)
    {
        var enabled = _enabled is not { } e || e.Contains(s.T);
        if (!enabled || _tankC >= _set)
        {
            _heating = false;
        }
        else if (_tankC < _set - _hyst)
        {
            _heating = true;
        }

        var p = _heating ? Resistive(_ratedW, s.V) : 0;
        var hotLps = 0.0;
        foreach (var (when, lpm) in _draws)
        {
            if (when.Contains(s.T))
            {
                hotLps += lpm / 60.0 * Math.Clamp((40.0 - 15.0) / Math.Max(1, _tankC - 15.0), 0, 1);
            }
        }

        _tankC += (p - (_ua * (_tankC - 20.0)) - (hotLps * WaterC * (_tankC - 15.0))) * s.Dt / _capacityJk;
        TrackEpisode(s.T, p > 0);
        return p;
    }

    private void TrackEpisode(double t, bool on)
    {
        if (on && double.IsNaN(_onSince))
        {
            _onSince = t;
        }
        else if (!on && !double.IsNaN(_onSince))
        {
            Episodes.Add(new Interval(_onSince, t));
            _onSince = double.NaN;
        }
    }

    public void Finish(double t)
    {
        if (!double.IsNaN(_onSince))
        {
            Episodes.Add(new Interval(_onSince, t));
            _onSince = double.NaN;
        }
    }
}

/// <summary>
/// Inverter split air conditioner in heating mode: compressor soft-start over 1.5-3 min, full power while
/// pulling the room up to temperature, then an exponential settle to a modulating level with slow PI
/// hunting; every 40-70 min a defrost cycle cuts heating power for a few minutes.
/// </summary>
internal sealed class InverterAcLoad(string name, Rng rng, List<Interval> sessions, double maxW, double modW) : Load(name, 0.97)
{
    private readonly double _soft = rng.Uniform(90, 180);
    private readonly double _hold = rng.Uniform(600, 1500);
    private readonly double _tau = rng.Uniform(300, 600);
    private readonly double _huntPeriod = rng.Uniform(300, 900);
    private readonly double _defrostEvery = rng.Uniform(2400, 4200);
    private readonly double _defrostFor = rng.Uniform(240, 480);
    private readonly Ar1 _ripple = new(rng, 0.7);

    public override IEnumerable<Interval> PlannedEpisodes => sessions;

    protected override double Power(in Step s)
    {
        var i = IndexIn(sessions, s.T);
        if (i < 0)
        {
            return 0;
        }

        var u = s.T - sessions[i].A;
        double p;
        if (u < _soft)
        {
            p = maxW * u / _soft;
        }
        else if (u < _soft + _hold)
        {
            p = maxW;
        }
        else
        {
            p = modW + ((maxW - modW) * Math.Exp(-(u - _soft - _hold) / _tau));
            p *= 1 + (0.05 * Math.Sin(2 * Math.PI * u / _huntPeriod));
        }

        if (u > _defrostEvery && (u % _defrostEvery) < _defrostFor)
        {
            p *= 0.35;
        }

        return (p * (1 + (0.015 * _ripple.Next()))) + 8;
    }
}

/// <summary>Television: on for the evening, 60-200 W; picture brightness moves power several % sample to sample.</summary>
internal sealed class TvLoad(string name, Rng rng, List<Interval> sessions, double watts) : Load(name, 0.95)
{
    private readonly Ar1 _content = new(rng, 0.5);
    private readonly Ar1 _scene = new(rng, 0.98);

    public override IEnumerable<Interval> PlannedEpisodes => sessions;

    protected override double Power(in Step s)
    {
        var content = _content.Next();
        var scene = _scene.Next();
        return In(sessions, s.T) ? watts * (1 + (0.05 * content) + (0.04 * scene)) : 0;
    }
}

/// <summary>Desktop PC: idle / browsing / gaming states with minute-scale dwell; load-dependent jitter.</summary>
internal sealed class PcLoad(string name, Rng rng, List<Interval> sessions, double idleW, double heavyW) : Load(name, 0.96)
{
    private int _state;

    public override IEnumerable<Interval> PlannedEpisodes => sessions;

    protected override double Power(in Step s)
    {
        if (!In(sessions, s.T))
        {
            _state = 0;
            return 0;
        }

        if (rng.Chance(s.Dt / 180.0))
        {
            _state = rng.Weighted(0.4, 0.45, 0.15);
        }

        var baseW = _state switch
        {
            0 => idleW,
            1 => idleW + ((heavyW - idleW) * 0.3),
            _ => heavyW,
        };
        var jitter = _state == 2 ? 0.08 : 0.03;
        return baseW * (1 + (jitter * rng.Normal()));
    }
}

/// <summary>
/// Electric blanket. Thermostat type: full power to warm up, then on/off cycling. PTC type: the wire's
/// resistance rises as it heats, so power falls exponentially from cold to a warm floor. After a while the
/// user switches to the low setting (about half power).
/// </summary>
internal sealed class BlanketLoad(string name, Rng rng, Interval session, double lowFrom, double maxW, bool ptc) : Load(name, 1.0)
{
    private readonly double _warmup = rng.Uniform(900, 1800);
    private readonly double _tau = rng.Uniform(480, 1200);
    private readonly double _floor = rng.Uniform(0.4, 0.55);
    private bool _on = true;
    private double _next = double.NaN;

    public override IEnumerable<Interval> PlannedEpisodes => [session];

    protected override double Power(in Step s)
    {
        if (!session.Contains(s.T))
        {
            return 0;
        }

        var u = s.T - session.A;
        var level = s.T >= lowFrom ? 0.55 : 1.0;
        if (ptc)
        {
            return Resistive(maxW * level * (_floor + ((1 - _floor) * Math.Exp(-u / _tau))), s.V) * (1 + (0.01 * rng.Normal()));
        }

        if (u < _warmup)
        {
            return Resistive(maxW * level, s.V);
        }

        if (double.IsNaN(_next))
        {
            _next = s.T;
        }

        while (s.T >= _next)
        {
            _on = !_on;
            _next += _on ? rng.Uniform(120, 300) : rng.Uniform(180, 600);
        }

        return _on ? Resistive(maxW * level, s.V) : 0;
    }
}

/// <summary>
/// Laptop power adapter (below 75 W, so no PFC: pf ~0.55). Fluctuates with CPU load while in use; once the
/// lid is closed the battery charge current tapers (CV phase) to a couple of watts.
/// </summary>
internal sealed class LaptopLoad(string name, Rng rng, Interval use, double chargeUntil, double useW, double chargeW) : Load(name, 0.55)
{
    private readonly Ar1 _cpu = new(rng, 0.7);
    private readonly double _tau = rng.Uniform(900, 2100);
    private readonly double _floor = rng.Uniform(1.5, 4);

    public override IEnumerable<Interval> PlannedEpisodes => [new Interval(use.A, chargeUntil)];

    protected override double Power(in Step s)
    {
        var cpu = _cpu.Next();
        if (use.Contains(s.T))
        {
            return useW * (1 + (0.15 * cpu));
        }

        if (s.T >= use.B && s.T < chargeUntil)
        {
            return _floor + ((chargeW - _floor) * Math.Exp(-(s.T - use.B) / _tau));
        }

        return 0;
    }
}

/// <summary>
/// Water booster pump (common on upper floors): an induction motor whose locked-rotor current is 5-8x its
/// running current, so the reading taken as it starts shows a one-sample spike.
/// </summary>
internal sealed class PumpLoad(string name, Rng rng, List<Interval> runs, double runW, double inrushFactor) : Load(name, 0.8)
{
    private int _lastRun = -1;

    public override IEnumerable<Interval> PlannedEpisodes => runs;

    protected override double Power(in Step s)
    {
        var i = IndexIn(runs, s.T);
        if (i < 0)
        {
            return 0;
        }

        if (i != _lastRun)
        {
            _lastRun = i;
            return runW * inrushFactor;
        }

        return runW * (1 + (0.01 * rng.Normal()));
    }
}

/// <summary>
/// A bank of resistive appliances (space heaters, oven, cooker) switched on together at the start of
/// <paramref name="window"/>. Its size is fixed at the first reading so that, with whatever else is then
/// running, the circuit current reaches <paramref name="targetRatio"/> x the breaker rating; after that it
/// is an ordinary resistive load and the other appliances keep varying around it.
/// </summary>
internal sealed class TopUpLoad(string name, Interval window, double targetRatio, double ratedA, Rng rng) : Load(name, 1.0)
{
    private double _nominalW = double.NaN;

    public double NominalW => _nominalW;

    public override IEnumerable<Interval> PlannedEpisodes => [window];

    protected override double Power(in Step s)
    {
        if (!window.Contains(s.T))
        {
            return 0;
        }

        if (double.IsNaN(_nominalW))
        {
            var apparent = targetRatio * ratedA * s.V;
            var real = Math.Sqrt(Math.Max(0, (apparent * apparent) - (s.OtherVar * s.OtherVar))) - s.OtherW;
            _nominalW = Math.Max(0, real) / ((s.V / 230.0) * (s.V / 230.0));
        }

        return Resistive(_nominalW, s.V) * (1 + (0.002 * rng.Normal()));
    }
}

/// <summary>
/// A heater plugged in through a damaged cord or loose plug that arcs intermittently: on arcing readings the
/// meter's arc-fault detector flags the reading and the chopped current drops the heater's power by 5-30%.
/// </summary>
internal sealed class ArcingHeaterLoad(string name, Rng rng, Interval on, double watts, IReadOnlyList<double> arcTimes, Interval arcEpisode) : Load(name, 1.0)
{
    private int _nextArc;

    public bool ArcThisSample { get; private set; }

    public override IEnumerable<Interval> PlannedEpisodes => [on];

    protected override double Power(in Step s)
    {
        ArcThisSample = false;
        while (_nextArc < arcTimes.Count && arcTimes[_nextArc] <= s.T)
        {
            if (arcTimes[_nextArc] > s.T - s.Dt)
            {
                ArcThisSample = true;
            }

            _nextArc++;
        }

        if (!on.Contains(s.T))
        {
            return 0;
        }

        var p = Resistive(watts, s.V);
        if (ArcThisSample || (arcEpisode.Contains(s.T) && rng.Chance(0.4)))
        {
            p *= 1 - rng.Uniform(0.05, 0.3);
        }

        return p;
    }
}

/// <summary>An e-bike charger on a meter circuit (plugged in at PlugIn, pulled out at Unplug).</summary>
internal sealed class ChargerLoad(string name, EbikeCharger charger, double plugIn, double unplug, Rng rng) : Load(name, charger.PowerFactor)
{
    public override IEnumerable<Interval> PlannedEpisodes => [new Interval(plugIn, unplug)];

    protected override double Power(in Step s) =>
        s.T >= plugIn && s.T < unplug ? charger.InputW(s.T - plugIn, rng) : 0;
}
