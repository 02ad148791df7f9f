namespace SmartPower.DeviceSim.Physics;

/// <summary>
/// An e-bike battery charger and its pack, CC/CV.
/// <list type="bullet">
/// <item>Soft start: input power ramps up over 2-5 s after plug-in (the step lands in one or two readings).</item>
/// <item>Constant current: the pack terminal voltage climbs from its start state to the CV set point, so the
/// input power V_batt I / efficiency rises 10-25% over 1.5-5 h. Voltage-vs-progress has the usual shape:
/// a quick initial rise, a long gentle slope, and a steeper knee as the pack approaches the set point.</item>
/// <item>Constant voltage: current decays exponentially, I = I_cc exp(-t / tau), over 0.5-2 h.</item>
/// <item>End: lead-acid chargers float at 2.28 V/cell with a few hundred mA (a few W); lithium chargers cut off
/// and draw only their standby overhead (~1 W).</item>
/// </list>
/// Lead-acid: 12 V blocks, CV 2.45 V/cell. Lithium (NMC): 10/13/16/20 series cells for 36/48/60/72 V, CV 4.2 V/cell.
/// </summary>
internal sealed class EbikeCharger
{
    private EbikeCharger()
    {
    }

    public string Pack { get; private init; } = "";

    public bool Lithium { get; private init; }

    public double VcvV { get; private init; }

    public double VlowV { get; private init; }

    public double ProgressStart { get; private init; }

    public double CurrentA { get; private init; }

    public double Efficiency { get; private init; }

    public double PowerFactor { get; private init; }

    public double SoftStartS { get; private init; }

    public double CcS { get; private init; }

    public double CvS { get; private init; }

    public double TauS { get; private init; }

    public double EndW { get; private init; }

    public double OverheadW { get; private init; }

    /// <summary>Multiplies the first reading after plug-in (an inrush/overshoot with no soft start), 1 = none.</summary>
    public double StartTransient { get; private init; } = 1.0;

    /// <summary>The same charger without soft start: its first reading overshoots by <paramref name="factor"/>.</summary>
    public EbikeCharger WithStartTransient(double factor) => new()
    {
        Pack = Pack,
        Lithium = Lithium,
        VcvV = VcvV,
        VlowV = VlowV,
        ProgressStart = ProgressStart,
        CurrentA = CurrentA,
        Efficiency = Efficiency,
        PowerFactor = PowerFactor,
        SoftStartS = SoftStartS,
        CcS = CcS,
        CvS = CvS,
        TauS = TauS,
        EndW = EndW,
        OverheadW = OverheadW,
        StartTransient = factor,
    };

    /// <summary>Seconds after plug-in at which the charger reaches its float/cut-off state.</summary>
    public double DoneS => CcS + CvS;

    /// <summary>Input power at the CV point, the charger's maximum.</summary>
    public double PeakW => (VcvV * CurrentA / Efficiency) + OverheadW;

    /// <summary>A domestic charger of the kind carried upstairs: 36-72 V, 1.8-5 A, 80-450 W input.</summary>
    public static EbikeCharger Household(Rng rng, double maxInputW = 450)
    {
        var nominal = new[] { 36, 48, 60, 72 }[rng.Weighted(0.15, 0.5, 0.2, 0.15)];
        return Build(rng, nominal, lithium: rng.Chance(0.4), current: rng.Uniform(1.8, 5.0), maxInputW: maxInputW,
            ccS: rng.Uniform(1.5, 5.0) * 3600, cvS: rng.Uniform(0.5, 2.0) * 3600, progress: rng.Uniform(0, 0.45));
    }

    /// <summary>A compliant pile charger, 100-250 W input at its peak.</summary>
    public static EbikeCharger Compliant(Rng rng)
    {
        var nominal = new[] { 48, 60 }[rng.Weighted(0.75, 0.25)];
        var target = rng.Uniform(115, 250);
        var lithium = rng.Chance(0.4);
        var vcv = Vcv(nominal, lithium);
        var eff = rng.Uniform(0.82, 0.9);
        var current = target * eff / vcv;
        return Build(rng, nominal, lithium, current, 260, rng.Uniform(1.5, 5.0) * 3600, rng.Uniform(0.5, 2.0) * 3600, rng.Uniform(0, 0.45), eff);
    }

