using SmartPower.Alerts;
using SmartPower.Registry;

namespace SmartPower.Detection;

/// <summary>
/// Finds an e-bike charger inside a meter's total power, from the physics of charging.
/// <para>
/// How it decides. The meter reports one number, the sum of every load on the circuit. The power is first
/// passed through a 3-sample median filter, which removes one-sample spikes (motor inrush, switching noise).
/// It then looks for <b>edges</b>: sample-to-sample changes of 25 W or more, merged over up to three samples
/// (a charger's soft start can straddle a sample boundary).
/// </para>
/// <list type="number">
/// <item><b>Step-on.</b> A rising edge of <c>ChargerMinStepW</c>..<c>ChargerMaxStepW</c> (80-450 W: a 36 V pack on
/// a 1.8 A charger up to a 72 V pack on 5 A) opens a <i>candidate</i>, unless the raw power overshot the new
/// level by more than half the step. That overshoot is a compressor or motor inrush (fridge, pump), while a
/// charger soft-starts.</item>
/// <item><b>Tracking.</b> While a candidate lives, every other edge belongs to some other appliance and moves the
/// candidate's baseline, so a fridge or kettle switching beside a charger does not disturb it. A falling edge
/// about the candidate's size (0.6-1.6x) is the load switching off and ends the candidate.</item>
/// <item><b>Little noise of its own.</b> The mean sample-to-sample change while the candidate is on may exceed the
/// circuit's noise before the step by at most <c>ChargerExtraNoiseW</c> + <c>ChargerExtraNoisePct</c>% of the step.
/// A TV (picture-dependent), a PC (load-dependent) or a laptop in use all add noise; a charger in its
/// constant-current phase adds almost none.</item>
/// <item><b>Rising slowly.</b> In the constant-current phase the charger's input power is battery voltage x
/// current / efficiency, and the battery voltage climbs, so the power rises by several percent an hour. The
/// candidate's power is regressed on time (pooled within the stretches between other appliances' edges, so a
/// misjudged baseline shift cannot fake a trend). It must rise by at least <c>ChargerMinRisePctPerHour</c>,
/// with a t value of at least <c>ChargerMinTrendT</c>. Resistive loads (blankets, heaters, lamps) stay flat or
/// fall as they warm, fridges settle down, and TVs wander.</item>
/// <item><b>Held.</b> Nothing is called before <c>ChargerMinHoldS</c> (10 min) of steady load, which outlasts a
/// kettle, a microwave or most fridge cycles. A candidate that has not shown the signature by
/// <c>ChargerDecideWithinS</c> (2 h) is taken for something else.</item>
/// </list>
/// A confirmed candidate opens one illegal-charging incident per meter: critical on a common-area circuit
/// (a flying wire or a charger in the stairwell), warning in a dwelling. The incident clears when every
/// confirmed candidate has switched off or tapered below 15% of its step (end of the constant-voltage phase)
/// for 10 minutes.
/// </summary>
internal sealed class ChargingSignature
{
    private const double EdgeW = 25;
    private const int MaxEdgeSamples = 3;
    private const int MaxCandidates = 3;
    private const double NoiseEmaWeight = 1.0 / 32;
    private const long TaperClearMs = 10 * 60_000;
    private const long MaxChargeMs = 24 * 3_600_000L;

    private double _p1;
    private double _p2;
    private double _level;
    private int _samples;
    private long _lastTs;

    private double _edgeSum;
    private double _edgeFrom;
    private double _edgePeakRaw;
    private long _edgeStartTs;
    private int _edgeLength;

    private double _noise = double.NaN;
    private Candidate?[]? _candidates;

