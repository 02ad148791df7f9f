namespace SmartPower.Detection;

/// <summary>
/// A least-squares rise of a quantity on time, with the supply voltage and the settling of young motors as further
/// regressors and an intercept per stretch: the samples between two switching events form a stretch, and only the
/// change within each stretch counts, so a misjudged shift of the baseline between stretches cannot fake a trend.
/// Running sums of the open stretch and pooled centred sums of the closed ones; no samples are kept.
/// </summary>
internal sealed class PooledTrend
{
    // x: hours since the candidate's step; u: supply (V/230)^2 - 1; s: the motors' switch-on steps, each decayed by its
    // age over the settling time constant (W); y: the quantity.
    private int _n;
    private double _sx, _su, _ss, _sy, _sxx, _suu, _sss, _sxu, _sxs, _sus, _sxy, _suy, _ssy, _syy;
    private int _pooledN, _pooledStretches;
    private double _pxx, _puu, _pss, _pxu, _pxs, _pus, _pxy, _puy, _psy, _pyy;

    public void Add(double x, double u, double s, double y)
    {
        _n++;
        _sx += x;
        _su += u;
        _ss += s;
        _sy += y;
        _sxx += x * x;
        _suu += u * u;
        _sss += s * s;
        _sxu += x * u;
        _sxs += x * s;
        _sus += u * s;
        _sxy += x * y;
        _suy += u * y;
        _ssy += s * y;
        _syy += y * y;
    }

    /// <summary>Closes the open stretch into the pooled sums (a stretch needs two points to say anything).</summary>
    public void Fold()
    {
        if (_n > 1)
        {
            _pxx += _sxx - (_sx * _sx / _n);
            _puu += _suu - (_su * _su / _n);
            _pss += _sss - (_ss * _ss / _n);
            _pxu += _sxu - (_sx * _su / _n);
            _pxs += _sxs - (_sx * _ss / _n);
            _pus += _sus - (_su * _ss / _n);
            _pxy += _sxy - (_sx * _sy / _n);
            _puy += _suy - (_su * _sy / _n);
            _psy += _ssy - (_ss * _sy / _n);
            _pyy += _syy - (_sy * _sy / _n);
            _pooledN += _n;
            _pooledStretches++;
        }

        _n = 0;
        _sx = _su = _ss = _sy = _sxx = _suu = _sss = _sxu = _sxs = _sus = _sxy = _suy = _ssy = _syy = 0;
    }

    /// <summary>
    /// The rise per hour not explained by the supply voltage or a motor's settling, its t value and the scatter about
    /// the fit, and whether the settling entered the fit. A resistive load's power follows V squared; a charger's does
    /// not; so a rise that the voltage explains is not a battery's. A motor (a fridge compressor) draws more as it starts
    /// and settles as it runs, an exponential fall from its start by up to <see cref="ChargingSignature.MaxSettleShare"/>
    /// of its step: a fall of that shape and size is the motor's, not the load's.
    /// </summary>
    public (double SlopePerHour, double T, double Scatter, int Samples, bool SettlingFitted) Fit()
    {
        var open = _n > 1;
        double Centred(double pooled, double sab, double sa, double sb) => pooled + (open ? sab - (sa * sb / _n) : 0);
        var xx = Centred(_pxx, _sxx, _sx, _sx);
        var uu = Centred(_puu, _suu, _su, _su);
        var ss = Centred(_pss, _sss, _ss, _ss);
        var xu = Centred(_pxu, _sxu, _sx, _su);
        var xs = Centred(_pxs, _sxs, _sx, _ss);
        var us = Centred(_pus, _sus, _su, _ss);
        var xy = Centred(_pxy, _sxy, _sx, _sy);
        var uy = Centred(_puy, _suy, _su, _sy);
        var sy = Centred(_psy, _ssy, _ss, _sy);
        var yy = Centred(_pyy, _syy, _sy, _sy);
        var samples = _pooledN + (open ? _n : 0);
        var freedom = samples - _pooledStretches - (open ? 1 : 0) - 2;
        if (freedom < 10 || xx <= 0)
        {
            return (0, 0, 0, samples, false);
        }

        if (ss >= samples && xx - (xs * xs / ss) > 1e-9 * xx)
        {
            // The motors' decayed steps moved by a watt or more (root mean square) over the fit, and not in step with
            // time: the settling is taken out first, and what is left is the whole fit's regression on time and
            // supply, with one freedom less.
            var fit = FitTimeAndSupply(xx - (xs * xs / ss), uu - (us * us / ss), xu - (xs * us / ss), xy - (xs * sy / ss), uy - (us * sy / ss), yy - (sy * sy / ss), freedom - 1, samples);
            var share = (sy - (fit.SlopePerHour * xs) - (fit.VoltageGain * us)) / ss;
            if (share is >= 0 and <= ChargingSignature.MaxSettleShare)
            {
                return (fit.SlopePerHour, fit.T, fit.Scatter, samples, true);
            }

            // A motor only settles down, and by no more than its bound: beyond it, the settling is held at the bound
            // and the rest left to time and supply.
            var c = Math.Clamp(share, 0, ChargingSignature.MaxSettleShare);
            var bounded = FitTimeAndSupply(xx, uu, xu, xy - (c * xs), uy - (c * us), yy - (2 * c * sy) + (c * c * ss), freedom, samples);
            return (bounded.SlopePerHour, bounded.T, bounded.Scatter, samples, true);
        }

        var plainFit = FitTimeAndSupply(xx, uu, xu, xy, uy, yy, freedom, samples);
        return (plainFit.SlopePerHour, plainFit.T, plainFit.Scatter, samples, false);
    }