    /// <summary>
    /// A modified (over-capacity, "fast") lithium pack and charger: 500-900 W, already partly charged, so
    /// a short CC phase (10-35 min) and a CV taper of 30-60 min.
    /// </summary>
    public static EbikeCharger Modified(Rng rng)
    {
        var nominal = rng.Chance(0.6) ? 72 : 60;
        var vcv = Vcv(nominal, true);
        var eff = rng.Uniform(0.86, 0.92);
        var target = rng.Uniform(560, 880);
        var current = target * eff / vcv;
        return Build(rng, nominal, true, current, 900, rng.Uniform(600, 2100), rng.Uniform(1800, 3600), rng.Uniform(0.6, 0.8), eff);
    }

    private static double Vcv(int nominal, bool lithium) =>
        lithium ? SeriesCells(nominal) * 4.2 : nominal / 2 * 2.45;

    private static int SeriesCells(int nominal) => nominal switch
    {
        36 => 10,
        48 => 13,
        60 => 16,
        _ => 20,
    };

    private static EbikeCharger Build(Rng rng, int nominal, bool lithium, double current, double maxInputW, double ccS, double cvS, double progress, double? efficiency = null)
    {
        var cells = lithium ? SeriesCells(nominal) : nominal / 2;
        var vcv = lithium ? cells * 4.2 : cells * 2.45;
        var vlow = lithium ? cells * 3.45 : cells * 2.02;
        var eff = efficiency ?? rng.Uniform(0.82, 0.9);
        var overhead = rng.Uniform(0.6, 1.8);
        current = Math.Min(current, (maxInputW - overhead) * eff / vcv);
        var endRatio = rng.Uniform(0.07, 0.15);
        var tau = cvS / Math.Log(1 / endRatio);

        // Lead-acid floats at 2.28 V/cell with ~0.1-0.3 A; lithium chargers cut off.
        var endW = lithium ? overhead : (cells * 2.28 * rng.Uniform(0.1, 0.3) / eff) + overhead;
        var pf = current * vcv / eff > 200 ? rng.Uniform(0.8, 0.95) : rng.Uniform(0.6, 0.85);
        return new EbikeCharger
        {
            Pack = $"{nominal}V {(lithium ? "lithium" : "lead-acid")}",
            Lithium = lithium,
            VcvV = vcv,
            VlowV = vlow,
            ProgressStart = progress,
            CurrentA = current,
            Efficiency = eff,
            PowerFactor = pf,
            SoftStartS = rng.Uniform(2, 5),
            CcS = ccS,
            CvS = cvS,
            TauS = tau,
            EndW = endW,
            OverheadW = overhead,
        };
    }

    /// <summary>Input (mains-side) real power <paramref name="u"/> seconds after plug-in, with ~0.5% ripple.</summary>
    public double InputW(double u, Rng rng)
    {
        if (u < 0)
        {
            return 0;
        }

        double p;
        if (u < CcS)
        {
            var x = ProgressStart + ((1 - ProgressStart) * u / CcS);
            p = (BatteryV(x) * CurrentA / Efficiency) + OverheadW;
        }
        else if (u < DoneS)
        {
            var i = CurrentA * Math.Exp(-(u - CcS) / TauS);
            p = Math.Max((VcvV * i / Efficiency) + OverheadW, EndW);
        }
        else
        {
            p = EndW;
        }

        if (u < SoftStartS && StartTransient <= 1.0)
        {
            p *= u / SoftStartS;
        }

        p *= 1 + (0.005 * rng.Normal());
        return p;
    }

    /// <summary>Pack terminal voltage under charge at CC progress x in [0, 1].</summary>
    private double BatteryV(double x)
    {
        var shape = (0.25 * (1 - Math.Exp(-x / 0.06))) + (0.6 * x) + (0.15 * Math.Pow(x, 6));
        return VlowV + ((VcvV - VlowV) * shape);
    }
}
