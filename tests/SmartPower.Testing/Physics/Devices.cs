using System.Globalization;
using System.Text;

namespace SmartPower.Testing.Physics;

/// <summary>
/// Voltage at the compound's transformer: 232 V at light load, sagging ~3.5 V around the 20:00 evening
/// peak and rising ~1.5 V in the small hours, plus a slow Ornstein-Uhlenbeck wander (sigma 0.9 V, 15 min)
/// and a little fast noise from everyone else's loads. Each device adds its own feeder offset and its own
/// I x R drop.
/// </summary>
internal sealed class SiteVoltage
{
    private const double GridS = 10;
    private readonly double[] _grid;

    public SiteVoltage(Rng rng, NightClock clock)
    {
        var n = (int)Math.Ceiling(clock.DurationS / GridS) + 2;
        _grid = new double[n];
        var decay = Math.Exp(-GridS / 900);
        var kick = 0.9 * Math.Sqrt(1 - (decay * decay));
        var ou = rng.Normal(0, 0.9);
        for (var i = 0; i < n; i++)
        {
            var h = clock.H(i * GridS);
            var baseV = 232.0 - (3.5 * Math.Exp(-Math.Pow((h - 20.0) / 2.2, 2))) + (1.5 * Math.Exp(-Math.Pow((h - 27.5) / 3.0, 2)));
            ou = (ou * decay) + (kick * rng.Normal());
            _grid[i] = baseV + ou + (0.2 * rng.Normal());
        }
    }

    public double At(double t)
    {
        var x = Math.Clamp(t / GridS, 0, _grid.Length - 1.000001);
        var i = (int)x;
        var f = x - i;
        return (_grid[i] * (1 - f)) + (_grid[i + 1] * f);
    }
}

/// <summary>What the alarm trackers see of one reading (as reported, after noise and rounding).</summary>
internal sealed class Reading
{
    public double CurrentA { get; set; }

    public double TempC { get; set; }

    public double LeakMa { get; set; }

    public bool Arc { get; set; }

    public double[] PortW { get; } = new double[PileDevice.PortCount];
}

/// <summary>
/// Labels an injected threshold hazard from the readings themselves: start = first reading in the
/// window that is over the alarm threshold, end = last such reading.
/// </summary>
internal sealed class ThresholdTracker(string type, int? port, Interval window, Func<Reading, bool> hit, string note)
{
    private long _first = -1;
    private long _last = -1;

    public string Type => type;

    public int? Port => port;

    public Interval Window => window;

    public string Note => note;

    public void Observe(double t, long tMs, Reading r)
    {
        if (window.Contains(t) && hit(r))
        {
            if (_first < 0)
            {
                _first = tMs;
            }

            _last = tMs;
        }
    }

    public (long First, long Last)? Result => _first < 0 ? null : (_first, _last);
}

/// <summary>
/// Safety net: a hazard that arises on its own (not injected) for at least <paramref name="minRun"/>
/// consecutive readings is still a real hazard, so it is labelled too (and reported by Describe).
/// </summary>
internal sealed class RunScanner(string type, int? port, Func<Reading, bool> hit, int minRun, List<Interval> exclude)
{
    private long _runStart = -1;
    private double _runStartT;
    private long _runLast;
    private double _runLastT;
    private int _len;

    public List<(string Type, int? Port, long Start, long End)> Found { get; } = [];

    public void Observe(double t, long tMs, Reading r)
    {
        if (hit(r))
        {
            if (_runStart < 0)
            {
                _runStart = tMs;
                _runStartT = t;
                _len = 0;
            }

            _len++;
            _runLast = tMs;
            _runLastT = t;
            return;
        }

        Close();
    }

    public void Close()
    {
        if (_runStart >= 0 && _len >= minRun)
        {
            var run = new Interval(_runStartT, _runLastT + 1);
            if (!exclude.Any(e => e.Overlaps(run)))
            {
                Found.Add((type, port, _runStart, _runLast));
            }
        }

        _runStart = -1;
        _len = 0;
    }
}

