using SmartPower.Alerts;
using SmartPower.Registry;

namespace SmartPower.Detection;

/// <summary>
/// Finds an e-bike charger inside a meter's total power, from the physics of charging.
/// <para>
/// How it decides. The meter reports one number, the sum of every load on the circuit. The power is first
/// passed through a 3-sample median filter, which removes one-sample spikes (motor inrush, switching noise).
/// It then looks for <b>edges</b>: sample-to-sample changes of at least 10 W, or 5 times the circuit's recent noise
/// if that is more. A change spread over up to three
/// samples is one step (a charger's 2-5 s soft start can straddle a sample boundary); one that keeps going is a
/// <b>ramp</b> (an inverter air-conditioner or heater modulating), which never counts as a switch-on.
/// </para>
/// <list type="number">
/// <item><b>Step-on.</b> A rising step of <c>ChargerMinStepW</c>..<c>ChargerMaxStepW</c> (80-450 W: a 36 V pack on
/// a 1.8 A charger up to a 72 V pack on 5 A) opens a <i>candidate</i>, unless the raw power overshot the new
/// level by more than half the step: that overshoot is a compressor or motor inrush (fridge, pump), while a
/// charger soft-starts.</item>
/// <item><b>Non-active power.</b> Every step's non-active power (what the apparent power V x I carries beyond the real
/// power; additive across the circuit's loads) is measured over the samples after it, as a ratio to its real power.
/// A charger's rectifier without power-factor correction draws much of it; kettles, heaters, cookers and blankets
/// none; TVs and PCs over 75 W little (they must correct their power factor).</item>
/// <item><b>Bookkeeping.</b> Every other step-on is remembered as some other load. A falling step is matched to
/// the most recent load of about its size (0.7-1.43x; a candidate, whose level is tracked closely, only within 10%; a
/// resistive load's step scaled by the square of the supply voltage since it switched on, as its power follows it)
/// and ends it, so a fridge switching off beside a charger of the same size ends the fridge, not the charger. A big
/// load that falls by less than it rose leaves a remainder behind: a charger plugged in as the kettle starts or the
/// rice cooker stops becomes a <i>paired</i> candidate, and so does what stays of a candidate that falls by a quarter
/// to three quarters of itself when nothing else matches (a charger plugged in as the TV came on, the TV going off).
/// A paired candidate's non-active power is the circuit's after the fall less what it had before the pair switched
/// on, and it must show at least <c>ChargerPairedMinReactiveRatio</c> of it. Every step moves the candidates'
/// baselines, so loads switching beside a charger do not disturb its estimated power. Two corrections from the
/// physics: a switch-off matched to a candidate with a rectifier's non-active power ends it only if the circuit's
/// non-active power fell by at least half of the candidate's over the minute after (a TV, a PC or an inverter
/// air-conditioner of about the charger's real power going off takes little with it); and a motor (a load that
/// started with an inrush: a fridge compressor) settles as it runs, so it switches off by less than it switched on
/// (up to 30% less): that fall came between steps and was taken off the candidates watched while it settled, so it is
/// given back to them at the motor's switch-off: all of it to those watched since before the motor started, and to a
/// candidate that started after it the share that came later, taking the settling as exponential and over within the
/// motor's young time (a time constant of a third of it).</item>
/// <item><b>Noise (evidence only).</b> The mean sample-to-sample change in the first undisturbed window after the
/// step is compared with the circuit's noise before it and reported with the alert, but it vetoes nothing: a TV or PC
/// switched on beside the charger, or a busy circuit, makes the window noisy as often as the load itself does.</item>
/// <item><b>Rising slowly and smoothly.</b> In the constant-current phase the input power is battery voltage x
/// current / efficiency, and the battery voltage climbs, so the power rises by a few percent an hour. The
/// candidate's power is regressed on time over the <i>clean</i> samples, those taken while no motor is young (a
/// fridge settling after it starts would fake a trend), pooled between steps so that a misjudged baseline shift
/// cannot fake one either. The supply voltage enters as a second regressor (a resistive load follows V squared);
/// when it held steady there is nothing to separate and the plain rise on time is used. The rise must be at least
/// <c>ChargerMinRisePctPerHour</c>, amount to <c>ChargerMinRiseW</c>, with a t value of at least
/// <c>ChargerMinTrendT</c>, at most <c>ChargerMaxRisePctPerHour</c> and, over the time held, at most
/// <c>ChargerMaxTotalRisePct</c> in all (a charge's constant-current phase raises its power by about a fifth at most), and the scatter about the trend at most
/// <c>ChargerMaxScatterW</c> + <c>ChargerMaxScatterPct</c>% of the step. Resistive loads (blankets, heaters, lamps)
/// stay flat or fall as they warm, fridges settle, TVs wander, air-conditioners swing.</item>
/// <item><b>Held.</b> Nothing is called before <c>ChargerMinHoldS</c> (10 min) of steady load, which outlasts a
/// kettle, a microwave or most fridge cycles. A candidate that has not shown the signature by
/// <c>ChargerDecideWithinS</c> (3 h) is taken for something else.</item>
/// <item><b>The quick call.</b> A slow charger's rise takes half an hour or more to show under other appliances'
/// drift, so within <c>ChargerQuickWithinS</c> (20 min) a candidate is also called on its switch-on alone when all of
/// the signature that can be seen by then is there: a step of at least <c>ChargerQuickMinStepW</c>, a rectifier's
/// non-active power (<c>ChargerQuickMinReactiveRatio</c>), little noise of its own (<c>ChargerQuickMaxNoisePct</c> of
/// the step, measured over at least 12 undisturbed samples: a circuit so busy that no such window came yet has not
/// shown it), held within <c>ChargerQuickLevelPct</c> of the step, a smooth (<c>ChargerQuickMaxScatterPct</c>) and not
/// falling (<c>ChargerQuickMinTrendT</c>) trend, measured over at least half the time since the step. This trend may
/// also use the samples taken while a motor is young: a motor's settling is an exponential fall from its start (time
/// constant a third of its young time) by at most 30% of its step, so each motor's step decayed from its start enters
/// the fit as a third regressor whose share, bounded to 0-30%, takes the settling out instead of the slope on time.
/// When the motors' decayed steps moved by under a watt over the fit, or in step with time, there is no settling to
/// take out and only the clean samples count. On a common-area circuit a step the size of a load that switched on and
/// off there within the hour gets no quick call: that is a fitting on a motion sensor or timer coming on again, quiet,
/// level and rectifier-like as an LED driver is, not a charger carried in.</item>
/// <item><b>The hold call.</b> On a busy circuit other loads' changes hide both the quiet switch-on and the slow rise, but
/// not what a charger is: a big load with a rectifier's non-active power that holds its charge. A candidate of at least
/// <c>ChargerHoldMinStepW</c> (180 W) with at least <c>ChargerHoldMinReactiveRatio</c> (0.55) non-active power per watt,
/// still within <c>ChargerHoldLevelPct</c> (30%) of its step <c>ChargerHoldMinS</c> (an hour) after it and never faded
/// in between (under 40% a candidate is dropped), is called on that: a household load that big and that steady corrects
/// its power factor (TVs, PCs) or has none to correct (heaters, water heaters, blankets, cookers); a fridge's compressor
/// starts with an inrush (no candidate) and runs in cycles; the small rectifier loads that hold for hours (laptop
/// adapters, LED lighting) stay under 180 W. Not for a paired candidate, whose non-active power is only a difference.</item>
/// <item><b>The taper.</b> A charge ends in its constant-voltage phase: the current, and with it the input power, falls
/// exponentially to a tenth or less over half an hour to two hours, which no household appliance of that size and power
/// factor does. A candidate with a clear rectifier's non-active power (<c>ChargerTaperMinReactiveRatio</c>, above a TV's
/// or PC's) that never showed the rise is watched on for its taper up to <c>ChargerTaperWithinS</c> (8 h) after its
/// step, and called when, after at least 45 minutes at its charge and not falling then, its level fell smoothly (no
/// rise back of more than 5% of its peak) over at least 10 minutes to half its peak and is still there 10 minutes later
/// (an air-conditioner hunting up and down comes back within its period), its trend falling, while the circuit's
/// non-active power fell between steps by the share this load's step showed (within 1.5x): the same rectifier
/// tapering, not another load's drift. Such a call comes hours after the plug-in, but before the charge ends.</item>
/// </list>
/// A confirmed candidate opens one illegal-charging incident per meter: critical on a common-area circuit
/// (a flying wire or a charger in the stairwell), warning in a dwelling. The incident clears when every
/// confirmed candidate has switched off or tapered below 15% of its step (end of the constant-voltage phase)
/// for 10 minutes, and <see cref="ReactiveHold"/>, the second rule sharing the incident, holds no charge (see
/// <see cref="Detectors"/>, where the two are joined).
/// </summary>
internal sealed partial class ChargingSignature
{
    /// <summary>The evidence's <c>rule</c> for this rule's calls (<see cref="ReactiveHold"/>'s is 2).</summary>
    public const double RuleId = 1;

