namespace SmartPower.Registry;

/// <summary>
/// Every detection threshold, with its documented default. A site's registry entry may carry an optional
/// <c>"thresholds"</c> object overriding any of these (camelCase names), and a device's entry may override
/// its site's. Durations are in seconds of event time.
/// </summary>
public sealed record DetectionThresholds
{
    public static DetectionThresholds Default { get; } = new();

    // overload (meters): current against the breaker rating (ratedCurrentA)

    /// <summary>Warning when current exceeds this multiple of the rating...</summary>
    public double OverloadWarningFactor { get; init; } = 1.0;

    /// <summary>...held this long.</summary>
    public double OverloadWarningHoldS { get; init; } = 120;

    /// <summary>Critical above this multiple: IEC 60898 breakers must trip within the hour at 1.45 x In.</summary>
    public double OverloadCriticalFactor { get; init; } = 1.45;

    public double OverloadCriticalHoldS { get; init; } = 60;

    /// <summary>Clears once current stays below this multiple of the rating...</summary>
    public double OverloadClearFactor { get; init; } = 0.9;

    /// <summary>...for this long.</summary>
    public double OverloadClearHoldS { get; init; } = 120;

    // leakage: residual current. GB 14287.2 detectors alarm between 20 and 1000 mA; 300 mA is the usual fire setting.

    public double LeakageCriticalMa { get; init; } = 300;

    /// <summary>Consecutive readings at or above <see cref="LeakageCriticalMa"/> for critical.</summary>
    public int LeakageCriticalReadings { get; init; } = 2;

    public double LeakageWarningMa { get; init; } = 100;

    public double LeakageWarningHoldS { get; init; } = 300;

    public double LeakageClearMa { get; init; } = 80;

    public double LeakageClearHoldS { get; init; } = 60;

    // overtemperature: terminal temperature. GB 14287.3 alarm settings lie between 55 and 140 C.

    public double TemperatureWarningC { get; init; } = 70;

    public double TemperatureWarningHoldS { get; init; } = 30;

    public double TemperatureCriticalC { get; init; } = 85;

    public double TemperatureCriticalHoldS { get; init; } = 30;

    public double TemperatureClearC { get; init; } = 65;

    public double TemperatureClearHoldS { get; init; } = 60;

    // port-overpower (piles): port power against the site's per-port policy (portMaxW)

    public double PortOverpowerHoldS { get; init; } = 30;

    public double PortClearFactor { get; init; } = 0.9;

    public double PortClearHoldS { get; init; } = 30;

    // arc-fault

    /// <summary>An arc-fault incident clears after this long without an arcing reading.</summary>
    public double ArcClearAfterS { get; init; } = 300;

    // offline: silence of max(OfflineIntervals x reportIntervalS, OfflineMinS) while the stream moves on

    public double OfflineIntervals { get; init; } = 3;

    public double OfflineMinS { get; init; } = 60;

    // illegal-charging (meters on dwelling and common-area circuits): see ChargingSignature for how it decides.

    /// <summary>Smallest switch-on step taken as a possible e-bike charger (36 V packs draw about 80 W).</summary>
    public double ChargerMinStepW { get; init; } = 80;

    /// <summary>Largest switch-on step taken as a possible e-bike charger (72 V, 5 A packs draw about 450 W).</summary>
    public double ChargerMaxStepW { get; init; } = 450;

    /// <summary>A step-on must hold at least this long before a rising trend can call it a charger.</summary>
    public double ChargerMinHoldS { get; init; } = 600;

    /// <summary>Least rise of the new load's power, in percent of it per hour (constant-current phase).</summary>
    public double ChargerMinRisePctPerHour { get; init; } = 1.0;

    /// <summary>Most rise, in percent per hour: faster is a modulating load (an inverter air-conditioner), not a battery.</summary>
    public double ChargerMaxRisePctPerHour { get; init; } = 20;

    /// <summary>
    /// Most rise in all, in percent of the load: the rise per hour times the time held. A charge's constant-current phase
    /// raises its input power by about a fifth at most (the battery from 3.45 to 4.2 V a cell for lithium, 2.02 to 2.45 V
    /// for lead-acid); a fitted rise that adds up to more than this (a fifth and a margin for the fit's error: the level and
    /// slope of a charger tracked under other loads are uncertain by several percent) is other appliances' drift.
    /// </summary>
    public double ChargerMaxTotalRisePct { get; init; } = 30;

    /// <summary>Least statistical confidence (t value of the rising trend) before calling a charger.</summary>
    public double ChargerMinTrendT { get; init; } = 5.0;

