namespace SmartPower.Detection;

/// <summary>Saving and restoring the rule's whole state (layout in <see cref="StateFormat"/>). Everything kept as
/// <c>float</c> in memory is saved as <c>f32</c> and everything kept as <c>double</c> as <c>f64</c>, so a restored rule
/// decides exactly as one never saved.</summary>
internal sealed partial class ReactiveHold
{
    public void Save(ref StateWriter w)
    {
        w.Time(_lastRawTs);
        w.VarUInt((ulong)_n);
        var from = Math.Max(0, _n - Readings);
        for (var k = from; k < _n; k++)
        {
            if (k == from)
            {
                w.Time(T(k));
            }
            else
            {
                w.VarUInt((ulong)(T(k) - T(k - 1)));
            }

            w.Single(_q![k % Readings]);
            w.Single(_p![k % Readings]);
        }

        w.Double(_minuteSum);
        w.Byte((byte)_minuteCount);
        w.VarUInt((ulong)_minutesN);
        var mfrom = Math.Max(0, _minutesN - Minutes);
        for (var m = mfrom; m < _minutesN; m++)
        {
            if (m == mfrom)
            {
                w.Time(_mt![m % Minutes]);
            }
            else
            {
                w.VarUInt((ulong)(_mt![m % Minutes] - _mt[(m - 1) % Minutes]));
            }

            w.Single(_mq![m % Minutes]);
        }

        foreach (var seen in (ReadOnlySpan<long>)[_seen0, _seen1, _seen2, _seen3])
        {
            w.VarUInt(seen < 0 ? 0 : (ulong)(_n - seen));
        }

        w.VarUInt((ulong)_steps.Count);
        foreach (var step in _steps)
        {
            SaveStep(ref w, step);
        }

        w.VarUInt((ulong)_pending.Count);
        foreach (var c in _pending)
        {
            w.VarUInt((ulong)(_n - c.Index));
            SaveStep(ref w, c.Step);
            w.Doubles(c.FloorBefore, c.ScatterBefore, c.ScatterAfter);
        }

        w.Time(_lastCallEnd);
        w.Time(CalledStepTs);
        w.Bool(_charge is not null);
        if (_charge is { } charge)
        {
            SaveStep(ref w, charge.Step);
            w.Time(charge.FromTs);
            w.Time(charge.DecidedTs);
            w.Time(charge.EndedTs);
            w.Double(charge.FloorBefore);
            w.VarUInt((ulong)charge.LowMinutes);
            w.Byte((byte)charge.WatchedMinutes);
        }
    }

    /// <summary>Reads what <see cref="Save"/> wrote into this fresh rule.</summary>
    public void Read(ref StateReader r)
    {
        _lastRawTs = r.Time();
        _n = (long)r.VarUInt();
        if (_n < 0)
        {
            throw new StateFormatException("the reactive rule's reading count is out of range");
        }

        var from = Math.Max(0, _n - Readings);
        if (_n > 0)
        {
            (_t, _q, _p) = (new long[Readings], new float[Readings], new float[Readings]);
        }

        for (var k = from; k < _n; k++)
        {
            _t![k % Readings] = k == from ? r.Time() : _t[(k - 1) % Readings] + (long)r.VarUInt();
            _q![k % Readings] = r.Single();
            _p![k % Readings] = r.Single();
        }

        _minuteSum = r.Double();
        _minuteCount = r.Count(ReadingsPerMinute - 1, "the reactive rule's readings in the open minute");
        _minutesN = (long)r.VarUInt();
        if (_minutesN < 0)
        {
            throw new StateFormatException("the reactive rule's minute count is out of range");
        }

        var mfrom = Math.Max(0, _minutesN - Minutes);
        if (_minutesN > 0)
        {
            (_mt, _mq) = (new long[Minutes], new float[Minutes]);
        }

        for (var m = mfrom; m < _minutesN; m++)
        {
            _mt![m % Minutes] = m == mfrom ? r.Time() : _mt[(m - 1) % Minutes] + (long)r.VarUInt();
            _mq![m % Minutes] = r.Single();
        }

        _seen0 = Seen(ref r);
        _seen1 = Seen(ref r);
        _seen2 = Seen(ref r);
        _seen3 = Seen(ref r);
        var steps = r.Count(MaxSteps + 2, "the reactive rule's steps");
        for (var i = 0; i < steps; i++)
        {
            _steps.Add(ReadStep(ref r));
        }

        var pending = r.Count(MaxPending, "the reactive rule's candidates");
        for (var i = 0; i < pending; i++)
        {
            var back = (long)r.VarUInt();
            if (back <= 0 || back > _n)
            {
                throw new StateFormatException("a reactive candidate's reading is out of range");
            }

            var step = ReadStep(ref r);
            _pending.Add(new Candidate(_n - back, step, r.Double(), r.Double()) { ScatterAfter = r.Double() });
        }

        _lastCallEnd = r.Time();
        CalledStepTs = r.Time();
        if (r.Bool())
        {
            var step = ReadStep(ref r);
            var fromTs = r.Time();
            var decidedTs = r.Time();
            var endedTs = r.Time();
            _charge = new Charge(step.Ts, fromTs, step, r.Double()) { DecidedTs = decidedTs, EndedTs = endedTs, LowMinutes = r.Count((1 << EndWindowMinutes) - 1, "a reactive charge's low minutes"), WatchedMinutes = r.Count(EndWindowMinutes, "a reactive charge's watched minutes") };
        }

        long Seen(ref StateReader reader)
        {
            var back = (long)reader.VarUInt();
            if (back < 0 || back > _n)
            {
                throw new StateFormatException("a reactive edge's reading is out of range");
            }

            return back == 0 ? -1 : _n - back;
        }
    }

    private static void SaveStep(ref StateWriter w, Step step)
    {
        w.Time(step.Ts);
        w.Single(step.Q);
        w.Single(step.P);
    }

    private static Step ReadStep(ref StateReader r) => new(r.Time(), r.Single(), r.Single());
}