/// <summary>Insulation breakdown (water ingress): residual current rises over a ramp, wanders, then stops when the faulty appliance is unplugged.</summary>
internal sealed class LeakageFault(Interval when, double peakMa, double rampS, Rng rng)
{
    private readonly Ar1 _wet = new(rng, 0.9);

    public Interval When => when;

    public double PeakMa => peakMa;

    public double Ma(double t, double v)
    {
        var wet = _wet.Next();
        if (!when.Contains(t))
        {
            return 0;
        }

        var x = Math.Min(1, (t - when.A) / rampS);
        var shape = x * x * (3 - (2 * x));
        return peakMa * (v / 230.0) * shape * (1 + (0.03 * wet));
    }
}

/// <summary>
/// A loose, oxidising terminal: its contact resistance climbs over a ramp to the value that makes the
/// terminal settle near <see cref="TargetC"/> at the current flowing when the fault begins; it is put right
/// (re-tightened) at the end of the window. Heat: dT_ss = Rth x I^2 x R_contact.
/// </summary>
internal sealed class LooseTerminal(Interval when, double rampS, double targetC)
{
    private double _extraOhm = double.NaN;

    public Interval When => when;

    public double TargetC => targetC;

    public double ExtraOhm(double t, double currentA, double baseRiseK, double rthKPerW)
    {
        if (!when.Contains(t))
        {
            return 0;
        }

        if (double.IsNaN(_extraOhm))
        {
            var i = Math.Max(currentA, 4.0);
            _extraOhm = Math.Max(0, (targetC - baseRiseK) / (rthKPerW * i * i));
        }

        return _extraOhm * Math.Min(1, (t - when.A) / rampS);
    }
}

/// <summary>Telemetry lines and labels produced by one device.</summary>
internal sealed class DeviceOutput
{
    public List<(long TMs, string Line)> Lines { get; } = new(4400);

    public List<GroundTruthIncident> Incidents { get; } = [];

    public List<LookAlike> LookAlikes { get; } = [];

    public List<string> Diagnostics { get; } = [];
}

/// <summary>Things every device has: timing, seq, terminal thermal model, leakage, faults and labels.</summary>
internal abstract class DeviceBase(string deviceId, string siteId, Rng rng)
{
    public string DeviceId => deviceId;

    public string SiteId => siteId;

    public Rng Rng => rng;

    public long PhaseMs { get; set; }

    public long SeqStart { get; set; }

    public double VoltOffset { get; set; }

    public double LineOhm { get; set; }

    public double AmbientC { get; set; }

    public double AmbientNightDropK { get; set; }

    public double SelfHeatK { get; set; }

    public double RthKPerW { get; set; }

    public double ContactOhm { get; set; }

    public double ThermalTauS { get; set; }

    public double LeakBaseMa { get; set; }

    public List<LeakageFault> Leaks { get; } = [];

    public List<LooseTerminal> Terminals { get; } = [];

    public List<Interval> Offline { get; } = [];

    public List<ThresholdTracker> Trackers { get; } = [];

    public List<RunScanner> Scanners { get; } = [];

    /// <summary>Injected windows per hazard type, excluded from the natural-hazard scanners.</summary>
    public Dictionary<string, List<Interval>> Injected { get; } = [];

    public List<GroundTruthIncident> FixedIncidents { get; } = [];

    public List<LookAlike> ExtraLookAlikes { get; } = [];

    public List<Interval> InjectedFor(string type)
    {
        if (!Injected.TryGetValue(type, out var list))
        {
            list = [];
            Injected[type] = list;
        }

        return list;
    }

    protected double Ambient(NightClock clock, double t) =>
        AmbientC - (AmbientNightDropK * Math.Clamp((clock.H(t) - 22) / 6, 0, 1));

    protected static string Ts(DateTimeOffset start, long tMs) => Format.Ts(start.AddMilliseconds(tMs));

