namespace SmartPower.DeviceSim.Physics;

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
