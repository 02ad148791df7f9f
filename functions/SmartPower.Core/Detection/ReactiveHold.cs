using SmartPower.Alerts;
using SmartPower.Registry;

namespace SmartPower.Detection;

/// <summary>
/// Finds an e-bike charger as a step of the circuit's non-active power that holds: the second illegal-charging rule,
/// beside <see cref="ChargingSignature"/>, which loses chargers on busy circuits.
/// <para>
/// Why non-active power. Per reading Q = sqrt((V x I)^2 - P^2), signed as S^2 - P^2 is. Resistive loads (kettles,
/// hobs, heaters, water heaters, blankets, rice cookers) add none, so on a dwelling whose real power is busy with them
/// the Q channel still moves only with reactive loads: rectifiers, motors, power-factor-corrected electronics. A charger
/// is a Q step held for a long time whose ratio to the real-power step that came with it is a rectifier's. The rule is a
/// port of a measured research prototype, reproduced online in event time with bounded state; its numbers are kept as
/// they were scored.
/// </para>
/// <list type="number">
/// <item><b>Edges.</b> At every reading the median of the 9 readings after it less that of the 9 before it; a change of
/// at least 15 var that is the (first) largest within 9 readings either way, not counting a larger one beyond a valley
/// (the change under half this one's between them: a fridge starting 2 minutes after a charger), is an edge. It is placed at the largest
/// one-reading move of Q within it (and at a second move of at least 30% of the change, 3 or more readings away: two loads
/// switching 20-80 s apart), and each step is measured again, Q and P medians, from the readings either side of that
/// move, stopping short of a neighbouring jump (at least 3 readings kept) so that a fridge starting 40 s before a charger
/// is measured apart. An edge at reading c is decided once reading c + 2 x 9 + 1 has arrived, in order.</item>
/// <item><b>Candidate.</b> A rise of at least <c>ReactiveMinStepVar</c> with a real-power step of
/// <c>ReactiveMinStepW</c>..<c>ReactiveMaxStepW</c> and a ratio in <c>ReactiveMinRatio</c>..<c>ReactiveMaxRatio</c>
/// (<c>ReactiveSmallMinRatio</c> below <c>ReactiveSmallStepW</c>): chargers over 200 W have a power factor of
/// 0.8-0.95, smaller ones 0.6-0.85; TVs 0.33, PCs 0.29, air-conditioners 0.25, laptop adapters 1.52. A rise of a
/// charger's Q whose real power is over the band, the real power risen within one reading interval (not an
/// air-conditioner's ramp) or a resistive switch-on a reading either side of it (the charger's soft start, stop 23), is one switched on with a resistive load (a kettle: it adds no Q): its own real power is read
/// 12 minutes after the step, as the step's less the largest fall of real power since (at least 200 W, Q unchanged, the
/// load on until then: the kettle off again; the circuit then at most <c>ReactiveMaxStepW</c> over its level before the
/// step: a consistency check, which took an induction hob switched on beside a pulsing rice cooker on an unseen night, and
/// would cost a charger beside which a heater switched on meanwhile; and that load's power over the circuit's level
/// before the step, or it was on before: a water heater cutting out, not a kettle), and held to the band and ratio then;
/// its scatter, of Q and of real power, is read after that fall (at least 20 readings of it), and its vetoes allow for
/// the Q noise a kilowatt load adds (stop 22). A rise of a charger's Q
/// whose real power is under the band (or negative) is one switched on as a resistive load switched off (a rice cooker
/// done cooking): its own real power is the step's plus that load's switch-on in the hour before (a rise of the 1-minute
/// mean real power over two minutes of at least 200 W, Q unchanged, with no fall of its size from then until the step:
/// on throughout, not pulsing), held to the band and ratio at once (stop 22).</item>
/// <item><b>Vetoes at the step.</b> A motor's inrush: any reading from 4 before to 4 after the step more than 1.8 x the
/// step above the level before it, in P or in Q (fridge compressors, pumps); a charger soft-starts. A ramp: the median Q of
/// readings 2-4 after the step under 90% of the step that stands 9 readings later (an air-conditioner's soft start).</item>
/// <item><b>The hold.</b> The candidate is held <c>ReactiveHoldS</c> (12 min; the prototype's 40 until stop 21). A fall of Q of 0.6-1.6 x its step with
/// the same ratio (within 0.15 + 0.15 x the larger) ends it, unless a rise of 0.75-1.33 x that fall with the same ratio
/// follows within 12 minutes (a defrost, a pulse), or it is another load's: it pairs with the latest rise of its size
/// and ratio since 20 minutes before the step that no fall took (a fridge's run). A fall late in the hold delays the
/// decision until its reversal is known.</item>
/// <item><b>Carry.</b> The circuit's 1-minute Q (sqrt of the mean of S^2 - P^2 over 6 readings) must not be under
/// 0.6 x the step for 3 minutes running after the step's first 2 minutes, and must be there for 80% of the hold's
/// minutes (else a gap in the data: no call).</item>
/// <item><b>Floor.</b> The 15th percentile of the 1-minute Q over the last 30 minutes of the hold (from the step's third
/// minute on, so over the last 10 of a 12-minute hold, 8 of them present), less that over the 30 minutes before the step,
/// must be at least 0.7 x the step: what held is the candidate, not a load it was measured with
/// (fridges off, defrosts aside).</item>
/// <item><b>Scatter.</b> The robust reading-to-reading scatter of Q over the 60 readings after the step, beyond that over
/// the 60 before (in quadrature), at most 2% of the step: a charger's input ripples by 0.5%, a TV's picture, a PC's or
/// laptop's load move theirs by 3-15%.</item>
/// <item><b>Jitter.</b> The same for real power, over the readings from the step's third minute to its twelfth (or to
/// its sixth, if less: not another load switched on since), less the meter's own noise on the power added, at most <c>ReactiveMaxPowerJitter</c> (4%) of the step: a TV, PC or laptop
/// (power factor near 0.96) moves its Q too little to show (stop 21, <see cref="PowerJitter"/>).</item>
/// </list>
/// A call comes when the hold is decided (16.5 minutes after the step, up to 25 when a fall late in the hold waits for its
/// 12 minutes), at most once per circuit per 6 hours after the hold's end. It opens the meter's illegal-charging incident
/// if that is not open already (critical on a common-area circuit, warning in a dwelling), and not for a step at the
/// switch-on of a charger <see cref="ChargingSignature"/> confirmed and let go of (one charge, one alert). The called
/// charge ends on a matching fall of Q (not reversed within 12 minutes; a fall the size and ratio of a load that switched
/// on since is that load's, however long it ran: <see cref="Follow"/>), or when the 1-minute Q stays under the floor
/// before the step (less the Q of loads on then that switched off since) plus a quarter of the step for 8 of 10 minutes
/// (the charge tapered or the charger was unplugged; beside kilowatts of resistive load the meter's rounding of the
/// current scatters a 1-minute Q by tens of var). The incident then clears unless the other rule holds a confirmed
/// charger; while the other rule watches a candidate that switched on since this charge did (and, for a charge that
/// lasted over an hour, within 30 minutes before its end: maybe the same charger, found again as what stayed of a pair)
/// the charge is held on until that candidate is confirmed or dropped, for at most 2 hours. No charge is held over 16
/// hours from its step (a pack charges in 4-12): when the charger's unplug merged with another load's switch-off into
/// one fall taken for that load's, the charge would otherwise never end.
/// <see cref="Detectors"/> is the one place the two rules are joined. A gap in the readings longer than the device's
/// offline limit restarts the buffers (steps cannot be trusted across it), keeping a called charge. State is bounded: 96
/// readings, 80 one-minute values of Q and real power (so a hold of at most about an hour can be decided), the steps of the last 46 minutes
/// at the default hold (at most 160), at most 64 held candidates and 16 loads followed beside a called charge, and the
/// night floor's (<see cref="NightFloor"/>, a third way to find a charge in a dwelling after midnight: it calls into the
/// same charge, so it ends and clears as one the rule called).
/// </summary>
internal sealed partial class ReactiveHold
{
    private const int W = 9;                    // readings either side for the step medians (90 s)
    private const double EdgeVar = 15;           // smallest change of the medians that is an edge
    private const double Valley = 0.5;          // a change under this share of an edge's between it and a larger one: two edges
    private const double SecondMoveShare = 0.3;  // a second one-reading move of this share of the change is a second edge
    private const int SecondMoveApart = 3;
    private const double JumpVar = 20;           // a one-reading move that bounds a step's measuring window
    private const int MinWindow = 3;
    private const int InrushBack = 4;
    private const int InrushForward = 5;
    private const double Inrush = 1.8;
    private const double Ramp = 0.9;
    private const double InrushNoise = 4, RampNoise = 2; // the vetoes' allowance for a kilowatt load's Q noise, in its scatters
    private const int PartnerTo = 72;            // a kettle switched on with a charger is off again within 11 minutes; read then
    private const double ResistiveMinW = 200;
    private const double OneReading = 0.8;
    private const long ResistiveOnMs = 60 * 60_000; // a rice cooker that switched off with a charger switched on within the hour before
    private const double FallLow = 0.6, FallHigh = 1.6;
    private const double ReverseLow = 0.75, ReverseHigh = 1.33;
    private const long ReverseMs = 12 * 60_000;
    private const double Carry = 0.6;
    private const int CarryRun = 3;
    private const long CarryFromMs = 120_000;
    private const double CarryPresent = 0.8;
    private const long FloorWindowMs = 30 * 60_000;
    private const long FloorBeforeGapMs = 30_000;
    private const double FloorPercentile = 15;
    private const int FloorMinMinutes = 10;
    private const double FloorShare = 0.7;
    private const int ScatterReadings = 60;
    private const int JitterFrom = 12;           // the real power's scatter after a step is read from its third minute (past a soft start)
    private const double MaxScatter = 0.02;
    private const long CallEveryMs = 6 * 3_600_000L;
    private const double EndFloorShare = 0.25;
    private const int EndWindowMinutes = 10;
    private const int EndLowMinutes = 8; // of the last 10: the meter's rounding of the current scatters a 1-minute Q by tens of var beside kilowatts
    private const long DuplicateMs = 1000;
    private const int MaxLoads = 16;
    private const long SameChargeEndMs = 30 * 60_000; // a candidate switched on this long before a charge's end may be it found again
    private const long MaxChargeMs = 16 * 3_600_000L; // no charge is held longer: a fall taken for another load's cannot hold an incident open for good
    private const long HeldOnMs = 2 * 3_600_000L; // an ended charge is held on for the other rule's decision at most this long
    private const long EarlyEndMs = 60 * 60_000; // a charge ended this soon after its step: any candidate since it may be it (the signature still deciding on the same switch-on)
    private const long LoadsBeforeMs = 20 * 60_000; // a fall in a hold may be a load's that switched on this long before the step
    private const long SameSwitchOnMs = 60_000; // a step this close to the switch-on of a charger the signature confirmed is that charger