    /// <summary>Lets the hazard trackers and scanners see a reading as reported.</summary>
    protected void Observe(double t, long tMs, Reading reading)
    {
        foreach (var tr in Trackers)
        {
            tr.Observe(t, tMs, reading);
        }

        foreach (var sc in Scanners)
        {
            sc.Observe(t, tMs, reading);
        }
    }

    /// <summary>Starts a replay line: the envelope, the topic, and the payload's ts and seq.</summary>
    protected static void BeginLine(StringBuilder sb, string topic, DateTimeOffset start, long tMs, long seq)
    {
        sb.Clear();
        sb.Append("{\"topic\":\"").Append(topic).Append("\",\"payload\":{\"ts\":\"").Append(Ts(start, tMs))
            .Append("\",\"seq\":").Append(seq.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>Adds the ground truth every device kind reports: natural hazards, injected ones, fixed incidents, extra look-alikes.</summary>
    protected void Finish(DeviceOutput output, DateTimeOffset start)
    {
        foreach (var sc in Scanners)
        {
            sc.Close();
            foreach (var (type, port, s, e) in sc.Found)
            {
                output.Incidents.Add(new GroundTruthIncident(type, DeviceId, port, start.AddMilliseconds(s), start.AddMilliseconds(e))
                { Note = "natural (not injected)" });
            }
        }

        foreach (var tr in Trackers)
        {
            if (tr.Result is { } r)
            {
                output.Incidents.Add(new GroundTruthIncident(tr.Type, DeviceId, tr.Port, start.AddMilliseconds(r.First), start.AddMilliseconds(r.Last))
                { Note = tr.Note });
            }
            else
            {
                output.Diagnostics.Add($"{tr.Type} on {DeviceId} was injected but never crossed its threshold ({tr.Note})");
            }
        }

        output.Incidents.AddRange(FixedIncidents);
        output.LookAlikes.AddRange(ExtraLookAlikes);
    }

    /// <summary>
    /// The device's planned uplink losses: which reading times fall silent, and the ground truth of each gap, from
    /// the last reading before it to the first after it.
    /// </summary>
    protected sealed class UplinkGaps(List<Interval> gaps)
    {
        private readonly long[] _last = Unknown(gaps.Count);
        private readonly long[] _next = Unknown(gaps.Count);

        /// <summary>True if the reading at <paramref name="t"/> is lost; notes the readings around each gap.</summary>
        public bool Silences(double t, long tMs)
        {
            var silent = false;
            for (var i = 0; i < gaps.Count; i++)
            {
                if (gaps[i].Contains(t))
                {
                    silent = true;
                }
                else if (t < gaps[i].A)
                {
                    _last[i] = tMs;
                }
                else if (_next[i] < 0)
                {
                    _next[i] = tMs;
                }
            }

            return silent;
        }

        public void Report(DeviceOutput output, string deviceId, DateTimeOffset start)
        {
            for (var i = 0; i < gaps.Count; i++)
            {
                if (_last[i] >= 0 && _next[i] >= 0)
                {
                    output.Incidents.Add(new GroundTruthIncident("offline", deviceId, null,
                        start.AddMilliseconds(_last[i]), start.AddMilliseconds(_next[i]))
                    { Note = $"uplink lost for {(_next[i] - _last[i]) / 60000.0:F0} min" });
                }
            }
        }

        private static long[] Unknown(int count)
        {
            var values = new long[count];
            Array.Fill(values, -1);
            return values;
        }
    }
}

/// <summary>A meter on a dwelling or common-area circuit.</summary>
internal sealed class MeterDevice(string deviceId, string siteId, Rng rng, double ratedA) : DeviceBase(deviceId, siteId, rng)
{
    public double RatedA => ratedA;

    public List<Load> Loads { get; } = [];

    public List<TopUpLoad> TopUps { get; } = [];

    public List<ArcingHeaterLoad> ArcLoads { get; } = [];

    public double SigmaW { get; set; }

    public double EnergyStartKWh { get; set; }

    public DeviceOutput Run(SiteVoltage site, NightClock clock, DateTimeOffset start, int intervalS)
    {
        var output = new DeviceOutput();
        var topic = $"smartpower/v1/{SiteId}/meter/{DeviceId}/telemetry";
        var durMs = (long)(clock.DurationS * 1000);
        var intMs = intervalS * 1000L;
        var reading = new Reading();
        var leakWander = new Ar1(Rng, 0.998);
        var iPrev = 0.0;
        var temp = double.NaN;
        var energy = EnergyStartKWh;
        var seq = SeqStart;
        var gaps = new UplinkGaps(Offline);
        var sb = new StringBuilder(320);

        for (var tMs = PhaseMs; tMs < durMs; tMs += intMs, seq++)
        {
            var t = tMs / 1000.0;
            double dt = intervalS;
            var v = site.At(t) + VoltOffset - (LineOhm * iPrev);
            var step = new Step(t, dt, v, 0, 0);
            double p = 0, q = 0, leak = 0;
            foreach (var load in Loads)
            {
                var w = load.Evaluate(step);
                if (w > 0)
                {
                    p += w;
                    q += w * load.TanPhi;
                    leak += load.LeakMa;
                }
            }

            foreach (var top in TopUps)
            {
                var w = top.Evaluate(step with { OtherW = p, OtherVar = q });
                if (w > 0)
                {
                    p += w;
                    q += w * top.TanPhi;
                    leak += top.LeakMa;
                }
            }

            var arc = false;
            foreach (var a in ArcLoads)
            {
                arc |= a.ArcThisSample;
            }

            var pf = p > 0 ? p / Math.Sqrt((p * p) + (q * q)) : 1.0;
            var trueI = p / (v * pf);
            var vm = v + (0.1 * Rng.Normal());
            var pm = Math.Max(0, p + (SigmaW * Rng.Normal()) + (0.003 * p * Rng.Normal()));
            var im = pm / (vm * pf);
            energy += p * dt / 3.6e6;

            // Terminal temperature: first-order lag towards ambient + self-heating + Rth I^2 R_contact.
            var rc = ContactOhm;
            foreach (var lt in Terminals)
            {
                rc += lt.ExtraOhm(t, trueI, Ambient(clock, t) + SelfHeatK, RthKPerW);
            }

            var tss = Ambient(clock, t) + SelfHeatK + (RthKPerW * trueI * trueI * rc);
            temp = double.IsNaN(temp) ? tss : temp + ((tss - temp) * (1 - Math.Exp(-dt / ThermalTauS)));
            var tm = temp + (0.1 * Rng.Normal());

            var lk = (LeakBaseMa * (1 + (0.15 * leakWander.Next()))) + leak + (0.2 * Rng.Normal());
            foreach (var f in Leaks)
            {
                lk += f.Ma(t, v);
            }

            lk = Math.Max(0.1, lk);
            iPrev = trueI;

            var pmR = Math.Round(pm, 1);
            var imR = Math.Round(im, 2);
            var tmR = Math.Round(tm, 1);
            var lkR = Math.Round(lk, 1);
            if (gaps.Silences(t, tMs))
            {
                continue;
            }

            reading.CurrentA = imR;
            reading.TempC = tmR;
            reading.LeakMa = lkR;
            reading.Arc = arc;
            Observe(t, tMs, reading);
            BeginLine(sb, topic, start, tMs, seq);
            Format.Num(sb, ",\"voltageV\":", vm, 1);
            Format.Num(sb, ",\"currentA\":", imR, 2);
            Format.Num(sb, ",\"powerW\":", pmR, 1);
            Format.Num(sb, ",\"powerFactor\":", pf, 2);
            Format.Num(sb, ",\"energyKWh\":", energy, 3);
            Format.Num(sb, ",\"leakageMa\":", lkR, 1);
            Format.Num(sb, ",\"tempC\":", tmR, 1);
            sb.Append(",\"arcFault\":").Append(arc ? "true" : "false").Append("}}");
            output.Lines.Add((tMs, sb.ToString()));
        }

        Finish(output, start);
        gaps.Report(output, DeviceId, start);

        foreach (var load in Loads.Concat(TopUps))
        {
            if (load is WaterHeaterLoad wh)
            {
                wh.Finish(clock.DurationS);
            }

            if (load.LookAlike is null)
            {
                continue;
            }

            foreach (var e in load.Episodes.Concat(load.PlannedEpisodes))
            {
                var a = clock.Clamp(e.A);
                var b = clock.Clamp(e.B);
                if (b > a || (b == a && e.A >= 0 && e.A < clock.DurationS))
                {
                    output.LookAlikes.Add(new LookAlike(load.LookAlike, DeviceId, null, start.AddSeconds(a), start.AddSeconds(b)));
                }
            }
        }

        return output;
    }
}

/// <summary>A compliant e-bike charging session on a pile port.</summary>
internal sealed class PortSession(double plugIn, double unplug, EbikeCharger charger, string sessionId)
{
    public double PlugIn => plugIn;

    public double Unplug => unplug;

    public EbikeCharger Charger => charger;

    public string SessionId => sessionId;
}

/// <summary>
/// A charging pile: ten metered sockets. A session is "charging" until the charger reaches float/cut-off,
/// then the pile switches the socket off and reports "full" (0 W) until the bike is unplugged.
/// </summary>
internal sealed class PileDevice(string deviceId, string siteId, Rng rng) : DeviceBase(deviceId, siteId, rng)
{
    public const int PortCount = 10;

    public List<PortSession>[] Ports { get; } = Enumerable.Range(0, PortCount).Select(_ => new List<PortSession>()).ToArray();

    public int PortMaxW { get; set; } = 400;

    public bool IsFree(int port, Interval when, double marginS) =>
        Ports[port].All(s => !new Interval(s.PlugIn - marginS, s.Unplug + marginS).Overlaps(when));

    public DeviceOutput Run(SiteVoltage site, NightClock clock, DateTimeOffset start, int intervalS)
    {
        var output = new DeviceOutput();
        var topic = $"smartpower/v1/{SiteId}/pile/{DeviceId}/telemetry";
        var durMs = (long)(clock.DurationS * 1000);
        var intMs = intervalS * 1000L;
        var reading = new Reading();
        var leakWander = new Ar1(Rng, 0.998);
        var temp = double.NaN;
        var iPrev = 0.0;
        var seq = SeqStart;
        var energyWh = new double[PortCount];
        var current = new int[PortCount];
        var seen = new bool[PortCount];
        var gaps = new UplinkGaps(Offline);
        foreach (var list in Ports)
        {
            list.Sort((a, b) => a.PlugIn.CompareTo(b.PlugIn));
        }

        var sb = new StringBuilder(900);
        var states = new string[PortCount];
        var powers = new double[PortCount];
        var sessionIds = new string?[PortCount];

        for (var tMs = PhaseMs; tMs < durMs; tMs += intMs, seq++)
        {
            var t = tMs / 1000.0;
            double dt = intervalS;
            var v = site.At(t) + VoltOffset - (LineOhm * iPrev);
            double totalI = 0, leak = 0;
            for (var j = 0; j < PortCount; j++)
            {
                var list = Ports[j];
                while (current[j] < list.Count && list[current[j]].Unplug <= t)
                {
                    current[j]++;
                    seen[j] = false;
                    energyWh[j] = 0;
                }

                PortSession? s = current[j] < list.Count && list[current[j]].PlugIn <= t ? list[current[j]] : null;
                if (s is null)
                {
                    states[j] = "idle";
                    powers[j] = 0;
                    sessionIds[j] = null;
                    continue;
                }

                var u = t - s.PlugIn;
                double w;
                if (u >= s.Charger.DoneS)
                {
                    states[j] = "full";
                    w = 0;
                }
                else
                {
                    states[j] = "charging";
                    w = s.Charger.InputW(u, Rng);
                    if (!seen[j] && s.Charger.StartTransient > 1.0)
                    {
                        w = s.Charger.InputW(120, Rng) * s.Charger.StartTransient;
                    }

                    leak += 0.3;
                }

                seen[j] = true;
                energyWh[j] += w * dt / 3600;
                totalI += w / (v * s.Charger.PowerFactor);
                powers[j] = w > 0 ? Math.Round(Math.Max(0, w + (0.3 * Rng.Normal()) + (0.003 * w * Rng.Normal())), 1) : 0;
                sessionIds[j] = s.SessionId;
            }

            var rc = ContactOhm;
            foreach (var lt in Terminals)
            {
                rc += lt.ExtraOhm(t, totalI, Ambient(clock, t) + SelfHeatK, RthKPerW);
            }

            var tss = Ambient(clock, t) + SelfHeatK + (RthKPerW * totalI * totalI * rc);
            temp = double.IsNaN(temp) ? tss : temp + ((tss - temp) * (1 - Math.Exp(-dt / ThermalTauS)));
            var tm = Math.Round(temp + (0.1 * Rng.Normal()), 1);
            var lk = (LeakBaseMa * (1 + (0.15 * leakWander.Next()))) + leak + (0.2 * Rng.Normal());
            foreach (var f in Leaks)
            {
                lk += f.Ma(t, v);
            }

            lk = Math.Round(Math.Max(0.1, lk), 1);
            iPrev = totalI;

            if (gaps.Silences(t, tMs))
            {
                continue;
            }

            reading.TempC = tm;
            reading.LeakMa = lk;
            reading.CurrentA = totalI;
            Array.Copy(powers, reading.PortW, PortCount);
            Observe(t, tMs, reading);
            BeginLine(sb, topic, start, tMs, seq);
            Format.Num(sb, ",\"voltageV\":", v + (0.1 * Rng.Normal()), 1);
            Format.Num(sb, ",\"tempC\":", tm, 1);
            Format.Num(sb, ",\"leakageMa\":", lk, 1);
            sb.Append(",\"ports\":[");
            for (var j = 0; j < PortCount; j++)
            {
                if (j > 0)
                {
                    sb.Append(',');
                }

                sb.Append("{\"port\":").Append((j + 1).ToString(CultureInfo.InvariantCulture))
                    .Append(",\"state\":\"").Append(states[j]).Append('"');
                Format.Num(sb, ",\"powerW\":", powers[j], 1);
                if (sessionIds[j] is { } sid)
                {
                    Format.Num(sb, ",\"energyWh\":", energyWh[j], 1);
                    sb.Append(",\"sessionId\":\"").Append(sid).Append('"');
                }

                sb.Append('}');
            }

            sb.Append("]}}");
            output.Lines.Add((tMs, sb.ToString()));
        }

        Finish(output, start);
        gaps.Report(output, DeviceId, start);
        return output;
    }
}

/// <summary>Invariant-culture number and timestamp formatting for the wire format.</summary>
internal static class Format
{
    public static string Ts(DateTimeOffset t) =>
        t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    public static void Num(StringBuilder sb, string prefix, double value, int decimals)
    {
        // Adding 0.0 turns a rounded -0 into +0.
        var r = Math.Round(value, decimals) + 0.0;
        sb.Append(prefix);
        switch (decimals)
        {
            case 1:
                sb.Append(r.ToString("F1", CultureInfo.InvariantCulture));
                break;
            case 2:
                sb.Append(r.ToString("F2", CultureInfo.InvariantCulture));
                break;
            default:
                sb.Append(r.ToString("F3", CultureInfo.InvariantCulture));
                break;
        }
    }
}
