using SmartPower.Registry;

namespace SmartPower.Detection;

/// <summary>
/// The night floor: a charger left on after midnight in a dwelling, found by what it does to the circuit's floor of
/// non-active power rather than by its switch-on (the third way <see cref="ReactiveHold"/> finds a charge; stop 23).
/// <para>
/// Why. A charger switched on beside a kettle, a rice cooker, a TV or an air-conditioner's ramp hides its step, and a
/// busy evening hides its rise; neither rule sees it. After bedtime a dwelling's busy loads are off or draw no
/// non-active power (water heaters, blankets), and a fridge cycles beneath a low percentile; what lifts the floor of
/// the circuit's non-active power Q for an hour is a rectifier that stays on: the charger, in the hours when a charger
/// left on is the hazard.
/// </para>
/// <list type="number">
/// <item><b>Floors.</b> Every "minute" (the reactive rule's values of six readings: a minute at the usual 10 s) the 10th
/// percentile of Q and of the mean real power over the last 30 minutes of event time, read when two thirds of that
/// window's values are present: FQ and FP.</item>
/// <item><b>The evening's lowest.</b> From local 18:00 (the site's <c>timeZone</c>; a site without one has no night
/// floor) the floors are sampled every 5 minutes, once their window lies in the evening; the baseline is the lowest of
/// each sampled up to an hour ago (the floor before whatever came on since).</item>
/// <item><b>The rise.</b> A minute from <c>NightFloorFromHour</c> (local, 0) to <c>NightFloorUntilHour</c> (6) qualifies
/// when FQ is at least <c>NightFloorMinVar</c> (40 var) over its baseline and FP over its own lies within that rise /
/// <c>ReactiveMaxRatio</c> (1.4) .. that rise / <c>ReactiveMinRatio</c> (0.37): a rectifier's ratio, as the reactive
/// hold's steps, not a TV's 0.33 (one left on all night), an air-conditioner's 0.25 nor a laptop adapter's 1.5. No band
/// of real power: the floor meets a charger hours into its charge, often in its taper at 50-170 W (the reactive hold's
/// band and small-step ratio cost 10 chargers on the nights measured, for 4 false alerts fewer).</item>
/// <item><b>The call.</b> When the minutes have qualified for <c>NightFloorHoldS</c> (an hour) of event time in a row
/// (a minute whose floors cannot be read, after a gap in the readings, neither counts against the rise nor breaks it,
/// unless none qualified for 30 minutes), the rise is a charge, once a night, on a meter that had no illegal-charging
/// incident opened since the evening began (a charger the other rules found and let go of is not called twice); while
/// another charge is held or the incident is open the call waits.</item>
/// </list>
/// Measured on 48 nights it was never tuned on: about 45 chargers more of 792, 9 false alerts more
/// (docs/illegal-charging.md, stop 23). Its calls come hours after the plug-in (1-5 hours), within the charge, which
/// the matching rule accepts. State: the evening's baselines, 12 sampled floors of each, when the rise began, a flag.
/// </summary>
internal sealed class NightFloor
{
    private const long HourMs = 3_600_000;
    private const long DayMs = 24 * HourMs;
    private const int EveningHour = 18;
    private const long WindowMs = 30 * 60_000;
    private const double Percentile = 10;
    private const double MinShare = 2.0 / 3; // of the window's minutes present, for its floors to be read
    private const int MinMinutes = 5;
    private const long SampleMs = 5 * 60_000;
    private const int Samples = 12; // an hour of samples: the baseline is the lowest floor sampled before them
    private const int NotRead = -2; // Floors() not read yet this minute

    private long _night = long.MinValue;   // the local evening this state is of: days since the epoch of its 18:00
    private float _baseQ = float.PositiveInfinity; // the lowest of the samples (whole tenths)
    private float _baseP = float.PositiveInfinity;
    private float[]? _sampledQ;
    private float[]? _sampledP;
    private int _sampled;                   // floors sampled this evening (the last 12 in the rings)
    private long _nextSampleTs;
    private long _runFromTs;                // when the qualifying minutes in a row began (0: none)
    private long _lastQualifiedTs;
    private bool _done;                     // called this night, or an incident opened since the evening began