    /// <summary>Recent readings: the edge needs 2W + 1 after it, the scatter before a step 60 before it, and a step is up to 3W back.</summary>
    private const int Readings = 96;

    /// <summary>1-minute Q values: the carry and the floor at the end of a hold reach back some 60 minutes when a fall late in it is checked.</summary>
    private const int Minutes = 80;

    /// <summary>Steps kept for the holds' fall and reversal checks (a hold and a reversal span about an hour).</summary>
    private const int MaxSteps = 160;

    private const int ReadingsPerMinute = 6;

    private const int MaxPending = 64;

    private long _lastRawTs;                      // the last reading heard at all (de-duplication, gaps); 0: none
    private long _n;                              // readings kept since the last restart; reading k is at slot k % Readings
    private long[]? _t;                           // allocated with the first reading
    private float[]? _q;
    private float[]? _p;

    private double _minuteSum;                    // S^2 - P^2 summed over the readings of the open minute
    private int _minuteCount;
    private long _minutesN;                       // minutes closed since the last restart
    private long[]? _mt;
    private float[]? _mq;
    private float[]? _mp;                         // the 1-minute mean real power, beside _mq
    private double _minutePowerSum;

    private readonly List<Step> _steps = [];      // every step found, in reading order, for the holds' fall checks
    private readonly List<Candidate> _pending = []; // held candidates, in reading order (calls are decided in that order)
    private long _seen0 = -1, _seen1 = -1, _seen2 = -1, _seen3 = -1; // readings already taken as an edge's move (the last two edges')
    private long _lastCallEnd;                    // no call for a step before this (0: none yet)
    private Charge? _charge;
    private readonly NightFloor _floor = new();

    /// <summary>True while a charge this rule called has not ended: the incident stays open for it.</summary>
    public bool HoldsCharge => _charge is not null;

    /// <summary>When the last charge this rule called switched on (0: none yet).</summary>
    public long CalledStepTs { get; private set; }

    /// <summary>
    /// From when a candidate of the other rule may be this charge found again: since its step while the charge lasts; once
    /// it ended, only one that switched on around that end (what stayed when a load beside the charger switched off), not a
    /// stale one watched since the plug-in, for which an unplugged charge would hold the incident open for hours.
    /// </summary>
    public long SameChargeFromTs => _charge is { EndedTs: > 0 } ended && ended.EndedTs - CalledStepTs > EarlyEndMs ? Math.Max(CalledStepTs, ended.EndedTs - SameChargeEndMs) : CalledStepTs;