    /// <summary>Least total rise, in watts, that the trend must amount to (background loads wander by about this much).</summary>
    public double ChargerMinRiseW { get; init; } = 3;

    /// <summary>
    /// A charger's power follows a smooth slow curve: for the trend to count, the scatter about it may be at most this
    /// many watts plus <see cref="ChargerMaxScatterPct"/> percent of the step.
    /// </summary>
    public double ChargerMaxScatterW { get; init; } = 2;

    public double ChargerMaxScatterPct { get; init; } = 2;

    /// <summary>A load that has not shown a charger's signature by then is taken for something else.</summary>
    public double ChargerDecideWithinS { get; init; } = 3 * 3600;

    /// <summary>
    /// A load found only as what stayed when another that switched on with it switched off (its own step never seen)
    /// must also show at least this much non-active power per watt (see <see cref="ChargerQuickMinReactiveRatio"/>).
    /// </summary>
    public double ChargerPairedMinReactiveRatio { get; init; } = 0.25;

    // The quick call: a charger recognised from its switch-on and first minutes, before its rise is measurable.

    /// <summary>A step-on can be called a charger without the rising trend only this soon after it.</summary>
    public double ChargerQuickWithinS { get; init; } = 1200;

    /// <summary>
    /// Smallest step the quick call takes: without the rise to go on, it leaves the smallest packs to the trend and
    /// keeps clear of the small steady loads (a group of LED fittings, a set-top box, a router) below this.
    /// </summary>
    public double ChargerQuickMinStepW { get; init; } = 100;

    /// <summary>
    /// Least non-active power of the step per watt of its real power (tan phi): a charger without power-factor
    /// correction draws much of it (power factor 0.6-0.9, a ratio of 0.5-1.3); TVs and PCs over 75 W must correct
    /// theirs (power factor 0.95 and up, 0.33 and less); kettles, heaters, cookers and blankets are resistive (0).
    /// </summary>
    public double ChargerQuickMinReactiveRatio { get; init; } = 0.35;

    /// <summary>Most sample-to-sample change after the step, in percent of the step: a charger adds little noise of its own.</summary>
    public double ChargerQuickMaxNoisePct { get; init; } = 1.2;

    /// <summary>The load must hold within this many percent of its step (no fading like a blanket, no swing).</summary>
    public double ChargerQuickLevelPct { get; init; } = 6;

    /// <summary>Most scatter about the load's trend, in percent of its step.</summary>
    public double ChargerQuickMaxScatterPct { get; init; } = 1.5;

    /// <summary>The trend must not be falling: its t value above this.</summary>
    public double ChargerQuickMinTrendT { get; init; } = -1;

    // The hold call: a big rectifier load recognised from an hour of holding its charge, when neither the quick call nor
    // the rise could be seen on a busy circuit.

    /// <summary>How long a load must have held its step before the hold call may name it (an hour outlasts a cooking session and most fridge runs).</summary>
    public double ChargerHoldMinS { get; init; } = 3600;

    /// <summary>
    /// Smallest step the hold call takes. Household loads of this size that hold for an hour must correct their power
    /// factor (TVs and PCs over 75 W, IEC 61000-3-2) or are resistive (heaters, water heaters, blankets, cookers); the
    /// small rectifier loads that hold (laptop adapters, LED lighting, a TV measured beside a cycling fridge) stay below it.
    /// </summary>
    public double ChargerHoldMinStepW { get; init; } = 180;

    /// <summary>
    /// Least non-active power of the step per watt for the hold call: a charger without power-factor correction (a power
    /// factor of 0.85 or less, 0.62 and more), clear of LED lighting's 0.9 (0.48) and a TV's or PC's 0.95 (0.33).
    /// </summary>
    public double ChargerHoldMinReactiveRatio { get; init; } = 0.55;

    /// <summary>The load must be within this many percent of its step when the hold call speaks (a charge rises by a fifth at most in constant current).</summary>
    public double ChargerHoldLevelPct { get; init; } = 30;

    // The taper: a charger recognised late, from the end of its charge, when its rise never showed.

    /// <summary>
    /// A load with at least this much non-active power per watt at its step (a rectifier without power-factor
    /// correction, clear of a TV's or PC's 0.33) that did not show the rise is watched on for its constant-voltage taper.
    /// </summary>
    public double ChargerTaperMinReactiveRatio { get; init; } = 0.4;