    private static (double SlopePerHour, double VoltageGain, double T, double Scatter) FitTimeAndSupply(double xx, double uu, double xu, double xy, double uy, double yy, int freedom, int samples)
    {
        var det = (xx * uu) - (xu * xu);
        if (uu <= 1e-12 * samples || det <= 1e-9 * xx * uu)
        {
            // The supply held steady (or moved in step with time): nothing to separate, so the plain rise.
            var plain = xy / xx;
            var plainResidual = Math.Max(yy - (plain * xy), 1e-9) / (freedom + 1);
            return (plain, 0, plain / Math.Sqrt(plainResidual / xx), Math.Sqrt(plainResidual));
        }

        var slope = ((uu * xy) - (xu * uy)) / det;
        var voltageGain = ((xx * uy) - (xu * xy)) / det;
        var residual = Math.Max(yy - (slope * xy) - (voltageGain * uy), 1e-9) / freedom;
        var slopeError = Math.Sqrt(residual * uu / det);
        return (slope, voltageGain, slope / slopeError, Math.Sqrt(residual));
    }

    public void Save(ref StateWriter w)
    {
        // The sums of the open stretch are all zero when it has no point, and the pooled ones before the first stretch.
        w.VarUInt((uint)_n);
        if (_n > 0)
        {
            w.Doubles(_sx, _su, _ss, _sy, _sxx, _suu, _sss);
            w.Doubles(_sxu, _sxs, _sus, _sxy, _suy, _ssy, _syy);
        }

        w.VarUInt((uint)_pooledStretches);
        if (_pooledStretches > 0)
        {
            w.VarUInt((uint)_pooledN);
            w.Doubles(_pxx, _puu, _pss, _pxu, _pxs);
            w.Doubles(_pus, _pxy, _puy, _psy, _pyy);
        }
    }

    public static PooledTrend Read(ref StateReader r)
    {
        var t = new PooledTrend { _n = r.Count(int.MaxValue, "a trend's stretch") };
        if (t._n > 0)
        {
            (t._sx, t._su, t._ss, t._sy, t._sxx, t._suu, t._sss) = (r.Double(), r.Double(), r.Double(), r.Double(), r.Double(), r.Double(), r.Double());
            (t._sxu, t._sxs, t._sus, t._sxy, t._suy, t._ssy, t._syy) = (r.Double(), r.Double(), r.Double(), r.Double(), r.Double(), r.Double(), r.Double());
        }

        t._pooledStretches = r.Count(int.MaxValue, "a trend's stretches");
        if (t._pooledStretches > 0)
        {
            t._pooledN = r.Count(int.MaxValue, "a trend's pooled samples");
            (t._pxx, t._puu, t._pss, t._pxu, t._pxs) = (r.Double(), r.Double(), r.Double(), r.Double(), r.Double());
            (t._pus, t._pxy, t._puy, t._psy, t._pyy) = (r.Double(), r.Double(), r.Double(), r.Double(), r.Double());
        }

        return t;
    }
}