    /// <param name="otherHolds">Whether <see cref="ChargingSignature"/> holds a confirmed charger: then no charge ending here clears the incident.</param>
    /// <param name="otherWatches">Whether it watches a candidate that switched on since this rule's last called step (maybe
    /// that charge, found again as what stayed of a pair): a charge that ends meanwhile is let go of only once that is decided.</param>
    /// <param name="otherConfirmedStartTs">When the last charger the signature confirmed switched on (0: none): a step then
    /// is that charge, held here but not alerted again once its incident has cleared.</param>
    public void Observe(long ts, double powerW, double voltageV, double currentA, Device device, long gapMs, bool otherHolds, bool otherWatches, long otherConfirmedStartTs, ref Incident? incident, IDetectionSink sink)
    {
        if (_charge is { EndedTs: > 0 } ended && (!otherWatches || ts - ended.EndedTs > HeldOnMs))
        {
            _charge = null; // the other rule confirmed that candidate (and holds the incident) or dropped it
            Clear(ended, ts, otherHolds, ref incident, sink);
        }

        if (_lastRawTs != 0 && ts - _lastRawTs <= DuplicateMs)
        {
            _lastRawTs = Math.Max(_lastRawTs, ts);
            return; // a repeated reading (or one from behind): the prototype keeps the first of readings within a second
        }

        if (_lastRawTs != 0 && ts - _lastRawTs > gapMs)
        {
            Restart();
        }

        _lastRawTs = ts;
        _t ??= new long[Readings];
        _q ??= new float[Readings];
        _p ??= new float[Readings];
        var apparent = voltageV * currentA;
        var q2 = (apparent * apparent) - (powerW * powerW);
        var slot = (int)(_n % Readings);
        _t[slot] = ts;
        _q[slot] = Tenths(Math.Sign(q2) * Math.Sqrt(Math.Abs(q2)));
        _p[slot] = Tenths(powerW);
        _n++;

        _minuteSum += q2;
        _minutePowerSum += _p[slot];
        if (++_minuteCount == ReadingsPerMinute)
        {
            AddMinute(ts, Tenths(Math.Sqrt(Math.Max(0, _minuteSum / ReadingsPerMinute))), Tenths(_minutePowerSum / ReadingsPerMinute), device, otherHolds, otherWatches, ref incident, sink);
            _minuteSum = 0;
            _minutePowerSum = 0;
            _minuteCount = 0;
        }

        var t = device.Thresholds;
        var latest = _n - 1;
        var c = latest - (2 * W) - 1;
        if (c >= W)
        {
            DecideEdge(c, t);
        }

        foreach (var candidate in _pending)
        {
            if (candidate.WithResistive && latest >= candidate.Index + PartnerTo)
            {
                ReadWithoutResistive(candidate, t);
            }

            if (double.IsNaN(candidate.ScatterAfter) && !candidate.WithResistive && latest >= candidate.Index + ScatterReadings + 1)
            {
                candidate.ScatterAfter = Scatter(_q!, candidate.Index + 2, candidate.Index + ScatterReadings + 2);
            }

            if (double.IsNaN(candidate.PowerScatterAfter) && latest >= candidate.Index + JitterFrom + ScatterReadings)
            {
                candidate.PowerScatterAfter = PowerScatterAfter(candidate.Index + JitterFrom);
            }
        }

        // Every step at a reading before this one is known: a later edge's moves are at most W readings before it.
        var knownIndex = latest - (3 * W) + 1;
        if (knownIndex < 0)
        {
            return;
        }

        var knownBefore = T(knownIndex);
        while (_pending.Count > 0)
        {
            var head = _pending[0];
            var decision = Decide(head, knownBefore, t);
            if (decision == Decision.Wait)
            {
                break;
            }

            _pending.RemoveAt(0);
            if (decision == Decision.Call)
            {
                Call(head, ts, device, t, otherConfirmedStartTs, ref incident, sink);
            }
        }

        if (_charge is { EndedTs: 0 } charge && Follow(charge, knownBefore) is > 0 and var end)
        {
            EndCharge(end, otherHolds, otherWatches, ref incident, sink);
        }
        else if (_charge is { EndedTs: 0 } held && ts - held.StepTs > MaxChargeMs)
        {
            EndCharge(ts, otherHolds, otherWatches, ref incident, sink); // a bound, whatever the follow-up concluded
        }

        PruneSteps(ts, t);
    }

    private enum Decision
    {
        Wait,
        Drop,
        Call,
    }

    private Decision Decide(Candidate c, long knownBefore, DetectionThresholds t)
    {
        if (c.WithResistive)
        {
            return Decision.Wait; // its real power is read 12 minutes after the step
        }

        if (!ChargerLike(c.Step.Q, c.Step.P, t))
        {
            return Decision.Drop; // read once a kettle beside it was off again: no charger's (NaN: no kettle's switch-off found)
        }

        var holdMs = (long)(t.ReactiveHoldS * 1000);
        var end = c.Ts + holdMs;
        var fall = FallEnding(c.Step, c.Ts, end, knownBefore);
        if (fall is null)
        {
            return Decision.Wait; // a matching fall whose reversal is not known yet
        }

        if (fall > 0)
        {
            return Decision.Drop;
        }

        if (knownBefore <= end || double.IsNaN(c.ScatterAfter) || double.IsNaN(c.PowerScatterAfter))
        {
            return Decision.Wait; // steps up to the hold's end are not all known yet
        }

        // The floor after the step: over the hold's last 30 minutes, from the step's first 2 minutes on (never before the step).
        var floorFrom = Math.Max(end - FloorWindowMs, c.Ts + CarryFromMs);

        // The circuit must go on carrying the candidate's Q.
        var present = 0;
        var run = 0;
        var carried = true;
        Span<float> post = stackalloc float[Minutes];
        var posts = 0;
        for (var m = Math.Max(0, _minutesN - Minutes); m < _minutesN; m++)
        {
            var mt = _mt![m % Minutes];
            var mq = _mq![m % Minutes];
            if (mt > c.Ts + CarryFromMs && mt <= end)
            {
                present++;
                run = mq < Carry * c.Step.Q ? run + 1 : 0;
                carried &= run < CarryRun;
            }

            if (mt > floorFrom && mt <= end)
            {
                post[posts++] = mq;
            }
        }

        if (present < holdMs / 60_000.0 * CarryPresent || !carried)
        {
            return Decision.Drop; // a gap in the data, or the load went
        }

        if (posts < Math.Min(FloorMinMinutes, CarryPresent * (end - floorFrom) / 60_000.0) || Percentile(post[..posts], FloorPercentile) - c.FloorBefore < FloorShare * c.Step.Q)
        {
            return Decision.Drop;
        }

        var extra = double.IsFinite(c.ScatterAfter + c.ScatterBefore)
            ? Math.Sqrt(Math.Max(0, (c.ScatterAfter * c.ScatterAfter) - (c.ScatterBefore * c.ScatterBefore))) / c.Step.Q
            : 0;
        if (extra > MaxScatter || PowerJitter(c, t) > t.ReactiveMaxPowerJitter || c.Ts < _lastCallEnd)
        {
            return Decision.Drop;
        }

        return Decision.Call;
    }

    /// <summary>
    /// The first matching fall of Q after <paramref name="from"/> up to <paramref name="to"/> not reversed and not another
    /// load's: its time; 0 if there is none among the steps known; null while a matching fall's reversal is not known yet.
    /// A fall is another load's when it pairs with the latest rise of its size and ratio, since <see cref="LoadsBeforeMs"/>
    /// before the step, that no fall before it took (the candidate's own rise aside): a fridge that ran into the
    /// hold, or started in it and stopped. Whether the candidate is still there then is the carry's and the floor's to say.
    /// </summary>
    private long? FallEnding(Step step, long from, long to, long knownBefore)
    {
        var since = _steps.FindIndex(x => x.Ts > from - LoadsBeforeMs);
        if (since < 0)
        {
            return 0;
        }

        Span<bool> paired = stackalloc bool[_steps.Count - since]; // rises taken by a fall, by step index less since
        for (var i = since; i < _steps.Count && _steps[i].Ts <= to; i++)
        {
            var fall = _steps[i];
            if (fall.Q >= 0 || PairedWithRise(since, i, from, paired) || fall.Ts <= from || !Matches(step, -fall.Q, -fall.P, FallLow, FallHigh))
            {
                continue;
            }

            if (knownBefore <= fall.Ts + ReverseMs)
            {
                return null;
            }

            if (Reversal(fall) is null)
            {
                return fall.Ts;
            }
        }

        return 0;
    }