    /// <summary>How long after its step such a load is watched for its taper (a charge runs 2-7 hours).</summary>
    public double ChargerTaperWithinS { get; init; } = 8 * 3600;

    // The reactive hold (ReactiveHold): a charger found as a step of the circuit's non-active power Q that holds. The
    // defaults are the research prototype's, with its 12-minute variant (stop 21), scored as they are on nights neither
    // was tuned on.

    /// <summary>
    /// How long a step of non-active power must hold, with no matching fall, before <c>ReactiveHold</c> calls it a charger:
    /// the call comes about 4.5 minutes after this (the steps around the hold's end must be known). 12 minutes, with the
    /// step at least <see cref="ReactiveMinStepW"/> and <see cref="ReactiveMinRatio"/>, called as many chargers as 40 on
    /// nights never traced, 28 minutes sooner, for about one false alert in 40 more (docs/illegal-charging.md). At most
    /// 3600: the rule keeps 80 minutes of 1-minute values for the hold's carry and floor checks.
    /// </summary>
    public double ReactiveHoldS { get; init; } = 720;

    /// <summary>Smallest step of non-active power, in var, that can be a charger (the smallest packs' rectifiers draw about 40).</summary>
    public double ReactiveMinStepVar { get; init; } = 25;

    /// <summary>Smallest real-power step that goes with it, in watts (a 36 V pack on a small charger draws 80-100; under 100 W the short hold met more lighting and small electronics than chargers).</summary>
    public double ReactiveMinStepW { get; init; } = 100;

    /// <summary>Largest real-power step, in watts (a 72 V pack on a 5 A charger with a margin).</summary>
    public double ReactiveMaxStepW { get; init; } = 520;

    /// <summary>
    /// Least non-active power per watt of the step (tan phi) at or above <see cref="ReactiveSmallStepW"/>: a charger of
    /// 200 W and more has a power factor of 0.95 or less (0.33), but a TV's is 0.33 too; 0.37 (a power factor of 0.94)
    /// leaves that band to the signature.
    /// </summary>
    public double ReactiveMinRatio { get; init; } = 0.37;

    /// <summary>Below this real-power step the stricter <see cref="ReactiveSmallMinRatio"/> applies.</summary>
    public double ReactiveSmallStepW { get; init; } = 200;

    /// <summary>Least ratio below <see cref="ReactiveSmallStepW"/>: small chargers have a power factor of 0.85 or less, clear of LED drivers and small PCs.</summary>
    public double ReactiveSmallMinRatio { get; init; } = 0.55;

    /// <summary>Most ratio: above it is a laptop adapter's (1.52) or a motor's.</summary>
    public double ReactiveMaxRatio { get; init; } = 1.40;

    /// <summary>
    /// Most reading-to-reading scatter of the candidate's own real power, as a share of its step, over its third to twelfth
    /// minute: a charger ripples by about 0.5%, a TV, PC or laptop switched on moves by 3-15% (it stays 0.04-0.09 for a
    /// charger plugged in with a TV switched on in the same instant, so no lower).
    /// </summary>
    public double ReactiveMaxPowerJitter { get; init; } = 0.04;

    /// <summary>
    /// The meter's own reading-to-reading noise as a share of the power it reads (0.3%), taken off the scatter that
    /// <see cref="ReactiveMaxPowerJitter"/> bounds; a meter class with noisier readings sets its own.
    /// </summary>
    public double ReactiveMeterNoise { get; init; } = 0.003;

    // The night floor (NightFloor, with the reactive hold): a charger left on after midnight in a dwelling, found as the
    // rise of the circuit's floor of non-active power over the evening's lowest, at a charger's ratio to the rise of real
    // power (ReactiveMinRatio..ReactiveMaxRatio: not a TV left on, at 0.33). Only for sites with a timeZone. The defaults
    // are a research prototype's, frozen before it was scored on nights it was never tuned on (stop 21).

    /// <summary>Smallest rise of the floor of non-active power (10th percentile over 30 minutes), in var, over the evening's lowest.</summary>
    public double NightFloorMinVar { get; init; } = 40;

    /// <summary>How long the rise must hold, in seconds, every minute of it in the night's hours, before it is called.</summary>
    public double NightFloorHoldS { get; init; } = 3600;

    /// <summary>The local hour (site time) from which the night's minutes count: after bedtime, when busy loads are off.</summary>
    public double NightFloorFromHour { get; init; } = 0;

    /// <summary>The local hour at which they stop counting (before breakfast).</summary>
    public double NightFloorUntilHour { get; init; } = 6;
}