    public void Observe(long ts, double powerW, Device device, long gapMs, ref Incident? incident, IDetectionSink sink)
    {
        if (_samples > 0 && ts - _lastTs > gapMs)
        {
            Restart(); // a gap in the data: what happened in it is unknown, so steps cannot be trusted across it
        }

        _lastTs = ts;
        if (_samples < 2)
        {
            (_p2, _p1) = (_p1, powerW);
            _samples++;
            _level = powerW;
            return;
        }

        var filtered = Median(_p2, _p1, powerW);
        var peakRaw = Math.Max(Math.Max(_p2, _p1), powerW);
        (_p2, _p1) = (_p1, powerW);
        var delta = filtered - _level;
        var previous = _level;
        _level = filtered;

        if (Math.Abs(delta) >= EdgeW)
        {
            if (_edgeLength > 0 && Math.Sign(delta) == Math.Sign(_edgeSum) && _edgeLength < MaxEdgeSamples)
            {
                _edgeSum += delta;
                _edgeLength++;
                _edgePeakRaw = Math.Max(_edgePeakRaw, peakRaw);
                return;
            }

            if (_edgeLength > 0)
            {
                CloseEdge(previous, ts, device, ref incident, sink);
            }

            _edgeSum = delta;
            _edgeFrom = previous;
            _edgePeakRaw = peakRaw;
            _edgeStartTs = ts;
            _edgeLength = 1;
            return;
        }

        if (_edgeLength > 0)
        {
            CloseEdge(filtered, ts, device, ref incident, sink);
        }

        var change = Math.Abs(delta);
        _noise = double.IsNaN(_noise) ? change : _noise + ((change - _noise) * NoiseEmaWeight);
        if (_candidates is null)
        {
            return;
        }

        for (var i = 0; i < _candidates.Length; i++)
        {
            if (_candidates[i] is { } c)
            {
                c.Add(ts, filtered, change);
                Evaluate(c, i, ts, device, ref incident, sink);
            }
        }
    }

    private void CloseEdge(double settled, long ts, Device device, ref Incident? incident, IDetectionSink sink)
    {
        var step = _edgeSum;
        _edgeLength = 0;
        var t = device.Thresholds;
        if (step < 0)
        {
            var ended = MatchSwitchOff(-step);
            if (ended >= 0)
            {
                End(ended, ts, device, ref incident, sink);
            }
        }

        ShiftBaselines(step);
        var inrush = _edgePeakRaw - settled > 0.5 * step;
        if (step >= t.ChargerMinStepW && step <= t.ChargerMaxStepW && !inrush)
        {
            Add(new Candidate(_edgeStartTs, step, _edgeFrom, double.IsNaN(_noise) ? 0 : _noise));
        }
    }

    private int MatchSwitchOff(double drop)
    {
        var best = -1;
        var bestError = double.MaxValue;
        for (var i = 0; _candidates is not null && i < _candidates.Length; i++)
        {
            if (_candidates[i] is not { } c)
            {
                continue;
            }

            var ratio = drop / Math.Max(c.Level(_edgeFrom), 1);
            var error = Math.Abs(Math.Log(ratio));
            if (ratio is >= 0.6 and <= 1.6 && error < bestError)
            {
                best = i;
                bestError = error;
            }
        }

        return best;
    }

    private void ShiftBaselines(double step)
    {
        for (var i = 0; _candidates is not null && i < _candidates.Length; i++)
        {
            _candidates[i]?.ShiftBaseline(step);
        }
    }

    private void Add(Candidate candidate)
    {
        _candidates ??= new Candidate?[MaxCandidates];
        var slot = Array.IndexOf(_candidates, null);
        if (slot < 0)
        {
            // Full: give the slot of the oldest candidate that is not a confirmed charger to the newcomer.
            for (var i = 0; i < _candidates.Length; i++)
            {
                if (!_candidates[i]!.Confirmed && (slot < 0 || _candidates[i]!.StartTs < _candidates[slot]!.StartTs))
                {
                    slot = i;
                }
            }

            if (slot < 0)
            {
                return;
            }
        }

        _candidates[slot] = candidate;
    }

    private void Evaluate(Candidate c, int slot, long ts, Device device, ref Incident? incident, IDetectionSink sink)
    {
        var t = device.Thresholds;
        var held = ts - c.StartTs;
        var level = c.CurrentLevel;
        if (c.Confirmed)
        {
            c.TrackTaper(ts, level < Math.Max(EdgeW, 0.15 * c.Step));
            if (c.TaperedSince(ts) >= TaperClearMs || held > MaxChargeMs)
            {
                End(slot, ts, device, ref incident, sink);
            }

            return;
        }

        if (level < 0.4 * c.Step)
        {
            _candidates![slot] = null; // faded away without a clean switch-off: not a charger we can follow
            return;
        }

        if (c.GaveUp || held < t.ChargerMinHoldS * 1000)
        {
            return;
        }

        if (held > t.ChargerDecideWithinS * 1000)
        {
            c.GaveUp = true;
            return;
        }

        var trend = c.Trend();
        var quiet = c.MeanChange <= c.BaselineNoise + t.ChargerExtraNoiseW + (t.ChargerExtraNoisePct / 100 * c.Step);
        var plausible = level >= 0.6 * t.ChargerMinStepW && level <= 1.3 * t.ChargerMaxStepW;
        var risePct = trend.SlopePerHour / level * 100;
        if (!quiet || !plausible || risePct < t.ChargerMinRisePctPerHour || trend.T < t.ChargerMinTrendT)
        {
            return;
        }

        c.Confirmed = true;
        var severity = device.Circuit == Contract.Circuit.CommonArea ? Severity.Critical : Severity.Warning;
        incident ??= new Incident(device, AlertType.IllegalCharging);
        var evidence = new Evidence(
            new("stepW", c.Step),
            new("powerW", level),
            new("risePctPerHour", risePct),
            new("trendT", trend.T),
            new("noiseW", c.MeanChange),
            new("baselineNoiseW", c.BaselineNoise),
            new("heldS", held / 1000.0));
        incident.Raise(ts, severity, level, evidence, sink);
    }