    /// <summary>
    /// Pairs the fall at step <paramref name="fallAt"/> with the latest rise of its size and ratio from step
    /// <paramref name="since"/> on that no fall took before it, the candidate's own (at <paramref name="candidateTs"/>)
    /// aside, and marks it in <paramref name="paired"/>; false if there is none.
    /// </summary>
    private bool PairedWithRise(int since, int fallAt, long candidateTs, Span<bool> paired)
    {
        var fall = _steps[fallAt];
        for (var i = fallAt - 1; i >= since; i--)
        {
            var rise = _steps[i];
            if (rise.Q > 0 && rise.Ts != candidateTs && !paired[i - since] && Matches(rise, -fall.Q, -fall.P, ReverseLow, ReverseHigh))
            {
                paired[i - since] = true;
                return true;
            }
        }

        return false;
    }

    /// <summary>A rise within 12 minutes after <paramref name="fall"/> of its size and ratio (a defrost, a pulse); null if none.</summary>
    private Step? Reversal(Step fall)
    {
        foreach (var rise in _steps)
        {
            if (rise.Ts > fall.Ts && rise.Ts <= fall.Ts + ReverseMs && Matches(fall, rise.Q, rise.P, ReverseLow, ReverseHigh))
            {
                return rise;
            }
        }

        return null;
    }

    /// <summary>Whether a change of <paramref name="q"/> var and <paramref name="p"/> W is <paramref name="low"/>..<paramref name="high"/> x <paramref name="load"/>'s step (taken positive) with its ratio.</summary>
    private static bool Matches(Step load, double q, double p, double low, double high)
    {
        double lq = Math.Abs(load.Q), lp = Math.Abs(load.P);
        return q >= low * lq && q <= high * lq && SameRatio(lq, lp, q, p);
    }

    /// <summary>
    /// Follows the loads switching beside a called charge, each step once and in time order up to the steps known, and
    /// returns when the charge's own fall came (0: not yet). A fall is, in this order:
    /// <list type="bullet">
    /// <item>the switch-off of a load that switched on since the charger did (the latest of its size and ratio: a
    /// fridge's cycle, a second charger, however long it ran);</item>
    /// <item>the charge's own (its size and ratio, not reversed within 12 minutes): the end; reversed, the rise that
    /// reverses it is the charge back, not a new load;</item>
    /// <item>larger than the charge's could be (over 1.6 x its step) but no larger than what the circuit carried before
    /// the charger (the floor before its step, less what went since): a load that was on before the charger switching off
    /// (an air-conditioner), which lowers the end floor by its Q, since the floor was measured with it on. Larger than
    /// that, it took the charger with it (both unplugged in the same seconds), and the floor decides;</item>
    /// <item>any other, smaller than the charge's, cannot take the circuit under the end floor by itself.</item>
    /// </list>
    /// A rise of such a load's size is it back on (the floor raised again); any other rise is a load switched on since.
    /// The ratio is not asked of a load that was on before, going or coming back: beside resistive loads switching, a
    /// step's real power is often measured with a kettle's in it, while its non-active power is not.
    /// </summary>
    private long Follow(Charge charge, long knownBefore)
    {
        foreach (var s in _steps)
        {
            if (s.Ts <= charge.Cursor || s.Ts <= charge.StepTs)
            {
                continue;
            }

            if (s.Ts >= knownBefore)
            {
                break;
            }

            if (s.Q > 0 && s.Ts != charge.ReversalTs)
            {
                var off = charge.Loads.FindLastIndex(l => l.Q < 0 && s.Q >= -ReverseLow * l.Q && s.Q <= -ReverseHigh * l.Q);
                if (off >= 0)
                {
                    charge.Shift -= charge.Loads[off].Q; // its Q back in the floor
                    charge.Loads.RemoveAt(off);
                }
                else
                {
                    charge.Add(s);
                }
            }
            else if (s.Q < 0)
            {
                double fq = -s.Q, fp = -s.P;
                var on = charge.Loads.FindLastIndex(l => l.Q > 0 && Matches(l, fq, fp, ReverseLow, ReverseHigh));
                if (on >= 0)
                {
                    charge.Loads.RemoveAt(on);
                }
                else if (Matches(charge.Step, fq, fp, FallLow, FallHigh))
                {
                    if (knownBefore <= s.Ts + ReverseMs)
                    {
                        return 0; // whether it is reversed is not known yet: decided then, from this step on
                    }

                    var rise = Reversal(s);
                    if (rise is null && s.Ts > charge.FromTs)
                    {
                        return s.Ts;
                    }

                    charge.ReversalTs = rise?.Ts ?? 0;
                }
                else if (fq > FallHigh * charge.Step.Q && fq <= charge.FloorBefore + charge.Shift)
                {
                    charge.Shift -= fq;
                    charge.Add(s);
                }
            }

            charge.Cursor = s.Ts;
        }

        return 0;
    }

    private void Call(Candidate c, long ts, Device device, DetectionThresholds t, long otherConfirmedStartTs, ref Incident? incident, IDetectionSink sink)
    {
        var end = c.Ts + (long)(t.ReactiveHoldS * 1000);
        _lastCallEnd = end + CallEveryMs;
        if (_charge is { EndedTs: 0 } held && c.Ts > held.StepTs)
        {
            held.CalledLoadTs = c.Ts; // a charge is held (the night floor's, or one called over 6 hours ago): this one of its loads is held after it
            return;
        }

        _charge = new Charge(c.Ts, end, c.Step, c.FloorBefore);
        CalledStepTs = c.Ts;
        if (incident is { IsOpen: true } || (otherConfirmedStartTs != 0 && Math.Abs(c.Ts - otherConfirmedStartTs) <= SameSwitchOnMs))
        {
            return; // the other rule called it (open, or let go of already: one charge, one alert), or a charge before this one holds it open
        }

        Open(c.Step, ts - c.Ts, RuleId, ts, device, ref incident, sink);
    }

    /// <summary>
    /// A charge found by the night floor (<see cref="NightFloor"/>): the floor's rise is its step, from when the rise began
    /// (the loads that switched since are followed as a called charge's are: a fridge running at the call is not its
    /// end), the evening's lowest floor the level under it; it ends as a called charge does (a matching fall after the
    /// call, or the circuit's Q back near that level). The reactive hold's candidates go on: one called meanwhile is
    /// one of its loads (<see cref="Call"/>).
    /// </summary>
    private void CallNightFloor(long ts, long riseFromTs, double riseQ, double riseP, Device device, ref Incident? incident, IDetectionSink sink)
    {
        var step = new Step(riseFromTs, (float)riseQ, (float)riseP);
        _charge = new Charge(riseFromTs, ts, step, _floor.BaseQ) { Rule = NightFloorRuleId };
        CalledStepTs = riseFromTs;
        Open(step, ts - riseFromTs, NightFloorRuleId, ts, device, ref incident, sink);
    }

