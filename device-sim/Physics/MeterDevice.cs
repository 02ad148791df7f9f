using System.Text;
using SmartPower.DeviceSim.Contract;
using SmartPower.DeviceSim.Truth;

namespace SmartPower.DeviceSim.Physics;

/// <summary>A meter on a dwelling or common-area circuit: the sum of its appliances, measured with noise.</summary>
internal sealed class MeterDevice(DeviceSpec spec, Rng rng) : DeviceBase(spec, rng)
{
    private readonly StringBuilder _sb = new(320);
    private readonly Reading _reading = new();
    private Ar1 _leakWander = null!;
    private double _iPrev;
    private double _temp = double.NaN;
    private double _energy;

    public double RatedA => Spec.RatedCurrentA;

    public List<Load> Loads { get; } = [];

    public List<TopUpLoad> TopUps { get; } = [];

    public List<ArcingHeaterLoad> ArcLoads { get; } = [];

    public double SigmaW { get; set; }

    public double EnergyStartKWh { get; set; }

    protected override void OnBegin()
    {
        _leakWander = new Ar1(Rng, 0.998);
        _energy = EnergyStartKWh;
    }

    protected override string? Read(long tMs, long seq)
    {
        var t = tMs / 1000.0;
        double dt = Spec.ReportIntervalS;
        var v = Site.At(t) + VoltOffset - (LineOhm * _iPrev);
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
        _energy += p * dt / 3.6e6;
        _temp = TerminalTemp(_temp, t, dt, trueI);
        var tm = _temp + (0.1 * Rng.Normal());
        var lk = Leakage(_leakWander, leak, t, v);
        _iPrev = trueI;

        var pmR = Math.Round(pm, 1);
        var imR = Math.Round(im, 2);
        var tmR = Math.Round(tm, 1);
        var lkR = Math.Round(lk, 1);
        if (Gaps.Silences(t, tMs))
        {
            return null;
        }

        _reading.CurrentA = imR;
        _reading.TempC = tmR;
        _reading.LeakMa = lkR;
        _reading.Arc = arc;
        Observe(t, tMs, _reading);
        var sb = _sb;
        BeginPayload(sb, tMs, seq);
        Format.Num(sb, ",\"voltageV\":", vm, 1);
        Format.Num(sb, ",\"currentA\":", imR, 2);
        Format.Num(sb, ",\"powerW\":", pmR, 1);
        Format.Num(sb, ",\"powerFactor\":", pf, 2);
        Format.Num(sb, ",\"energyKWh\":", _energy, 3);
        Format.Num(sb, ",\"leakageMa\":", lkR, 1);
        Format.Num(sb, ",\"tempC\":", tmR, 1);
        sb.Append(",\"arcFault\":").Append(arc ? "true" : "false").Append('}');
        return sb.ToString();
    }

    /// <summary>Lists each look-alike appliance's episodes, clipped to the run.</summary>
    protected override void OnFinish(DeviceOutput output)
    {
        foreach (var load in Loads.Concat(TopUps))
        {
            if (load is WaterHeaterLoad wh)
            {
                wh.Finish(Clock.DurationS);
            }

            if (load.LookAlike is null)
            {
                continue;
            }

            foreach (var e in load.Episodes.Concat(load.PlannedEpisodes))
            {
                var a = Clock.Clamp(e.A);
                var b = Clock.Clamp(e.B);
                if (b > a || (b == a && e.A >= 0 && e.A < Clock.DurationS))
                {
                    output.LookAlikes.Add(new LookAlike(load.LookAlike, DeviceId, null, Start.AddSeconds(a), Start.AddSeconds(b)));
                }
            }
        }
    }
}