    private const double MinEdgeW = 10;
    private const double EdgeNoiseFactor = 5;
    private const int QuietWindow = 30;
    private const int MinQuietSamples = 12;
    private const int MaxStepSamples = 3;
    private const int MaxLoads = 8;
    private const int MaxCandidates = 3;
    private const double NoiseEmaWeight = 1.0 / 32;
    private const long YoungLoadMs = 30 * 60_000;
    private const long SettleTimeConstantMs = YoungLoadMs / 3; // a motor's settling, taken as exponential, is over when it stops being young
    private const long ForgetLoadMs = 12 * 3_600_000L;
    private const long TaperClearMs = 10 * 60_000;
    private const long MaxChargeMs = 24 * 3_600_000L;
    private const int MinCleanSamples = 30;
    private const double NominalV = 230;
    private const double MinCoincidentW = 80;
    private const double ReactiveEmaWeight = 1.0 / 4;
    private const int ReactiveSamples = 6;
    private const double MinCheckedReactive = 30;
    private const double MaxResistiveRatio = 0.15; // a step with less non-active power than this per watt is taken as resistive
    private const double EndReactiveShare = 0.5;
    private const long TaperMinChargeMs = 45 * 60_000;
    private const long TaperMinFallMs = 10 * 60_000;
    private const long TaperStayMs = 10 * 60_000;
    private const double TaperReriseShare = 0.05;
    private const double TaperChargeMinTrendT = -1;
    private const double TaperReactiveMatch = 1.5;
    private const double TaperFall = 0.5;
    private const long RecurringWithinMs = 60 * 60_000;
    private const double RecurringMatch = 0.1;
    internal const double MaxSettleShare = 0.3; // a motor settles by at most this share of its switch-on step

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
    private double _q1;
    private double _q2;
    private double _reactiveSquared = double.NaN;
    private double _edgeReactiveFrom;
    private Load?[]? _loads;
    private CircuitMemory? _memory; // allocated with the load table: a quiet meter has neither
    private bool _otherRuleHolds; // set by each Observe, never saved
    private long _lastOpenTs; // the last reading at which the meter's illegal-charging incident was open (0: none yet)

    /// <summary>True while a candidate is a confirmed charger: the illegal-charging incident stays open for it.</summary>
    public bool HoldsCharger
    {
        get
        {
            foreach (var load in _loads ?? [])
            {
                if (load is Candidate { Confirmed: true })
                {
                    return true;
                }
            }

            return false;
        }
    }

