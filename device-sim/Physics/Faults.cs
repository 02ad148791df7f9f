namespace SmartPower.DeviceSim.Physics;

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