    private static void Open(Step step, long heldMs, double rule, long ts, Device device, ref Incident? incident, IDetectionSink sink)
    {
        incident ??= new Incident(device, AlertType.IllegalCharging);
        var severity = device.Circuit == Contract.Circuit.CommonArea ? Severity.Critical : Severity.Warning;
        var evidence = new Evidence(
            new("stepW", step.P),
            new("stepVar", step.Q),
            new("reactiveRatio", step.Q / step.P),
            new("heldS", heldMs / 1000.0),
            new("rule", rule));
        incident.Raise(ts, severity, step.P, evidence, sink);
    }

    /// <summary>The evidence's <c>rule</c> for this rule's calls (<see cref="ChargingSignature"/>'s is 1).</summary>
    public const double RuleId = 2;

    /// <summary>The evidence's <c>rule</c> for a call of the night floor.</summary>
    public const double NightFloorRuleId = 3;

    private void EndCharge(long ts, bool otherHolds, bool otherWatches, ref Incident? incident, IDetectionSink sink)
    {
        var charge = _charge!;
        if (charge.CalledLoadTs != 0 && charge.Loads.FindIndex(l => l.Ts == charge.CalledLoadTs) is >= 0 and var i)
        {
            // A charger called while this charge was held, and still on: its charge goes on, and the incident with it.
            var load = charge.Loads[i];
            _charge = new Charge(load.Ts, ts, load, charge.FloorBefore) { Cursor = ts, Shift = charge.Shift };
            foreach (var other in charge.Loads)
            {
                if (other.Ts != load.Ts)
                {
                    _charge.Add(other);
                }
            }

            CalledStepTs = load.Ts;
            return;
        }

        if (otherWatches)
        {
            charge.EndedTs = ts; // held on until the other rule has decided on a candidate that may be this charge
            return;
        }

        _charge = null;
        Clear(charge, ts, otherHolds, ref incident, sink);
    }

    private static void Clear(Charge charge, long ts, bool otherHolds, ref Incident? incident, IDetectionSink sink)
    {
        if (otherHolds || incident is not { IsOpen: true })
        {
            return; // the other rule holds a confirmed charger: the incident stays open for it
        }

        incident.Clear(Math.Max(ts, incident.OpenedAtMs), new Evidence(new("stepW", charge.Step.P), new("stepVar", charge.Step.Q), new("chargedS", Math.Max(0, ts - charge.StepTs) / 1000.0), new("rule", charge.Rule)), sink);
    }

    /// <summary>Under this the charge is gone: the circuit's Q before its step, less the loads on then that switched off since, plus a quarter of the step.</summary>
    private static double EndFloor(Charge charge) => Math.Max(0, charge.FloorBefore + charge.Shift) + (EndFloorShare * charge.Step.Q);

    private void AddMinute(long ts, float q, float p, Device device, bool otherHolds, bool otherWatches, ref Incident? incident, IDetectionSink sink)
    {
        _mt ??= new long[Minutes];
        _mq ??= new float[Minutes];
        _mp ??= new float[Minutes];
        _mt[_minutesN % Minutes] = ts;
        _mq[_minutesN % Minutes] = q;
        _mp[_minutesN % Minutes] = p;
        _minutesN++;
        if (device is { Circuit: Contract.Circuit.Dwelling, TimeZone: { } zone }
            && _floor.Minute(ts, ReadingsPerMinute * device.ReportIntervalS * 1000L, _mt, _mq, _mp, _minutesN, zone, device.Thresholds, incident?.OpenedAtMs ?? 0,
                canCall: _charge is null && incident is not { IsOpen: true }, out var riseQ, out var riseP, out var riseFromTs))
        {
            CallNightFloor(ts, riseFromTs, riseQ, riseP, device, ref incident, sink);
            return;
        }

        if (_charge is not { EndedTs: 0 } charge || ts <= charge.FromTs)
        {
            return;
        }

        var low = q < EndFloor(charge) ? 1 : 0;
        charge.LowMinutes = ((charge.LowMinutes << 1) | low) & ((1 << EndWindowMinutes) - 1);
        charge.WatchedMinutes = Math.Min(EndWindowMinutes, charge.WatchedMinutes + 1);
        if (charge.WatchedMinutes == EndWindowMinutes && System.Numerics.BitOperations.PopCount((uint)charge.LowMinutes) >= EndLowMinutes)
        {
            EndCharge(ts, otherHolds, otherWatches, ref incident, sink); // tapered to its end, or unplugged
        }
    }

    /// <summary>Decides whether reading <paramref name="c"/> is an edge, and takes its step(s) (the prototype's edges()).</summary>
    private void DecideEdge(long c, DetectionThresholds t)
    {
        var dq = Change(c);
        var a = Math.Abs(dq);
        if (a < EdgeVar)
        {
            return;
        }

        // The (first) largest change of its own hump within W readings: a larger one beyond a valley (the change under
        // half this one's between them) is another load's switch, 10-18 readings away (a fridge starting 2 minutes
        // after a charger), and takes nothing from this one. Scanned outward from c on each side, up to the valley.
        if (Suppressed(c, a, -1) || Suppressed(c, a, +1))
        {
            return;
        }

        var sign = dq > 0 ? 1.0 : -1.0;
        var (first, second) = Moves(c, sign, a);
        Take(first, a, t);
        if (second >= 0)
        {
            Take(second, a, t);
        }
    }

    /// <summary>
    /// Whether a larger change (or, before <paramref name="c"/>, an equal one) lies within W readings of c on the side of
    /// <paramref name="direction"/> (-1 before, +1 after) with no valley between: every change between them at least
    /// <see cref="Valley"/> x <paramref name="a"/>.
    /// </summary>
    private bool Suppressed(long c, double a, int direction)
    {
        for (var d = 1; d <= W; d++)
        {
            var j = c + (direction * d);
            if (j < W)
            {
                return false;
            }

            var aj = Math.Abs(Change(j));
            if (aj > a || (aj == a && direction < 0))
            {
                return true;
            }

            if (aj < Valley * a)
            {
                return false; // a valley: what lies beyond it is another load's
            }
        }

        return false;
    }

    /// <summary>
    /// The largest one-reading move of Q within the edge (in its direction), and the largest of at least 30% of the change
    /// that is 3 or more readings from it (-1: none); moves sorted largest first, ties by reading, as the prototype's.
    /// </summary>
    private (long First, long Second) Moves(long c, double sign, double a)
    {
        Span<long> order = stackalloc long[2 * W];
        Span<double> moves = stackalloc double[2 * W];
        var n = 0;
        for (var j = c - W + 1; j <= c + W; j++)
        {
            var mv = sign * (Q(j) - Q(j - 1));
            var k = n - 1;
            while (k >= 0 && moves[k] < mv)
            {
                moves[k + 1] = moves[k];
                order[k + 1] = order[k];
                k--;
            }

            moves[k + 1] = mv;
            order[k + 1] = j;
            n++;
        }

        for (var i = 1; i < n; i++)
        {
            if (moves[i] < SecondMoveShare * a)
            {
                break;
            }

            if (Math.Abs(order[i] - order[0]) >= SecondMoveApart)
            {
                return (order[0], order[i]);
            }
        }

        return (order[0], -1);
    }