    /// <summary>When the evening this state is of began (local 18:00, in event time; 0: none yet).</summary>
    public long EveningStartTs { get; private set; }

    /// <summary>The baseline of Q: the evening's lowest floor sampled up to an hour ago.</summary>
    public float BaseQ => _baseQ;

    /// <summary>
    /// Takes the "minute" (six readings, <paramref name="minuteMs"/> long) closed at <paramref name="ts"/>, the last of
    /// <paramref name="minutes"/> values in the rings (slot <c>k % size</c>); true when the rise has held long enough and
    /// <paramref name="canCall"/> (no charge held, no incident open): a call, with the rise of the floors in
    /// <paramref name="riseQ"/> and <paramref name="riseP"/> and when it began in <paramref name="riseFromTs"/>.
    /// <paramref name="openedSince"/>: when the meter's illegal-charging incident last opened (0: never); one opened this
    /// evening ends the night's watch. The hold is event time: minutes whose floors cannot be read (a gap in the readings
    /// restarts the rings) neither count against the rise nor break it, unless none qualified for 30 minutes.
    /// </summary>
    public bool Minute(long ts, long minuteMs, long[] mt, float[] mq, float[] mp, long minutes, TimeZoneInfo zone, DetectionThresholds t, long openedSince, bool canCall, out double riseQ, out double riseP, out long riseFromTs)
    {
        (riseQ, riseP, riseFromTs) = (0, 0, 0);
        var local = ts + (long)zone.GetUtcOffset(DateTimeOffset.FromUnixTimeMilliseconds(ts)).TotalMilliseconds;
        var sinceEveningStart = local - (EveningHour * HourMs);
        var night = Math.DivRem(sinceEveningStart, DayMs, out var intoNight);
        if (intoNight < 0)
        {
            (night, intoNight) = (night - 1, intoNight + DayMs);
        }

        if (night != _night)
        {
            _night = night;
            EveningStartTs = ts - intoNight;
            (_baseQ, _baseP, _sampled, _nextSampleTs, _runFromTs, _lastQualifiedTs, _done) = (float.PositiveInfinity, float.PositiveInfinity, 0, 0, 0, 0, false);
        }

        var least = Math.Max(MinMinutes, (int)Math.Ceiling(MinShare * WindowMs / minuteMs));
        var floors = NotRead;
        var (fq, fp) = (0.0, 0.0);
        if (intoNight >= WindowMs && ts >= _nextSampleTs)
        {
            floors = Floors(ts, mt, mq, mp, minutes, least, double.NegativeInfinity, out fq, out fp);
            if (floors > 0)
            {
                Sample(fq, fp);
                _nextSampleTs = ts + SampleMs - (minuteMs / 2); // minutes are a reading interval late at times: not a sample skipped for it
            }
        }

        var from = (long)(HoursIntoNight(t.NightFloorFromHour) * HourMs);
        var until = (long)(HoursIntoNight(t.NightFloorUntilHour) * HourMs);
        _done |= openedSince >= EveningStartTs;
        if (_done || intoNight < from || intoNight >= until || !float.IsFinite(_baseQ))
        {
            _runFromTs = 0;
            return false;
        }

        if (floors == NotRead)
        {
            floors = Floors(ts, mt, mq, mp, minutes, least, _baseQ + t.NightFloorMinVar, out fq, out fp); // else read once for the sample
        }

        if (floors < 0)
        {
            if (_runFromTs != 0 && ts - _lastQualifiedTs > WindowMs)
            {
                _runFromTs = 0; // unread for too long: the rise is not known to have held
            }

            return false;
        }

        (riseQ, riseP) = (fq - _baseQ, fp - _baseP);
        if (floors == 0 || riseQ < t.NightFloorMinVar || riseP < riseQ / t.ReactiveMaxRatio || riseP > riseQ / t.ReactiveMinRatio)
        {
            _runFromTs = 0;
            return false;
        }

        _lastQualifiedTs = ts;
        if (_runFromTs == 0)
        {
            _runFromTs = ts - minuteMs; // when this minute began
        }

        if (ts - _runFromTs < t.NightFloorHoldS * 1000 || !canCall)
        {
            return false;
        }

        _done = true;
        riseFromTs = _runFromTs;
        return true;
    }