    /// <summary>
    /// True while an unconfirmed candidate that switched on at or after <paramref name="fromTs"/> is watched (a charge
    /// <see cref="ReactiveHold"/> called may be found here again, as what stayed when a load beside it switched off).
    /// </summary>
    public bool WatchesSince(long fromTs)
    {
        foreach (var load in _loads ?? [])
        {
            if (load is Candidate { Confirmed: false } c && c.StartTs >= fromTs)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>When the last charger confirmed here switched on (0: none yet): the reactive rule does not alert it again.</summary>
    public long ConfirmedStartTs { get; private set; }

    /// <param name="otherHolds">Whether <see cref="ReactiveHold"/> holds a charge it called: then no charger ending here clears the incident.</param>
    public void Observe(long ts, double powerW, double voltageV, double currentA, Device device, long gapMs, bool otherHolds, ref Incident? incident, IDetectionSink sink)
    {
        _otherRuleHolds = otherHolds;
        if (incident is { IsOpen: true })
        {
            _lastOpenTs = ts;
        }

        if (_samples > 0 && ts - _lastTs > gapMs)
        {
            Restart(); // a gap in the data: what switched in it is unknown, so steps cannot be trusted across it
        }

        _lastTs = ts;

        // Non-active power: what the apparent power V x I carries beyond the real power. Additive across the circuit's
        // loads, it moves with a rectifier or motor switching on, not with a kettle, a heater or a blanket. It is kept
        // squared (S^2 - P^2, signed) until averaged: the meter's rounding of the current makes each sample's S^2 - P^2
        // scatter by about 2 S x 0.7 VA either way, so a root taken per sample (negative ones clipped to 0) is biased
        // upwards, reading a couple of kilowatts of resistive load as tens of var; the mean of the squares is not.
        var apparent = voltageV * currentA;
        var reactiveSquared = (apparent * apparent) - (powerW * powerW);
        var voltageBefore = _memory?.Voltage(voltageV) ?? 0;
        if (_samples < 2)
        {
            (_p2, _p1) = (_p1, powerW);
            (_q2, _q1) = (_q1, reactiveSquared);
            _samples++;
            _level = powerW;
            return;
        }

        var filtered = Median(_p2, _p1, powerW);
        var peakRaw = Math.Max(Math.Max(_p2, _p1), powerW);
        (_p2, _p1) = (_p1, powerW);
        var reactiveSquaredFiltered = Median(_q2, _q1, reactiveSquared); // in step with the filtered power
        (_q2, _q1) = (_q1, reactiveSquared);
        var delta = filtered - _level;
        var previous = _level;
        _level = filtered;

        var edgeW = Math.Max(MinEdgeW, EdgeNoiseFactor * (double.IsNaN(_noise) ? 0 : _noise));
        if (Math.Abs(delta) >= edgeW)
        {
            if (_edgeLength > 0 && Math.Sign(delta) == Math.Sign(_edgeSum))
            {
                _edgeSum += delta;
                _edgeLength++;
                _edgePeakRaw = Math.Max(_edgePeakRaw, peakRaw);
                return;
            }

            if (_edgeLength > 0)
            {
                CloseEdge(previous, voltageV, device, ref incident, sink);
            }

            _edgeSum = delta;
            _edgeFrom = previous;
            _edgeReactiveFrom = NonActive(_reactiveSquared);
            _memory?.EdgeBegan(voltageBefore);
            _edgePeakRaw = peakRaw;
            _edgeStartTs = ts;
            _edgeLength = 1;
            return;
        }

        if (_edgeLength > 0)
        {
            CloseEdge(filtered, voltageV, device, ref incident, sink);
        }

        _reactiveSquared = double.IsNaN(_reactiveSquared) ? reactiveSquaredFiltered : _reactiveSquared + ((reactiveSquaredFiltered - _reactiveSquared) * ReactiveEmaWeight);
        var change = Math.Abs(delta);
        _noise = double.IsNaN(_noise) ? change : _noise + ((change - _noise) * NoiseEmaWeight);
        if (_loads is null)
        {
            return;
        }

        _memory!.AddQuietReactive(NonActive(_reactiveSquared));
        var (settling, young) = MotorSettling(ts);
        var supply = (voltageV / NominalV * (voltageV / NominalV)) - 1;
        for (var i = 0; i < _loads.Length; i++)
        {
            _loads[i]?.AddReactive(reactiveSquaredFiltered);
            if (_loads[i] is Candidate { EndingTs: > 0 } ending)
            {
                if (ending.AddEndingReactive(reactiveSquaredFiltered) >= ReactiveSamples)
                {
                    DecideEnding(ending, i, ref incident, sink);
                }

                continue;
            }

            if (_loads[i] is Candidate c)
            {
                c.Add(ts, filtered, supply, settling, change, !young, _memory.ReactiveDrift);
                Evaluate(c, i, ts, device, ref incident, sink);
            }
        }
    }

    private void CloseEdge(double settled, double voltageV, Device device, ref Incident? incident, IDetectionSink sink)
    {
        var step = _edgeSum;
        var ramp = _edgeLength > MaxStepSamples;
        _edgeLength = 0;
        var t = device.Thresholds;
        var coincident = 0.0;
        var coincidentReactiveFrom = double.NaN;
        var settledBy = 0.0;
        var motorStartTs = 0L;
        for (var i = 0; _loads is not null && i < _loads.Length; i++)
        {
            _loads[i]?.EndReactive();
            if (_loads[i] is Candidate { EndingTs: > 0 } ending)
            {
                DecideEnding(ending, i, ref incident, sink); // another load switched: decide on what the circuit showed so far
            }
        }

        if (step < 0 && !ramp)
        {
            var (ended, remainder) = MatchSwitchOff(-step);
            if (remainder > 0)
            {
                // A load switched off, but by less than it switched on: the rest is a load that came on with it. Its
                // non-active power is the circuit's after the edge less what was there before the pair switched on.
                coincident = remainder;
                var pair = _loads![ended]!;
                coincidentReactiveFrom = double.IsNaN(pair.ReactiveRatio) ? double.NaN : _edgeReactiveFrom - pair.Reactive;
            }

            if (ended >= 0 && remainder == 0)
            {
                _memory!.SwitchedOff(-step, _edgeStartTs); // a load switched off at the size it switched on
            }

            if (ended >= 0 && remainder == 0 && _loads![ended] is { Motor: true } motor && motor.Step + step <= MaxSettleShare * motor.Step)
            {
                // A motor switched off by less than it switched on: the difference is what it settled by while it ran.
                settledBy = Math.Max(0, motor.Step + step);
                motorStartTs = motor.StartTs;
            }

            if (ended >= 0 && remainder == 0 && _loads![ended] is Candidate { Confirmed: false, EndingTs: 0 } ending && ending.Reactive >= MinCheckedReactive)
            {
                // A rectifier takes its non-active power with it: the candidate ends once the minute after shows it did.
                ending.BeginEnding(_edgeStartTs, _edgeReactiveFrom);
                ended = -1;
            }

            if (ended >= 0)
            {
                End(ended, _edgeStartTs, ref incident, sink);
            }
        }

        for (var i = 0; _loads is not null && i < _loads.Length; i++)
        {
            (_loads[i] as Candidate)?.ShiftBaseline(step);
        }

        if (settledBy > 0)
        {
            for (var i = 0; _loads is not null && i < _loads.Length; i++)
            {
                (_loads[i] as Candidate)?.UndoMotorSettling(settledBy, motorStartTs);
            }
        }

        if (coincident >= t.ChargerMinStepW && coincident <= t.ChargerMaxStepW)
        {
            Remember(new Candidate(_edgeStartTs, coincident, settled - coincident, double.IsNaN(_noise) ? 0 : _noise, coincidentReactiveFrom) { Paired = true });
        }

        if (step <= 0 || ramp)
        {
            return;
        }

        var inrush = _edgePeakRaw - settled > 0.5 * step;
        var charger = step >= t.ChargerMinStepW && step <= t.ChargerMaxStepW && !inrush;
        // On a common-area circuit the loads are fittings on motion sensors and timers, switching on and off at the same
        // size all evening: a step the size of a load that switched off within the hour is that fitting again.
        var recurring = device.Circuit == Contract.Circuit.CommonArea && _memory is { } memory && memory.SwitchedOffAtSize(step, _edgeStartTs);

        Remember(charger ? new Candidate(_edgeStartTs, step, _edgeFrom, double.IsNaN(_noise) ? 0 : _noise, _edgeReactiveFrom) { Recurring = recurring } : new Load(_edgeStartTs, step, _edgeReactiveFrom, inrush) { OnVoltage = voltageV });
    }

    /// <summary>
    /// The most recent load whose size matches the drop, or -1; and what is left of it when it dropped only in part.
    /// </summary>
    private (int Slot, double Remainder) MatchSwitchOff(double drop)
    {
        var best = -1;
        var split = -1;
        for (var i = 0; _loads is not null && i < _loads.Length; i++)
        {
            if (_loads[i] is not { } load)
            {
                continue;
            }

            // A charger's level is tracked closely, so its switch-off must match it well; other loads are known only
            // by the step they switched on with. A big load may also drop by less than it rose: the rest is a load
            // that switched on in the same instant (a charger plugged in as the kettle starts).
            var size = SizeBeforeEdge(load);
            var ratio = drop / Math.Max(size, 1);
            var matches = load is Candidate ? ratio is >= 0.9 and <= 1.1 : ratio is >= 0.7 and <= 1.43;
            var partial = load is not Candidate && ratio is >= 0.4 and < 1 && size - drop >= MinCoincidentW;
            if ((matches || partial) && (best < 0 || load.StartTs > _loads[best]!.StartTs))
            {
                best = i;
            }

            // A watched load that drops by a part of itself, when nothing else matches, was two loads switched on together
            // (a charger plugged in as the TV comes on): what stays is watched on its own. Both parts must be loads of
            // their own, at least MinCoincidentW: a smaller fall is another load changing state (a PC, an air-conditioner).
            if (load is Candidate { Confirmed: false } && ratio is >= 0.25 and < 0.75 && size - drop >= MinCoincidentW && drop >= MinCoincidentW)
            {
                split = i;
            }
        }

        if (best < 0)
        {
            best = split;
        }

        if (best < 0)
        {
            return (-1, 0);
        }

        var left = SizeBeforeEdge(_loads![best]!) - drop;
        return (best, left >= MinCoincidentW ? left : 0);
    }

    /// <summary>
    /// A load's size as the edge began: a candidate's tracked level, any other load's switch-on step; a resistive load's
    /// (a kettle's, a water heater's) scaled by the square of the supply voltage since it switched on, as its power is
    /// (2 kW moves by 80 W for 2% of voltage, which would otherwise be left behind as a load that came on with it).
    /// </summary>
    private double SizeBeforeEdge(Load load)
    {
        if (load is Candidate c)
        {
            return c.Level(_edgeFrom);
        }

        var voltage = _memory!.EdgeVoltageFrom;
        var resistive = load.ReactiveRatio < MaxResistiveRatio && load.OnVoltage > 0 && voltage > 0; // below 0 is noise about 0
        return resistive ? load.Step * (voltage / load.OnVoltage) * (voltage / load.OnVoltage) : load.Step;
    }

    private void Remember(Load load)
    {
        _loads ??= new Load?[MaxLoads];
        _memory ??= new CircuitMemory();
        if (load is Candidate && CandidateCount() >= MaxCandidates)
        {
            // Room for the newcomer: the longest-watched unconfirmed candidate becomes just another load.
            var oldest = -1;
            for (var i = 0; i < _loads.Length; i++)
            {
                if (_loads[i] is Candidate { Confirmed: false } c && (oldest < 0 || c.StartTs < _loads[oldest]!.StartTs))
                {
                    oldest = i;
                }
            }

            if (oldest < 0)
            {
                return; // every candidate is a confirmed charger: the incident is open already
            }

            _loads[oldest] = _loads[oldest]!.Resized(((Candidate)_loads[oldest]!).CurrentLevel);
        }

        var slot = Array.IndexOf(_loads, null);
        if (slot < 0)
        {
            // Full: forget the oldest load that is not a candidate (there are at most MaxCandidates of those).
            for (var i = 0; i < _loads.Length; i++)
            {
                if (_loads[i] is not Candidate && (slot < 0 || _loads[i]!.StartTs < _loads[slot]!.StartTs))
                {
                    slot = i;
                }
            }
        }

        _loads[slot] = load;
    }

    /// <summary>
    /// The motor loads (those that started with an inrush: a fridge compressor) as a trend sees them: a motor draws more
    /// as it starts and settles as it runs, an exponential fall from its start that would fake a falling trend. Returns
    /// the sum of their switch-on steps, each decayed by its age over the settling time constant (the fall still to come
    /// is a share of it), and whether any is young.
    /// </summary>
    private (double Settling, bool Young) MotorSettling(long ts)
    {
        var settling = 0.0;
        var young = false;
        for (var i = 0; i < _loads!.Length; i++)
        {
            if (_loads[i] is { } load and not Candidate)
            {
                if (ts - load.StartTs > ForgetLoadMs)
                {
                    _loads[i] = null;
                }
                else if (load.Motor)
                {
                    settling += load.Step * Math.Exp(-(ts - load.StartTs) / (double)SettleTimeConstantMs);
                    young |= ts - load.StartTs < YoungLoadMs;
                }
            }
        }

        return (settling, young);
    }

    private int CandidateCount()
    {
        var count = 0;
        foreach (var load in _loads ?? [])
        {
            count += load is Candidate ? 1 : 0;
        }

        return count;
    }

    private void Evaluate(Candidate c, int slot, long ts, Device device, ref Incident? incident, IDetectionSink sink)
    {
        var t = device.Thresholds;
        var held = ts - c.StartTs;
        var level = c.SmoothLevel;
        if (c.Confirmed)
        {
            c.TrackTaper(ts, level < Math.Max(25, 0.15 * c.Step));
            if (c.TaperedFor(ts) >= TaperClearMs || held > MaxChargeMs)
            {
                End(slot, ts, ref incident, sink);
            }

            return;
        }

        var taperWatch = c.ReactiveRatio >= t.ChargerTaperMinReactiveRatio;
        if ((level < 0.4 * c.Step && !(taperWatch && c.Falling)) || c.Level(0) > MinEdgeW)
        {
            // Faded away without a clean switch-off (unless it may be tapering), or more load than the circuit carries
            // (a switch-off was taken for another load's): not a charger we can follow.
            _loads![slot] = null;
            return;
        }

        // The noise after the step is evidence only: a busy circuit (a TV or a PC switched on beside the charger,
        // a fridge cycling) makes it as often as the load itself, so it cannot veto a candidate.
        if (taperWatch && level >= 0 && c.ShowsTaper(ts, level, _memory!.ReactiveDrift) && c.Peak >= 0.6 * t.ChargerMinStepW && c.Peak <= 1.3 * t.ChargerMaxStepW
            && c.Trend() is { T: < 0 } fall)
        {
            Confirm(c, ts, level, device, _lastOpenTs, ref incident, sink, fall.SlopePerHour / c.Peak * 100, fall.T);
            ConfirmedStartTs = c.StartTs;
            return;
        }

        if (held > t.ChargerDecideWithinS * 1000)
        {
            if (!taperWatch || held > t.ChargerTaperWithinS * 1000)
            {
                _loads![slot] = c.Resized(level); // something else: remember it only to recognise its switch-off
            }

            return; // a rectifier's load is watched on for a taper only
        }

        if (held < t.ChargerMinHoldS * 1000 || level < 0.6 * t.ChargerMinStepW || level > 1.3 * t.ChargerMaxStepW)
        {
            return;
        }

        var trend = c.Trend();

        // The quick call may also use the samples taken while a motor was young when its fit takes the motor's settling
        // out; when the settling was too small to fit, or moved in step with time, only the clean samples.
        var quickTrend = c.SettledTrend();
        if (!quickTrend.SettlingFitted)
        {
            quickTrend = trend;
        }

        var risePct = trend.SlopePerHour / level * 100;
        var heldHours = held / 3_600_000.0;
        var quick = held <= t.ChargerQuickWithinS * 1000 && !c.Recurring && !c.Paired
            && c.Step >= t.ChargerQuickMinStepW
            && c.ReactiveRatio >= t.ChargerQuickMinReactiveRatio
            && c.NoiseMeasured && c.NoiseAfter <= t.ChargerQuickMaxNoisePct / 100 * c.Step
            && Math.Abs(level - c.Step) <= t.ChargerQuickLevelPct / 100 * c.Step
            && quickTrend.Samples * device.ReportIntervalS * 1000L * 2 >= held
            && quickTrend.T > t.ChargerQuickMinTrendT
            && quickTrend.Scatter <= t.ChargerQuickMaxScatterPct / 100 * c.Step;
        var rising = (!c.Paired || c.ReactiveRatio >= t.ChargerPairedMinReactiveRatio)
            && trend.Samples >= MinCleanSamples
            && trend.Scatter <= t.ChargerMaxScatterW + (t.ChargerMaxScatterPct / 100 * c.Step)
            && risePct >= t.ChargerMinRisePctPerHour && risePct <= t.ChargerMaxRisePctPerHour
            && risePct * heldHours <= t.ChargerMaxTotalRisePct
            && trend.T >= t.ChargerMinTrendT
            && trend.SlopePerHour * heldHours >= t.ChargerMinRiseW;
        var hold = held >= t.ChargerHoldMinS * 1000 && !c.Paired
            && c.Step >= t.ChargerHoldMinStepW
            && c.ReactiveRatio >= t.ChargerHoldMinReactiveRatio
            && Math.Abs(level - c.Step) <= t.ChargerHoldLevelPct / 100 * c.Step;
        if (!rising && !quick && !hold)
        {
            return;
        }

        Confirm(c, ts, level, device, _lastOpenTs, ref incident, sink, risePct, trend.T);
        ConfirmedStartTs = c.StartTs;
    }

    /// <summary>
    /// Confirms the candidate and raises the incident, unless it is closed and was open since the candidate switched on
    /// (<paramref name="lastOpenTs"/>): then that switch-on was part of the episode an alert already covered, let go of
    /// since (by either rule, often in a charge's constant-voltage tail), and the charger is held here without a second
    /// alert (stop 23: such second alerts were most of the duplicates counted false).
    /// </summary>
    private static void Confirm(Candidate c, long ts, double level, Device device, long lastOpenTs, ref Incident? incident, IDetectionSink sink, double risePct, double trendT)
    {
        var held = ts - c.StartTs;
        c.Confirmed = true;
        if (incident is not { IsOpen: true } && lastOpenTs >= c.StartTs)
        {
            return;
        }

        var severity = device.Circuit == Contract.Circuit.CommonArea ? Severity.Critical : Severity.Warning;
        incident ??= new Incident(device, AlertType.IllegalCharging);
        var evidence = new Evidence(
            new("stepW", c.Step),
            new("powerW", level),
            new("risePctPerHour", risePct),
            new("trendT", trendT),
            new("noiseW", c.NoiseAfter),
            new("reactiveRatio", double.IsNaN(c.ReactiveRatio) ? 0 : c.ReactiveRatio),
            new("baselineNoiseW", c.BaselineNoise),
            new("heldS", held / 1000.0),
            new("rule", RuleId));
        incident.Raise(ts, severity, level, evidence, sink);
    }

    /// <summary>Ends a candidate whose switch-off was matched if the circuit's non-active power fell with it; else it was another load's.</summary>
    private void DecideEnding(Candidate c, int slot, ref Incident? incident, IDetectionSink sink)
    {
        var (endTs, reactiveDrop) = c.EndEnding();
        if (double.IsNaN(reactiveDrop) || reactiveDrop >= EndReactiveShare * c.Reactive)
        {
            End(slot, endTs, ref incident, sink);
        }
    }

    private void End(int slot, long ts, ref Incident? incident, IDetectionSink sink)
    {
        var ended = _loads![slot]!;
        _loads[slot] = null;
        if (ended is not Candidate { Confirmed: true } c || incident is not { IsOpen: true })
        {
            return;
        }

        if (_otherRuleHolds || HoldsCharger)
        {
            return; // another charger on the same circuit (found by either rule) keeps the incident open
        }

        incident.Clear(ts, new Evidence(new("stepW", c.Step), new("chargedS", (ts - c.StartTs) / 1000.0)), sink);
    }

    private void Restart()
    {
        _samples = 0;
        _edgeLength = 0;
        _memory?.EdgeBegan(0);
        for (var i = 0; _loads is not null && i < _loads.Length; i++)
        {
            if (_loads[i] is not Candidate { Confirmed: true })
            {
                _loads[i] = null;
            }
        }
    }

    /// <summary>What the detector keeps of the circuit itself once appliances switch on it, beside its load table.</summary>
    private sealed partial class CircuitMemory
    {
        private double _lastQuietReactive = double.NaN;
        private double _voltage;
        private double _switchedOffW;
        private long _switchedOffTs; // 0: none yet

        /// <summary>
        /// The circuit's non-active power summed over its sample-to-sample changes between edges: what its loads drifted
        /// by, not what switched. A charger's taper takes its own non-active power down with its real power.
        /// </summary>
        public double ReactiveDrift { get; private set; }

        public void AddQuietReactive(double reactive)
        {
            if (!double.IsNaN(_lastQuietReactive))
            {
                ReactiveDrift += reactive - _lastQuietReactive;
            }

            _lastQuietReactive = reactive;
        }

        /// <summary>The supply voltage in the sample before the last edge began (0: unknown), as the loads on the circuit then drew.</summary>
        public double EdgeVoltageFrom { get; private set; }

        /// <summary>Notes this sample's supply voltage; returns the previous sample's (0: none yet).</summary>
        public double Voltage(double voltage)
        {
            var before = _voltage;
            _voltage = voltage;
            return before;
        }

        /// <summary>An edge began (or the data had a gap): the change across it is a switching, not a drift.</summary>
        public void EdgeBegan(double voltageBefore)
        {
            _lastQuietReactive = double.NaN;
            EdgeVoltageFrom = voltageBefore;
        }

        /// <summary>Notes a load that switched off at the size it switched on.</summary>
        public void SwitchedOff(double watts, long ts) => (_switchedOffW, _switchedOffTs) = (watts, ts);

        /// <summary>A load of this size switched on and off within <see cref="RecurringWithinMs"/>.</summary>
        public bool SwitchedOffAtSize(double step, long ts) =>
            _switchedOffTs != 0 && ts - _switchedOffTs <= RecurringWithinMs && Math.Abs(_switchedOffW - step) <= RecurringMatch * step;
    }

    /// <summary>Non-active power from the mean of S^2 - P^2 (NaN stays NaN: nothing measured).</summary>
    private static double NonActive(double squared) => double.IsNaN(squared) ? double.NaN : Math.Sqrt(Math.Max(0, squared));

    private static double Median(double a, double b, double c) => Math.Max(Math.Min(a, b), Math.Min(Math.Max(a, b), c));

    /// <summary>A load that switched on in one step, remembered so that its switch-off can be recognised.</summary>
    private partial class Load(long startTs, double step, double reactiveFrom, bool motor = false)
    {
        private AfterEdge _reactiveAfterStep = new(reactiveFrom);
        private double _reactiveRatio = double.NaN;

        public long StartTs { get; } = startTs;

        public double Step { get; } = step;

        public bool Motor { get; } = motor;

        /// <summary>The supply voltage as it switched on (0 when unknown: a candidate given up, a restored older state).</summary>
        public double OnVoltage { get; init; }

        /// <summary>
        /// The step's non-active power over its real power (tan phi for a sinusoidal load: 0 for a resistive one): the
        /// circuit's non-active power over the first samples after the step less its level before; NaN until measured,
        /// or when another load switched before a sample could be taken.
        /// </summary>
        public double ReactiveRatio => _reactiveRatio;

        /// <summary>This load's own non-active power, as measured at its step (0 when unknown).</summary>
        public double Reactive => double.IsNaN(ReactiveRatio) ? 0 : ReactiveRatio * Step;

        /// <summary>The same load as a plain one of another size (a candidate given up), keeping its non-active power.</summary>
        public Load Resized(double step) => new(StartTs, step, double.NaN, Motor) { _reactiveRatio = Reactive / step };

        public void AddReactive(double reactiveSquared)
        {
            if (_reactiveAfterStep.Measuring && _reactiveAfterStep.Add(reactiveSquared) == ReactiveSamples)
            {
                EndReactive();
            }
        }

        /// <summary>Ends the measurement with what it has: another load switched, so the circuit no longer shows this one alone.</summary>
        public void EndReactive()
        {
            var change = _reactiveAfterStep.Change;
            if (!double.IsNaN(change))
            {
                _reactiveRatio = change / Step;
            }

            _reactiveAfterStep = AfterEdge.None;
        }
    }

    /// <summary>The circuit's non-active power over the samples after an edge, against its level before the edge.</summary>
    private struct AfterEdge(double from)
    {
        public static AfterEdge None => new(double.NaN);

        /// <summary>The level before the edge; NaN when nothing is being measured.</summary>
        public double From { get; } = from;

        public double Sum { get; private set; }

        public int Count { get; private set; }

        public readonly bool Measuring => !double.IsNaN(From);

        /// <summary>The non-active power after the edge (from the mean of its S^2 - P^2) less the level before it; NaN when nothing was measured.</summary>
        public readonly double Change => Count == 0 || !Measuring ? double.NaN : NonActive(Sum / Count) - From;

        /// <summary>Adds a sample (S^2 - P^2) taken after the edge; the number so far.</summary>
        public int Add(double reactiveSquared)
        {
            Sum += reactiveSquared;
            return ++Count;
        }

        public static AfterEdge Restored(double from, double sum, int count) => new(from) { Sum = sum, Count = count };
    }

    /// <summary>A load that might be a charger: its baseline, and running sums for noise and trend.</summary>
    private sealed partial class Candidate(long startTs, double step, double baseline, double baselineNoise, double reactiveFrom) : Load(startTs, step, reactiveFrom)
    {
        private double _baseline = baseline;
        private double _changeSum;
        private int _changeCount;
        private long _taperSince;
        private AfterEdge _reactiveAfterEnding = AfterEdge.None;

        private PooledTrend _power = new(); // the candidate's power regressed on time and supply, over clean samples
        private PooledTrend _settled = new(); // the same over every sample, with the motors' settling as a third regressor

        private double _fallMin = step;
        private double _reactiveDriftAtPeak;
        private double _trendTAtPeak;

        /// <summary>The highest smoothed level since the level last rose back (the start of a fall), and when.</summary>
        public double Peak { get; private set; } = step;

        public long PeakTs { get; private set; } = startTs;

        public double BaselineNoise { get; } = baselineNoise;

        public bool Confirmed { get; set; }

        /// <summary>
        /// Found as what stayed when a load that switched on with it switched off (the kettle boiled, the TV went off):
        /// its own step was never seen, so its trend is followed through more guesswork and it must show a rectifier's
        /// non-active power as well.
        /// </summary>
        public bool Paired { get; init; }

        /// <summary>The size of a load that switched on and off on this common-area circuit within the hour: a fitting, not a new load.</summary>
        public bool Recurring { get; init; }

        public double CurrentLevel { get; private set; } = step;

        /// <summary>When a switch-off matched to this candidate began (0 when none is being checked).</summary>
        public long EndingTs { get; private set; }

        /// <summary>The level smoothed over about two minutes, for decisions that a noisy circuit would otherwise sway.</summary>
        public double SmoothLevel { get; private set; } = step;

        /// <summary>Mean sample-to-sample change in the first undisturbed window after the step (evidence for the alert).</summary>
        public double NoiseAfter => _changeCount == 0 ? 0 : _changeSum / _changeCount;

        /// <summary>
        /// True once an undisturbed window after the step was long enough to say how noisy the load is: before that,
        /// <see cref="NoiseAfter"/> is 0 for want of a measurement, not for want of noise.
        /// </summary>
        public bool NoiseMeasured => _changeCount >= MinQuietSamples;

        public double Level(double circuitPower) => circuitPower - _baseline;

        /// <summary>When the level had fallen to half of <see cref="Peak"/> without rising back; 0 while it has not.</summary>
        public long HalvedTs { get; private set; }

        /// <summary>Fell to half its peak after holding its charge for a while: it may be a charger's taper.</summary>
        public bool Falling => HalvedTs > 0 && PeakTs - StartTs >= TaperMinChargeMs;

        /// <summary>
        /// A charger's constant-voltage taper: after at least <see cref="TaperMinChargeMs"/> at its charge, not falling
        /// (the trend's t value above <see cref="TaperChargeMinTrendT"/> at the peak: in constant current it rises), the level fell
        /// smoothly (no rise back of more than <see cref="TaperReriseShare"/> of the peak) over at least
        /// <see cref="TaperMinFallMs"/> to half its peak and is still there <see cref="TaperStayMs"/> later (a load that
        /// hunts up and down comes back within its period), and the circuit's non-active power fell between steps with
        /// it, by the share this load's step showed (within <see cref="TaperReactiveMatch"/>x): the same load tapering.
        /// </summary>
        public bool ShowsTaper(long ts, double level, double reactiveDrift)
        {
            if (!Falling || ts - HalvedTs < TaperStayMs || HalvedTs - PeakTs < TaperMinFallMs || level > TaperFall * Peak
                || _trendTAtPeak <= TaperChargeMinTrendT)
            {
                return false;
            }

            var reactivePerWatt = (_reactiveDriftAtPeak - reactiveDrift) / (Peak - level);
            return reactivePerWatt <= TaperReactiveMatch * ReactiveRatio && reactivePerWatt * TaperReactiveMatch >= ReactiveRatio;
        }

        public void Add(long ts, double circuitPower, double supply, double settling, double change, bool clean, double reactiveDrift)
        {
            var y = circuitPower - _baseline;
            CurrentLevel = y;
            SmoothLevel += (y - SmoothLevel) / 12;
            if (SmoothLevel > Peak || SmoothLevel > _fallMin + (TaperReriseShare * Peak))
            {
                (Peak, PeakTs, _fallMin, _reactiveDriftAtPeak, HalvedTs) = (SmoothLevel, ts, SmoothLevel, reactiveDrift, 0);
                _trendTAtPeak = _power.Fit().T;
            }
            else
            {
                _fallMin = Math.Min(_fallMin, SmoothLevel);
                HalvedTs = HalvedTs == 0 && SmoothLevel <= TaperFall * Peak ? ts : HalvedTs;
            }

            if (_changeCount < QuietWindow)
            {
                _changeSum += change;
                _changeCount++;
            }

            var hours = (ts - StartTs) / 3_600_000.0;
            _settled.Add(hours, supply, settling, y);
            if (!clean)
            {
                _power.Fold();
                return;
            }

            _power.Add(hours, supply, 0, y);
        }

        /// <summary>
        /// A motor switched off by <paramref name="settledBy"/> less than it switched on: the circuit fell by that much
        /// between steps as it settled, which was the motor's, not this load's. All of it if this load was watched
        /// before the motor started; if it started while the motor settled, the share that came after it.
        /// </summary>
        public void UndoMotorSettling(double settledBy, long motorStartTs) =>
            _baseline -= StartTs < motorStartTs ? settledBy : settledBy * Math.Exp(-(StartTs - motorStartTs) / (double)SettleTimeConstantMs);

        /// <summary>A switch-off matched this candidate: the circuit's non-active power after it is measured before it ends.</summary>
        public void BeginEnding(long ts, double reactiveFrom) => (EndingTs, _reactiveAfterEnding) = (ts, new AfterEdge(reactiveFrom));

        /// <summary>Adds a sample of the circuit's non-active power after the switch-off; the number so far.</summary>
        public int AddEndingReactive(double reactiveSquared) => _reactiveAfterEnding.Add(reactiveSquared);

        /// <summary>The switch-off's time and how much non-active power the circuit lost with it (NaN when unmeasured).</summary>
        public (long Ts, double ReactiveDrop) EndEnding()
        {
            var drop = -_reactiveAfterEnding.Change;
            var ts = EndingTs;
            EndingTs = 0;
            return (ts, drop);
        }

        public void ShiftBaseline(double step)
        {
            _baseline += step;

            if (_changeCount < MinQuietSamples)
            {
                _changeSum = 0; // too little seen before another appliance switched: measure the next window instead
                _changeCount = 0;
            }
            else if (_changeCount < QuietWindow)
            {
                _changeSum *= (double)QuietWindow / _changeCount; // enough seen: keep what there is
                _changeCount = QuietWindow;
            }

            Fold();
        }

        /// <summary>The trend over the clean samples (no motor young).</summary>
        public (double SlopePerHour, double T, double Scatter, int Samples, bool SettlingFitted) Trend() => _power.Fit();

        /// <summary>The trend over every sample, a young motor's settling taken out by the fit.</summary>
        public (double SlopePerHour, double T, double Scatter, int Samples, bool SettlingFitted) SettledTrend() => _settled.Fit();

        public void TrackTaper(long ts, bool low) => _taperSince = low ? (_taperSince == 0 ? ts : _taperSince) : 0;

        public long TaperedFor(long ts) => _taperSince == 0 ? 0 : ts - _taperSince;

        private void Fold()
        {
            _power.Fold();
            _settled.Fold();
        }
    }
}