    /// <summary>Measures the step at the move before reading <paramref name="s"/> + 1 and keeps it (and a candidate if it is one).</summary>
    private void Take(long s, double a, DetectionThresholds t)
    {
        if (s < W || s == _seen0 || s == _seen1 || s == _seen2 || s == _seen3)
        {
            return;
        }

        (_seen3, _seen2, _seen1, _seen0) = (_seen2, _seen1, _seen0, s);
        long a0 = s - W, b0 = s + 1 + W;
        var threshold = Math.Max(JumpVar, SecondMoveShare * a);
        for (var m = s - 1; m > s - W; m--)
        {
            if (Math.Abs(Q(m) - Q(m - 1)) >= threshold)
            {
                if (s - m >= MinWindow)
                {
                    a0 = m;
                }

                break;
            }
        }

        for (var m = s + 2; m <= s + W; m++)
        {
            if (Math.Abs(Q(m) - Q(m - 1)) >= threshold)
            {
                if (m - (s + 1) >= MinWindow)
                {
                    b0 = m;
                }

                break;
            }
        }

        var q1 = (float)(MedianQ(s + 1, b0) - MedianQ(a0, s));
        var p1 = (float)(MedianP(s + 1, b0) - MedianP(a0, s));
        if (Math.Abs(q1) < EdgeVar)
        {
            return;
        }

        var step = new Step(T(s), q1, p1);
        var at = _steps.Count;
        while (at > 0 && _steps[at - 1].Ts > step.Ts)
        {
            at--;
        }

        _steps.Insert(at, step);

        // A charger's Q with a kettle's power beside it (both switched in the same reading): its own real power is read
        // once the kettle is off again, and the vetoes allow for the Q noise a kilowatt load adds (the meter's rounding).
        var withResistive = q1 >= t.ReactiveMinStepVar && p1 > t.ReactiveMaxStepW && q1 <= t.ReactiveMaxRatio * t.ReactiveMaxStepW
            && (P(s + 1) - P(s - 1) >= OneReading * p1 || KettleNear(s, p1, t)); // switched within one reading interval (not an air-conditioner's ramp)
        // A charger's Q with a rice cooker's switch-off beside it: its own real power is the step's plus the cooker's,
        // read from the cooker's switch-on (it ran from then until the step).
        var own = p1;
        var afterResistive = false;
        if (!withResistive && q1 >= t.ReactiveMinStepVar && p1 < t.ReactiveMinStepW && ResistiveOn(step.Ts, p1, t) is var on && ChargerLike(q1, p1 + on, t))
        {
            own = (float)(p1 + on);
            step = step with { P = own };
            afterResistive = true;
        }

        var noise = withResistive || afterResistive ? Scatter(_q!, s + 1, s + 1 + W) : 0;
        if ((withResistive || ChargerLike(q1, own, t)) && !Vetoed(s, q1, own, double.IsFinite(noise) ? noise : 0) && step.Ts >= _lastCallEnd)
        {
            var floor = FloorBefore(step.Ts);
            if (double.IsNaN(floor))
            {
                return; // under 10 minutes of the circuit before the step: never called
            }

            var before = Scatter(_q!, Math.Max(0, s - ScatterReadings), s - 1);
            var powerFrom = Math.Max(0, s - ScatterReadings - 1);
            var candidate = new Candidate(s, step, floor, before)
            {
                WithResistive = withResistive,
                PowerBefore = MedianP(powerFrom, s - 1),
                PowerScatterBefore = Scatter(_p!, powerFrom, s - 1),
            };
            var i = _pending.Count;
            while (i > 0 && _pending[i - 1].Ts > step.Ts)
            {
                i--;
            }

            _pending.Insert(i, candidate);
            if (_pending.Count > MaxPending)
            {
                _pending.RemoveAt(0); // bounded whatever the thresholds (a candidate is decided within the hour at the defaults)
            }
        }
    }

    private static bool ChargerLike(double dq, double dp, DetectionThresholds t)
    {
        if (dq < t.ReactiveMinStepVar || dp < t.ReactiveMinStepW || dp > t.ReactiveMaxStepW)
        {
            return false;
        }

        var r = dq / dp;
        var low = dp < t.ReactiveSmallStepW ? t.ReactiveSmallMinRatio : t.ReactiveMinRatio;
        return r >= low && r <= t.ReactiveMaxRatio;
    }

    private static bool SameRatio(double q1, double p1, double q2, double p2)
    {
        if (p1 <= 0 || p2 <= 0)
        {
            return false;
        }

        double r1 = q1 / p1, r2 = q2 / p2;
        return Math.Abs(r1 - r2) <= 0.15 + (0.15 * Math.Max(r1, r2));
    }

    /// <summary>A motor's inrush or an air-conditioner's ramp at the step.</summary>
    private bool Vetoed(long s, double dq, double dp, double noise)
    {
        var from = Math.Max(0, s - InrushBack);
        var before = Math.Max(0, from - W);
        var p0 = MedianP(before, from);
        var q0 = MedianQ(before, from);
        for (var j = from; j < s + InrushForward; j++)
        {
            if (P(j) - p0 > Inrush * dp || Q(j) - q0 > (Inrush * dq) + (InrushNoise * noise))
            {
                return true; // NaN levels (no readings before) compare false, as in the prototype
            }
        }

        var preQ = MedianQ(Math.Max(0, s - W), s);
        var early = MedianQ(s + 2, s + 5) - preQ;
        var late = MedianQ(s + W - 1, s + W + 2) - preQ;
        return late > 0 && early < (Ramp * late) - (RampNoise * noise);
    }

    /// <summary>
    /// Reads the real power of a candidate that switched on with a resistive load (<see cref="Candidate.WithResistive"/>):
    /// its step's real power less that load's switch-off (<see cref="ResistiveOff"/>; NaN, so never called, if there is
    /// none, if the circuit carried that load before the step, or if fewer than 20 readings follow it), and the scatter
    /// of Q and of real power from that switch-off on.
    /// </summary>
    private void ReadWithoutResistive(Candidate c, DetectionThresholds t)
    {
        c.WithResistive = false;
        var (fall, at, after) = ResistiveOff(c.Index);
        var own = c.Step.P + fall;
        var from = Math.Max(c.Index + JitterFrom, at + 3);
        if (after - c.PowerBefore > t.ReactiveMaxStepW || c.PowerBefore >= -fall || c.Index + PartnerTo - from < ScatterReadings / 3)
        {
            // Once that load was off, the circuit carried more than a charger over its level before the step; or it
            // carried that load's power before the step already (a water heater cutting out, not a kettle switched with
            // the step); or too few readings are left after it to read the load's own scatter clean.
            own = double.NaN;
        }

        c.Step = c.Step with { P = (float)own };

        // Its scatter, of Q and of real power, read after the kettle's switch-off: beside a kilowatt load the meter's
        // rounding of the current scatters Q by tens of var.
        c.ScatterAfter = Scatter(_q!, Math.Max(c.Index + 2, at + 3), c.Index + PartnerTo);
        c.PowerScatterAfter = Scatter(_p!, from, c.Index + PartnerTo);
    }

