namespace SmartPower.Detection;

/// <summary>Saving and restoring the rule's whole state (layout in <see cref="StateFormat"/>). The rings hold values to a
/// tenth and are saved as whole tenths, each the difference from the one before (a quiet circuit's readings differ by a
/// few watts: a byte or two each), their times as the change of the interval (0 for a regular meter: a byte); the rest
/// as <c>f32</c> where kept as <c>float</c> and <c>f64</c> where kept as <c>double</c>; so a restored rule decides
/// exactly as one never saved.</summary>
internal sealed partial class ReactiveHold
{
    public void Save(ref StateWriter w)
    {
        w.Time(_lastRawTs);
        w.VarUInt((ulong)_n);
        var from = Math.Max(0, _n - Readings);
        SaveRing(ref w, from, _n, _t, _q, _p, Readings);

        w.Double(_minuteSum);
        w.Double(_minutePowerSum);
        w.Byte((byte)_minuteCount);
        w.VarUInt((ulong)_minutesN);
        var mfrom = Math.Max(0, _minutesN - Minutes);
        SaveRing(ref w, mfrom, _minutesN, _mt, _mq, _mp, Minutes);

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
            w.Doubles(c.FloorBefore, c.ScatterBefore, c.ScatterAfter, c.PowerBefore, c.PowerScatterBefore, c.PowerScatterAfter);
            w.Bool(c.WithResistive);
        }

        w.Time(_lastCallEnd);
        w.Time(CalledStepTs);
        w.Bool(_charge is not null);
        if (_charge is { } charge)
        {
            SaveStep(ref w, charge.Step);
            w.Time(charge.FromTs);
            w.Time(charge.Cursor);
            w.Time(charge.ReversalTs);
            w.Time(charge.EndedTs);
            w.Time(charge.CalledLoadTs);
            w.Double(charge.FloorBefore);
            w.Double(charge.Shift);
            w.VarUInt((ulong)charge.LowMinutes);
            w.Byte((byte)charge.WatchedMinutes);
            w.Bool(charge.Rule == NightFloorRuleId);
            w.VarUInt((ulong)charge.Loads.Count);
            foreach (var load in charge.Loads)
            {
                SaveStep(ref w, load);
            }
        }

        _floor.Save(ref w);
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

        ReadRing(ref r, from, _n, _t, _q, _p, Readings);

        _minuteSum = r.Double();
        _minutePowerSum = r.Double();
        _minuteCount = r.Count(ReadingsPerMinute - 1, "the reactive rule's readings in the open minute");
        _minutesN = (long)r.VarUInt();
        if (_minutesN < 0)
        {
            throw new StateFormatException("the reactive rule's minute count is out of range");
        }

        var mfrom = Math.Max(0, _minutesN - Minutes);
        if (_minutesN > 0)
        {
            (_mt, _mq, _mp) = (new long[Minutes], new float[Minutes], new float[Minutes]);
        }

        ReadRing(ref r, mfrom, _minutesN, _mt, _mq, _mp, Minutes);

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
            _pending.Add(new Candidate(_n - back, step, r.Double(), r.Double())
            {
                ScatterAfter = r.Double(),
                PowerBefore = r.Double(),
                PowerScatterBefore = r.Double(),
                PowerScatterAfter = r.Double(),
                WithResistive = r.Bool(),
            });
        }

        _lastCallEnd = r.Time();
        CalledStepTs = r.Time();
        if (r.Bool())
        {
            var step = ReadStep(ref r);
            var fromTs = r.Time();
            var cursor = r.Time();
            var reversalTs = r.Time();
            var endedTs = r.Time();
            var calledLoadTs = r.Time();
            _charge = new Charge(step.Ts, fromTs, step, r.Double())
            {
                Cursor = cursor,
                ReversalTs = reversalTs,
                EndedTs = endedTs,
                CalledLoadTs = calledLoadTs,
                Shift = r.Double(),
                LowMinutes = r.Count((1 << EndWindowMinutes) - 1, "a reactive charge's low minutes"),
                WatchedMinutes = r.Count(EndWindowMinutes, "a reactive charge's watched minutes"),
                Rule = r.Bool() ? NightFloorRuleId : RuleId,
            };
            var loads = r.Count(MaxLoads, "a reactive charge's loads");
            for (var i = 0; i < loads; i++)
            {
                _charge.Loads.Add(ReadStep(ref r));
            }
        }

        _floor.Read(ref r);

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

    /// <summary>
    /// Entries <paramref name="from"/> to <paramref name="to"/> of a ring: the first time, then each interval's change
    /// from the one before; each value in whole tenths, as its difference from the one before.
    /// </summary>
    private static void SaveRing(ref StateWriter w, long from, long to, long[]? times, float[]? first, float[]? second, int size)
    {
        var (interval, a, b) = (0L, 0L, 0L);
        for (var k = from; k < to; k++)
        {
            if (k == from)
            {
                w.Time(times![k % size]);
            }
            else
            {
                var next = times![k % size] - times[(k - 1) % size];
                w.VarInt(next - interval);
                interval = next;
            }

            a = Delta(ref w, first![k % size], a);
            if (second is not null)
            {
                b = Delta(ref w, second[k % size], b);
            }
        }

        static long Delta(ref StateWriter w, float value, long before)
        {
            var tenths = (long)Math.Round(value * 10d);
            w.VarInt(tenths - before);
            return tenths;
        }
    }

    private static void ReadRing(ref StateReader r, long from, long to, long[]? times, float[]? first, float[]? second, int size)
    {
        var (interval, a, b) = (0L, 0L, 0L);
        for (var k = from; k < to; k++)
        {
            if (k == from)
            {
                times![k % size] = r.Time();
            }
            else
            {
                interval += r.VarInt();
                times![k % size] = times[(k - 1) % size] + interval;
            }

            a += r.VarInt();
            first![k % size] = Tenths(a / 10d);
            if (second is not null)
            {
                b += r.VarInt();
                second[k % size] = Tenths(b / 10d);
            }
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
