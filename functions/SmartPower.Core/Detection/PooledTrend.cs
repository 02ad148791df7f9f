namespace SmartPower.Detection;

/// <summary>
/// A least-squares rise of a quantity on time, with the supply voltage as a second regressor and an intercept per
/// stretch: the samples between two switching events form a stretch, and only the change within each stretch counts,
/// so a misjudged shift of the baseline between stretches cannot fake a trend. Running sums of the open stretch and
/// pooled centred sums of the closed ones; no samples are kept.
/// </summary>
internal sealed class PooledTrend
{
    // x: hours since the candidate's step; u: supply (V/230)^2 - 1; y: the quantity.
    private int _n;
    private double _sx, _su, _sy, _sxx, _suu, _sxu, _sxy, _suy, _syy;
    private int _pooledN, _pooledStretches;
    private double _pxx, _puu, _pxu, _pxy, _puy, _pyy;

    public void Add(double x, double u, double y)
    {
        _n++;
        _sx += x;
        _su += u;
        _sy += y;
        _sxx += x * x;
        _suu += u * u;
        _sxu += x * u;
        _sxy += x * y;
        _suy += u * y;
        _syy += y * y;
    }

    /// <summary>Closes the open stretch into the pooled sums (a stretch needs two points to say anything).</summary>
    public void Fold()
    {
        if (_n > 1)
        {
            _pxx += _sxx - (_sx * _sx / _n);
            _puu += _suu - (_su * _su / _n);
            _pxu += _sxu - (_sx * _su / _n);
            _pxy += _sxy - (_sx * _sy / _n);
            _puy += _suy - (_su * _sy / _n);
            _pyy += _syy - (_sy * _sy / _n);
            _pooledN += _n;
            _pooledStretches++;
        }

        _n = 0;
        _sx = _su = _sy = _sxx = _suu = _sxu = _sxy = _suy = _syy = 0;
    }

    /// <summary>
    /// The rise per hour not explained by the supply voltage, its t value and the scatter about the fit. A resistive
    /// load's power follows V squared; a charger's does not; so a rise that the voltage explains is not a battery's.
    /// </summary>
    public (double SlopePerHour, double T, double Scatter, int Samples) Fit()
    {
        var open = _n > 1;
        double Centred(double pooled, double sab, double sa, double sb) => pooled + (open ? sab - (sa * sb / _n) : 0);
        var xx = Centred(_pxx, _sxx, _sx, _sx);
        var uu = Centred(_puu, _suu, _su, _su);
        var xu = Centred(_pxu, _sxu, _sx, _su);
        var xy = Centred(_pxy, _sxy, _sx, _sy);
        var uy = Centred(_puy, _suy, _su, _sy);
        var yy = Centred(_pyy, _syy, _sy, _sy);
        var samples = _pooledN + (open ? _n : 0);
        var freedom = samples - _pooledStretches - (open ? 1 : 0) - 2;
        var det = (xx * uu) - (xu * xu);
        if (freedom < 10 || xx <= 0)
        {
            return (0, 0, 0, samples);
        }

        if (uu <= 1e-12 * samples || det <= 1e-9 * xx * uu)
        {
            // The supply held steady (or moved in step with time): nothing to separate, so the plain rise.
            var plain = xy / xx;
            var plainResidual = Math.Max(yy - (plain * xy), 1e-9) / (freedom + 1);
            return (plain, plain / Math.Sqrt(plainResidual / xx), Math.Sqrt(plainResidual), samples);
        }

        var slope = ((uu * xy) - (xu * uy)) / det;
        var voltageGain = ((xx * uy) - (xu * xy)) / det;
        var residual = Math.Max(yy - (slope * xy) - (voltageGain * uy), 1e-9) / freedom;
        var slopeError = Math.Sqrt(residual * uu / det);
        return (slope, slope / slopeError, Math.Sqrt(residual), samples);
    }

    public void Save(ref StateWriter w)
    {
        // The sums of the open stretch are all zero when it has no point, and the pooled ones before the first stretch.
        w.VarUInt((uint)_n);
        if (_n > 0)
        {
            w.Doubles(_sx, _su, _sy, _sxx, _suu, _sxu, _sxy, _suy, _syy);
        }

        w.VarUInt((uint)_pooledStretches);
        if (_pooledStretches > 0)
        {
            w.VarUInt((uint)_pooledN);
            w.Doubles(_pxx, _puu, _pxu, _pxy, _puy, _pyy);
        }
    }

    public static PooledTrend Read(ref StateReader r)
    {
        var t = new PooledTrend { _n = r.Count(int.MaxValue, "a trend's stretch") };
        if (t._n > 0)
        {
            (t._sx, t._su, t._sy) = (r.Double(), r.Double(), r.Double());
            (t._sxx, t._suu, t._sxu, t._sxy, t._suy, t._syy) = (r.Double(), r.Double(), r.Double(), r.Double(), r.Double(), r.Double());
        }

        t._pooledStretches = r.Count(int.MaxValue, "a trend's stretches");
        if (t._pooledStretches > 0)
        {
            t._pooledN = r.Count(int.MaxValue, "a trend's pooled samples");
            (t._pxx, t._puu, t._pxu, t._pxy, t._puy, t._pyy) = (r.Double(), r.Double(), r.Double(), r.Double(), r.Double(), r.Double());
        }

        return t;
    }
}