    /// <summary>
    /// The switch-off of a resistive load that switched on with the step at reading <paramref name="s"/> (a kettle): the
    /// largest one-reading fall of real power 3-66 readings after it, measured by the medians of 6 readings either side,
    /// of at least <see cref="ResistiveMinW"/> with Q unchanged (within 30 var or 10%), the load on from the step until
    /// then (its power never under 80% of it: not a hob or rice cooker pulsing). The fall (negative) and its reading; NaN
    /// if there is none.
    /// </summary>
    private (double Fall, long At, double After) ResistiveOff(long s)
    {
        var at = -1L;
        var largest = 0.0;
        for (var j = s + 3; j <= s + PartnerTo - 6; j++)
        {
            var d = P(j) - P(j - 1);
            if (d < largest)
            {
                (largest, at) = (d, j);
            }
        }

        if (at < s + 7)
        {
            return (double.NaN, s, double.NaN); // none, or on for under a minute: a pulse, not a kettle
        }

        long a = Math.Max(at - 6, s + 1), b = Math.Min(at + 6, s + PartnerTo);
        var after = MedianP(at, b);
        var fall = after - MedianP(a, at);
        var dq = MedianQ(at, b) - MedianQ(a, at);
        for (var j = s + 2; j < at; j++)
        {
            if (P(j) < after + (0.8 * -fall))
            {
                return (double.NaN, s, double.NaN);
            }
        }

        return fall < 0 && ResistiveSwitch(fall, dq) ? (fall, at, after) : (double.NaN, s, double.NaN);
    }