    private void End(int slot, long ts, Device device, ref Incident? incident, IDetectionSink sink)
    {
        var c = _candidates![slot]!;
        _candidates[slot] = null;
        if (!c.Confirmed || incident is not { IsOpen: true })
        {
            return;
        }

        foreach (var other in _candidates)
        {
            if (other is { Confirmed: true })
            {
                return; // another charger on the same circuit keeps the incident open
            }
        }

        incident.Clear(ts, new Evidence(new("stepW", c.Step), new("chargedS", (ts - c.StartTs) / 1000.0)), sink);
    }

    private void Restart()
    {
        _samples = 0;
        _edgeLength = 0;
        if (_candidates is null)
        {
            return;
        }

        for (var i = 0; i < _candidates.Length; i++)
        {
            if (_candidates[i] is { Confirmed: false })
            {
                _candidates[i] = null;
            }
        }
    }

    private static double Median(double a, double b, double c) => Math.Max(Math.Min(a, b), Math.Min(Math.Max(a, b), c));

    /// <summary>One new load being watched: its step, its baseline, and running sums for noise and trend.</summary>
    private sealed class Candidate(long startTs, double step, double baseline, double baselineNoise)
    {
        private double _baseline = baseline;
        private double _changeSum;
        private int _changeCount;
        private long _taperSince;

        // The current stretch between other appliances' edges, and the pooled, centred sums of earlier stretches.
        private int _n;
        private double _sx, _sy, _sxx, _sxy, _syy;
        private int _pooledN, _pooledStretches;
        private double _pxx, _pxy, _pyy;

        public long StartTs { get; } = startTs;

        public double Step { get; } = step;

        public double BaselineNoise { get; } = baselineNoise;

        public bool Confirmed { get; set; }

        public bool GaveUp { get; set; }

        public double CurrentLevel { get; private set; } = step;

        public double MeanChange => _changeCount == 0 ? 0 : _changeSum / _changeCount;

        public double Level(double circuitPower) => circuitPower - _baseline;

        public void Add(long ts, double circuitPower, double change)
        {
            var x = (ts - StartTs) / 3_600_000.0;
            var y = circuitPower - _baseline;
            CurrentLevel = y;
            _changeSum += change;
            _changeCount++;
            _n++;
            _sx += x;
            _sy += y;
            _sxx += x * x;
            _sxy += x * y;
            _syy += y * y;
        }

        public void ShiftBaseline(double step)
        {
            _baseline += step;
            if (_n > 0)
            {
                _pxx += _sxx - (_sx * _sx / _n);
                _pxy += _sxy - (_sx * _sy / _n);
                _pyy += _syy - (_sy * _sy / _n);
                _pooledN += _n;
                _pooledStretches++;
            }

            _n = 0;
            _sx = _sy = _sxx = _sxy = _syy = 0;
        }

        public (double SlopePerHour, double T) Trend()
        {
            var sxx = _pxx + (_n > 0 ? _sxx - (_sx * _sx / _n) : 0);
            var sxy = _pxy + (_n > 0 ? _sxy - (_sx * _sy / _n) : 0);
            var syy = _pyy + (_n > 0 ? _syy - (_sy * _sy / _n) : 0);
            var freedom = _pooledN + _n - _pooledStretches - (_n > 0 ? 1 : 0) - 1;
            if (freedom < 10 || sxx <= 0)
            {
                return (0, 0);
            }

            var slope = sxy / sxx;
            var residual = Math.Max(syy - (slope * sxy), 1e-9) / freedom;
            return (slope, slope / Math.Sqrt(residual / sxx));
        }

        public void TrackTaper(long ts, bool low) => _taperSince = low ? (_taperSince == 0 ? ts : _taperSince) : 0;

        public long TaperedSince(long ts) => _taperSince == 0 ? 0 : ts - _taperSince;
    }
}