    /// <summary>Hours into the night (from local 18:00) of a local hour: the night floor's hours lie in one night.</summary>
    internal static double HoursIntoNight(double localHour) => (localHour - EveningHour + 24) % 24;

    /// <summary>
    /// The floors of the last 30 minutes: -1 with fewer than <paramref name="least"/> minutes in them (not known), 0 when
    /// Q's cannot reach <paramref name="atLeastQ"/> (more values under it than the percentile's rank allows: not worth
    /// sorting), 1 with both read.
    /// </summary>
    private static int Floors(long ts, long[] mt, float[] mq, float[] mp, long minutes, int least, double atLeastQ, out double fq, out double fp)
    {
        (fq, fp) = (0, 0);
        var size = mt.Length;
        Span<float> q = stackalloc float[size];
        Span<float> p = stackalloc float[size];
        var (n, under) = (0, 0);
        for (var k = minutes - 1; k >= Math.Max(0, minutes - size) && mt[k % size] > ts - WindowMs; k--)
        {
            q[n] = mq[k % size];
            p[n] = mp[k % size];
            under += q[n] < atLeastQ ? 1 : 0;
            n++;
        }

        if (n < least)
        {
            return -1;
        }

        if (under > (int)Math.Ceiling(Percentile / 100 * (n - 1)))
        {
            return 0;
        }

        fq = ReactiveHold.Percentile(q[..n], Percentile);
        fp = ReactiveHold.Percentile(p[..n], Percentile);
        return 1;
    }

    private void Sample(double fq, double fp)
    {
        _sampledQ ??= new float[Samples];
        _sampledP ??= new float[Samples];
        var slot = _sampled % Samples;
        if (_sampled >= Samples)
        {
            _baseQ = Math.Min(_baseQ, _sampledQ[slot]); // an hour old now: part of the baseline
            _baseP = Math.Min(_baseP, _sampledP[slot]);
        }

        _sampledQ[slot] = ReactiveHold.Tenths(fq); // to a tenth, as the rings: saved as whole tenths
        _sampledP[slot] = ReactiveHold.Tenths(fp);
        _sampled++;
    }

    /// <summary>Nothing but a 0 for a circuit it never watched (no time zone, not a dwelling); the samples as whole tenths.</summary>
    public void Save(ref StateWriter w)
    {
        w.VarInt(_night == long.MinValue ? 0 : _night + 1);
        if (_night == long.MinValue)
        {
            return;
        }

        w.Time(EveningStartTs);
        w.Single(_baseQ);
        w.Single(_baseP);
        w.VarUInt((ulong)_sampled);
        for (var k = Math.Max(0, _sampled - Samples); k < _sampled; k++)
        {
            w.VarInt((long)Math.Round(_sampledQ![k % Samples] * 10d));
            w.VarInt((long)Math.Round(_sampledP![k % Samples] * 10d));
        }

        w.Time(_nextSampleTs);
        w.Time(_runFromTs);
        w.Time(_lastQualifiedTs);
        w.Bool(_done);
    }

    public void Read(ref StateReader r)
    {
        var night = r.VarInt();
        _night = night == 0 ? long.MinValue : night - 1;
        if (_night == long.MinValue)
        {
            return;
        }

        EveningStartTs = r.Time();
        _baseQ = r.Single();
        _baseP = r.Single();
        _sampled = r.Count(int.MaxValue, "the night floor's samples");
        if (_sampled > 0)
        {
            (_sampledQ, _sampledP) = (new float[Samples], new float[Samples]);
        }

        for (var k = Math.Max(0, _sampled - Samples); k < _sampled; k++)
        {
            _sampledQ![k % Samples] = ReactiveHold.Tenths(r.VarInt() / 10d);
            _sampledP![k % Samples] = ReactiveHold.Tenths(r.VarInt() / 10d);
        }

        _nextSampleTs = r.Time();
        _runFromTs = r.Time();
        _lastQualifiedTs = r.Time();
        _done = r.Bool();
    }
}