    /// <summary>
    /// A resistive load's switch-on in one reading (Q unchanged) from a reading before the Q move at <paramref name="s"/> to
    /// one after, big enough that what is left of the step of <paramref name="p1"/> could be a charger's: a kettle switched
    /// with the charger, the charger's 10-second soft start at some 60 W putting its Q move a reading after the kettle's
    /// (stop 23: 5 chargers more on the unseen nights, 1 false alert).
    /// </summary>
    private bool KettleNear(long s, double p1, DetectionThresholds t)
    {
        for (var j = s - 1; j <= s + 1; j++)
        {
            var dp = P(j) - P(j - 1);
            if (dp >= p1 - t.ReactiveMaxStepW && ResistiveSwitch(dp, Q(j) - Q(j - 1)))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>A change of real power of at least <see cref="ResistiveMinW"/> with Q unchanged (within 30 var or 10% of it): a resistive load switching.</summary>
    private static bool ResistiveSwitch(double dp, double dq) => Math.Abs(dp) >= ResistiveMinW && Math.Abs(dq) <= Math.Max(30, 0.1 * Math.Abs(dp));

    /// <summary>
    /// The switch-on of a resistive load that ran until the step at <paramref name="ts"/> and switched off with it (a rice
    /// cooker): in the hour before the step, the latest rise of the 1-minute mean real power over two minutes of at least
    /// <see cref="ResistiveMinW"/> (and enough to take a step of <paramref name="p1"/> to a charger's), Q unchanged (within 30
    /// var or 10%), the largest there, after which the power fell by no step of its size up to the step (on throughout:
    /// a cooker pulsing on keep-warm falls by its size every few minutes). Not asked since stop 23: that the circuit's
    /// power stayed over 70% of it, which any other load switching off meanwhile broke (6 chargers more on the unseen
    /// nights, no false alert). Its size; NaN if there is none.
    /// </summary>
    private double ResistiveOn(long ts, double p1, DetectionThresholds t)
    {
        if (_mp is null || _minutesN < 3)
        {
            return double.NaN;
        }

        double Rise(long m) => _mp[m % Minutes] - _mp[(m - 2) % Minutes];
        var oldest = Math.Max(2, _minutesN - Minutes + 2);
        for (var m = _minutesN - 1; m >= oldest; m--)
        {
            var mt = _mt![m % Minutes];
            if (mt > ts - FloorBeforeGapMs)
            {
                continue;
            }

            if (mt < ts - ResistiveOnMs)
            {
                break;
            }

            var d = Rise(m);
            var dq = _mq![m % Minutes] - _mq[(m - 2) % Minutes];
            if (d < t.ReactiveMinStepW - p1 || !ResistiveSwitch(d, dq) || (m - 1 >= oldest && d < Rise(m - 1)) || (m + 1 < _minutesN && d < Rise(m + 1)))
            {
                continue;
            }

            var stayed = true;
            for (var k = m + 1; k < _minutesN && _mt![k % Minutes] <= ts - FloorBeforeGapMs; k++)
            {
                stayed &= k == m + 1 || Rise(k) > -0.7 * d || Rise(k) < -1.43 * d;
            }

            if (stayed)
            {
                return d;
            }
        }

        return double.NaN;
    }

    /// <summary>The 15th percentile of the 1-minute Q over the 30 minutes before the step (NaN under 10 minutes).</summary>
    private double FloorBefore(long ts)
    {
        Span<float> pre = stackalloc float[Minutes];
        var n = 0;
        for (var m = Math.Max(0, _minutesN - Minutes); m < _minutesN; m++)
        {
            var mt = _mt![m % Minutes];
            if (mt > ts - FloorWindowMs && mt <= ts - FloorBeforeGapMs)
            {
                pre[n++] = _mq![m % Minutes];
            }
        }

        return n < FloorMinMinutes ? double.NaN : Percentile(pre[..n], FloorPercentile);
    }

    /// <summary>numpy's default (linear) percentile.</summary>
    internal static double Percentile(Span<float> values, double pct)
    {
        values.Sort();
        var pos = pct / 100 * (values.Length - 1);
        var lo = (int)Math.Floor(pos);
        var hi = Math.Min(lo + 1, values.Length - 1);
        var frac = pos - lo;
        double a = values[lo], b = values[hi];
        return frac >= 0.5 ? b - ((b - a) * (1 - frac)) : a + ((b - a) * frac);
    }

    /// <summary>
    /// How much the candidate's real power moves from reading to reading, as a share of its step: the robust scatter of P
    /// over the readings from its step's third minute to its twelfth, beyond that over the 60 readings before it and the
    /// meter's own noise on the power added (in quadrature). A charger's input ripples by about 0.5%; a TV's picture, a
    /// PC's or laptop's work move theirs by 3-15%, and their non-active power hardly at all (a power factor near 0.96),
    /// so the scatter of Q alone misses them (0 when either scatter is unknown).
    /// </summary>
    private static double PowerJitter(Candidate c, DetectionThresholds t)
    {
        if (!double.IsFinite(c.PowerScatterAfter + c.PowerScatterBefore + c.PowerBefore) || c.Step.P <= 0)
        {
            return 0;
        }

        var after = c.PowerBefore + c.Step.P;
        var meter = t.ReactiveMeterNoise * t.ReactiveMeterNoise * ((after * after) - (c.PowerBefore * c.PowerBefore));
        var own = (c.PowerScatterAfter * c.PowerScatterAfter) - (c.PowerScatterBefore * c.PowerScatterBefore) - meter;
        return Math.Sqrt(Math.Max(0, own)) / c.Step.P;
    }

    /// <summary>
    /// The scatter of real power over the 60 readings from <paramref name="from"/>, or over their first 20 if less: a
    /// load switched on with the step jitters from its start; one switched on minutes after it (a PC beside a charger)
    /// leaves the first 20 readings clean, and is not charged to the step (found in review). The least of all three
    /// thirds was tried: its bias low took back nearly all the false alerts the check removes.
    /// </summary>
    private double PowerScatterAfter(long from) =>
        Math.Min(Scatter(_p!, from, from + ScatterReadings), Scatter(_p!, from, from + (ScatterReadings / 3)));

    /// <summary>Robust scatter of the reading-to-reading change of a ring's values over readings [from, to): 1.4826 MAD / sqrt 2; NaN under 6 changes.</summary>
    private static double Scatter(float[] ring, long from, long to)
    {
        var n = (int)(to - from - 1);
        if (n <= 5)
        {
            return double.NaN;
        }

        Span<double> x = stackalloc double[n];
        for (var i = 0; i < n; i++)
        {
            x[i] = (double)ring[(from + i + 1) % Readings] - ring[(from + i) % Readings];
        }

        var med = Median(x);
        for (var i = 0; i < n; i++)
        {
            x[i] = Math.Abs(x[i] - med);
        }

        return 1.4826 * Median(x) / Math.Sqrt(2);
    }

    /// <summary>Median of Q over the 9 readings after <paramref name="i"/> less that over the 9 before it.</summary>
    private double Change(long i) => MedianQ(i + 1, i + 1 + W) - MedianQ(i - W, i);

    private double MedianQ(long from, long to) => MedianOf(_q!, from, to);

    private double MedianP(long from, long to) => MedianOf(_p!, from, to);

    private static double MedianOf(float[] ring, long from, long to)
    {
        var n = (int)(to - from);
        if (n <= 0)
        {
            return double.NaN;
        }

        Span<double> x = stackalloc double[n];
        for (var i = 0; i < n; i++)
        {
            x[i] = ring[(from + i) % Readings];
        }

        return Median(x);
    }

    private static double Median(Span<double> x)
    {
        x.Sort();
        var h = x.Length / 2;
        return x.Length % 2 == 1 ? x[h] : (x[h - 1] + x[h]) / 2;
    }

    /// <summary>
    /// A value as the rings keep it: to a tenth (of a watt or var), below anything the rule tells apart, so that the rings
    /// save as small whole-number differences (<see cref="StateFormat"/>) and a restored rule holds exactly the same values.
    /// </summary>
    internal static float Tenths(double value) => (float)(Math.Round(value * 10) / 10);

    private double Q(long i) => _q![i % Readings];

    private double P(long i) => _p![i % Readings];

    private long T(long i) => _t![i % Readings];

    /// <summary>Forgets steps no hold or reversal check can reach any more.</summary>
    private void PruneSteps(long ts, DetectionThresholds t)
    {
        var keepFrom = ts - (long)(t.ReactiveHoldS * 1000) - (2 * ReverseMs) - (10 * 60_000);
        if (_pending.Count > 0)
        {
            keepFrom = Math.Min(keepFrom, _pending[0].Ts - LoadsBeforeMs);
        }

        var drop = 0;
        while (drop < _steps.Count && (_steps[drop].Ts < keepFrom || _steps.Count - drop > MaxSteps))
        {
            drop++;
        }

        _steps.RemoveRange(0, drop);
    }

    private void Restart()
    {
        _n = 0;
        _minutePowerSum = 0;
        _minuteSum = 0;
        _minuteCount = 0;
        _minutesN = 0;
        _steps.Clear();
        _pending.Clear();
        _seen0 = _seen1 = _seen2 = _seen3 = -1;
        if (_charge is not null)
        {
            _charge.FromTs = 0; // its falls and floor are watched again from the new readings
            _charge.Cursor = 0;
            _charge.ReversalTs = 0;
            _charge.LowMinutes = 0;
            _charge.WatchedMinutes = 0;
        }
    }

    /// <summary>A step of the circuit's Q (and the P that came with it) at a reading's time.</summary>
    private readonly record struct Step(long Ts, float Q, float P);

    private sealed class Candidate(long index, Step step, double floorBefore, double scatterBefore)
    {
        public long Index { get; } = index;

        public Step Step { get; set; } = step;

        public long Ts => Step.Ts;

        /// <summary>Its real power was measured with a resistive load's switch-on in it (a kettle): read again at that load's switch-off.</summary>
        public bool WithResistive { get; set; }

        public double FloorBefore { get; } = floorBefore;

        public double ScatterBefore { get; } = scatterBefore;

        public double ScatterAfter { get; set; } = double.NaN;

        /// <summary>The circuit's real power over the 60 readings before the step (median), and its scatter there.</summary>
        public double PowerBefore { get; init; } = double.NaN;

        public double PowerScatterBefore { get; init; } = double.NaN;

        /// <summary>The scatter of real power over the 60 readings from the step's third minute (NaN until they are in).</summary>
        public double PowerScatterAfter { get; set; } = double.NaN;
    }

    private sealed class Charge(long stepTs, long fromTs, Step step, double floorBefore)
    {
        public long StepTs { get; } = stepTs;

        /// <summary>Falls after this end the charge (the hold's end: the falls before it were all reversed).</summary>
        public long FromTs { get; set; } = fromTs;

        public Step Step { get; } = step;

        public double FloorBefore { get; } = floorBefore;

        /// <summary>Which way it was found: the evidence's <c>rule</c> (<see cref="RuleId"/> or <see cref="NightFloorRuleId"/>).</summary>
        public double Rule { get; init; } = RuleId;

        /// <summary>The last minutes watched, a bit each (1: under the end floor), the latest lowest.</summary>
        public int LowMinutes { get; set; }

        /// <summary>How many minutes have been watched since the call (or a restart), up to 10.</summary>
        public int WatchedMinutes { get; set; }

        /// <summary>When it ended, while the other rule decides on a candidate that may be it (0: not ended).</summary>
        public long EndedTs { get; set; }

        /// <summary>The steps up to this were followed (<see cref="Follow"/>; 0: none yet).</summary>
        public long Cursor { get; set; }

        /// <summary>A rise that reversed a fall of the charge's size: the charge back (0: none).</summary>
        public long ReversalTs { get; set; }

        /// <summary>When a charger the rule called while this charge was held switched on (0: none): held after it, if still on.</summary>
        public long CalledLoadTs { get; set; }

        /// <summary>The end floor's change: less the Q of the loads on before the charger that switched off since.</summary>
        public double Shift { get; set; }

        /// <summary>
        /// Loads switched since the charger, oldest first: rises (on since; their fall is theirs) and falls (on before,
        /// off since; a rise of their size, ratio not asked, is theirs back). At most <see cref="MaxLoads"/>, the oldest forgotten.
        /// </summary>
        public List<Step> Loads { get; } = [];

        public void Add(Step step)
        {
            if (Loads.Count == MaxLoads)
            {
                Loads.RemoveAt(0);
            }

            Loads.Add(step);
        }
    }
}
