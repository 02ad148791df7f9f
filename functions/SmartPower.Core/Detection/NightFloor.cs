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
/// <item><b>Floors.</b> Every minute (the reactive rule's 1-minute Q and mean real power) the 10th percentile of each over
/// the last 30 minutes (at least 20 of them present): FQ and FP.</item>
/// <item><b>The evening's lowest.</b> From local 18:00 (the site's <c>timeZone</c>; a site without one has no night
/// floor) the floors are sampled every 5 minutes, once their window lies in the evening; the baseline is the lowest of
/// each sampled up to an hour ago (the floor before whatever came on since).</item>
/// <item><b>The rise.</b> A minute from <c>NightFloorFromHour</c> (local, 0) to <c>NightFloorUntilHour</c> (6) qualifies
/// when FQ is at least <c>NightFloorMinVar</c> (40 var) over its baseline and FP over its own lies within that rise /
/// <c>ReactiveMaxRatio</c> (1.4) .. that rise / <c>ReactiveMinRatio</c> (0.37): a rectifier's ratio, as the reactive
/// hold's steps, not a TV's 0.33 (one left on all night), an air-conditioner's 0.25 nor a laptop adapter's 1.5. After <c>NightFloorHoldS</c> (an hour) of qualifying minutes in a
/// row, the rise is a charge, once a night, on a meter that had no illegal-charging incident opened since the evening
/// began (a charger the other rules found and let go of is not called twice).</item>
/// </list>
/// Measured in a research prototype on 48 nights it was never tuned on: about 50 chargers more of 792, 10 false alerts
/// more (docs/illegal-charging.md, stop 23). Its calls come hours after the plug-in (1-5 hours), within the charge,
/// which the matching rule accepts. State: the evening's baselines, 12 sampled floors of each, a run, a flag.
/// </summary>
internal sealed class NightFloor
{
    private const long HourMs = 3_600_000;
    private const long DayMs = 24 * HourMs;
    private const int EveningHour = 18;
    private const long WindowMs = 30 * 60_000;
    private const double Percentile = 10;
    private const int MinMinutes = 20;
    private const long SampleMs = 5 * 60_000;
    private const int Samples = 12; // an hour of samples: the baseline is the lowest floor sampled before them

    private long _night = long.MinValue;   // the local evening this state is of: days since the epoch of its 18:00
    private float _baseQ = float.PositiveInfinity; // the lowest of the samples (whole tenths)
    private float _baseP = float.PositiveInfinity;
    private float[]? _sampledQ;
    private float[]? _sampledP;
    private int _sampled;                   // floors sampled this evening (the last 12 in the rings)
    private long _nextSampleTs;
    private int _run;                       // qualifying minutes in a row
    private bool _done;                     // called (or refused) this night

    /// <summary>When the evening this state is of began (local 18:00, in event time; 0: none yet).</summary>
    public long EveningStartTs { get; private set; }

    /// <summary>The baseline of Q (the evening's lowest floor up to an hour ago) at the last call.</summary>
    public float BaseQ => _baseQ;

    /// <summary>A gap in the readings: the qualifying run starts again.</summary>
    public void Restart() => _run = 0;

    /// <summary>
    /// Takes the minute closed at <paramref name="ts"/> (the last of <paramref name="minutes"/> values in the rings, slot
    /// <c>k % size</c>); true when the rise has held long enough for a call, with the rise of the floors in
    /// <paramref name="riseQ"/> and <paramref name="riseP"/>. <paramref name="openedSince"/>: when the meter's
    /// illegal-charging incident last opened (0: never); one opened this evening ends the night's watch.
    /// </summary>
    public bool Minute(long ts, long[] mt, float[] mq, float[] mp, long minutes, TimeZoneInfo zone, DetectionThresholds t, long openedSince, out double riseQ, out double riseP)
    {
        (riseQ, riseP) = (0, 0);
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
            (_baseQ, _baseP, _sampled, _nextSampleTs, _run, _done) = (float.PositiveInfinity, float.PositiveInfinity, 0, 0, 0, false);
        }

        if (intoNight >= WindowMs && ts >= _nextSampleTs && Floors(ts, mt, mq, mp, minutes, double.NegativeInfinity, out var fq, out var fp))
        {
            Sample(fq, fp);
            _nextSampleTs = ts + SampleMs - 30_000; // minutes are a reading interval late at times: not a sample skipped for it
        }

        var from = Hours(t.NightFloorFromHour);
        var until = Hours(t.NightFloorUntilHour);
        _done |= openedSince >= EveningStartTs;
        if (_done || intoNight < from || intoNight >= until || !double.IsFinite(_baseQ))
        {
            _run = 0;
            return false;
        }

        if (!Floors(ts, mt, mq, mp, minutes, _baseQ + t.NightFloorMinVar, out fq, out fp)
            || fq - _baseQ < t.NightFloorMinVar
            || fp - _baseP < (fq - _baseQ) / t.ReactiveMaxRatio
            || fp - _baseP > (fq - _baseQ) / t.ReactiveMinRatio)
        {
            _run = 0;
            return false;
        }

        if (++_run * 60_000L < t.NightFloorHoldS * 1000)
        {
            return false;
        }

        _done = true;
        (riseQ, riseP) = (fq - _baseQ, fp - _baseP);
        return true;

        static long Hours(double localHour) => (long)(((localHour - EveningHour + 24) % 24) * HourMs);
    }

    /// <summary>
    /// The floors of the last 30 minutes; false with too few minutes, or when Q's cannot reach <paramref name="atLeastQ"/>
    /// (more values under it than the percentile's rank allows: not worth sorting).
    /// </summary>
    private static bool Floors(long ts, long[] mt, float[] mq, float[] mp, long minutes, double atLeastQ, out double fq, out double fp)
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

        if (n < MinMinutes || under > (int)Math.Ceiling(Percentile / 100 * (n - 1)))
        {
            return false;
        }

        fq = ReactiveHold.Percentile(q[..n], Percentile);
        fp = ReactiveHold.Percentile(p[..n], Percentile);
        return true;
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
        w.VarUInt((ulong)_run);
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
        _run = r.Count(int.MaxValue, "the night floor's run");
        _done = r.Bool();
    }
}
