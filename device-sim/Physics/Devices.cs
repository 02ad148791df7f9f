using System.Globalization;
using System.Text;
using SmartPower.DeviceSim.Contract;
using SmartPower.DeviceSim.Truth;

namespace SmartPower.DeviceSim.Physics;

/// <summary>The labels one device produced over its run: ground truth, look-alikes and generator remarks.</summary>
internal sealed class DeviceOutput
{
    public List<GroundTruthIncident> Incidents { get; } = [];

    public List<LookAlike> LookAlikes { get; } = [];

    public List<string> Diagnostics { get; } = [];
}

/// <summary>
/// Things every device has: timing, seq, terminal thermal model, leakage, faults and labels. A device steps
/// through time one reading at a time (<see cref="Tick"/>): the same steps serve a file written as fast as
/// possible and a live run paced by the wall clock.
/// </summary>
internal abstract class DeviceBase(DeviceSpec spec, Rng rng)
{
    private long _seq;

    public DeviceSpec Spec => spec;

    public string DeviceId => spec.DeviceId;

    public string SiteId => spec.SiteId;

    public Rng Rng => rng;

    public long IntervalMs => spec.ReportIntervalS * 1000L;

    public long PhaseMs { get; set; }

    public long SeqStart { get; set; }

    /// <summary>How far the device's clock runs ahead (positive) or behind: added to every <c>ts</c> it reports (a data fault).</summary>
    public long ClockSkewMs { get; set; }

    public double VoltOffset { get; set; }

    public double LineOhm { get; set; }

    public double AmbientC { get; set; }

    public double AmbientNightDropK { get; set; }

    public double SelfHeatK { get; set; }

    public double RthKPerW { get; set; }

    public double ContactOhm { get; set; }

    public double ThermalTauS { get; set; }

    public double LeakBaseMa { get; set; }

    public List<LeakageFault> Leaks { get; } = [];

    public List<LooseTerminal> Terminals { get; } = [];

    public List<Interval> Offline { get; } = [];

    public List<ThresholdTracker> Trackers { get; } = [];

    public List<RunScanner> Scanners { get; } = [];

    /// <summary>Injected windows per hazard type, excluded from the natural-hazard scanners.</summary>
    public Dictionary<string, List<Interval>> Injected { get; } = [];

    public List<GroundTruthIncident> FixedIncidents { get; } = [];

    public List<LookAlike> ExtraLookAlikes { get; } = [];

    /// <summary>Milliseconds since the start of the run at which the next reading is due.</summary>
    public long NextMs { get; private set; }

    protected SiteVoltage Site { get; private set; } = null!;

    protected NightClock Clock { get; private set; } = null!;

    protected DateTimeOffset Start { get; private set; }

    protected UplinkGaps Gaps { get; private set; } = null!;

    public List<Interval> InjectedFor(string type)
    {
        if (!Injected.TryGetValue(type, out var list))
        {
            list = [];
            Injected[type] = list;
        }

        return list;
    }

    /// <summary>Seconds since the start at which each planned hazard of this device begins (for progress counts).</summary>
    public IEnumerable<double> PlannedIncidentStarts() =>
        Trackers.Select(t => t.Window.A)
            .Concat(FixedIncidents.Select(i => (i.Start - Start).TotalSeconds))
            .Concat(Offline.Select(o => o.A));

    /// <summary>Readies the device to step: after planning, before the first <see cref="Tick"/>.</summary>
    public void Begin(SiteVoltage site, NightClock clock, DateTimeOffset start)
    {
        Site = site;
        Clock = clock;
        Start = start;
        Gaps = new UplinkGaps(Offline);
        NextMs = PhaseMs;
        _seq = SeqStart;
        OnBegin();
    }

    /// <summary>Simulates the reading due at <see cref="NextMs"/> and moves on; its payload, or null when the uplink lost it.</summary>
    public string? Tick()
    {
        var payload = Read(NextMs, _seq);
        NextMs += IntervalMs;
        _seq++;
        return payload;
    }

    /// <summary>The ground truth every device kind reports: natural hazards, injected ones, fixed incidents, uplink gaps, look-alikes.</summary>
    public DeviceOutput Finish()
    {
        var output = new DeviceOutput();
        foreach (var sc in Scanners)
        {
            sc.Close();
            foreach (var (type, port, s, e) in sc.Found)
            {
                // On the device's own clock, as its readings are stamped (a skewed clock's hazard was labelled minutes
                // away from the readings that show it, and a right alert scored as a miss and a false one; review).
                output.Incidents.Add(new GroundTruthIncident(type, DeviceId, port, Start.AddMilliseconds(s + ClockSkewMs), Start.AddMilliseconds(e + ClockSkewMs))
                { Note = "natural (not injected)" });
            }
        }

        foreach (var tr in Trackers)
        {
            if (tr.Result is { } r)
            {
                output.Incidents.Add(new GroundTruthIncident(tr.Type, DeviceId, tr.Port, Start.AddMilliseconds(r.First + ClockSkewMs), Start.AddMilliseconds(r.Last + ClockSkewMs))
                { Note = tr.Note });
            }
            else
            {
                output.Diagnostics.Add($"{tr.Type} on {DeviceId} was injected but never crossed its threshold ({tr.Note})");
            }
        }

        output.Incidents.AddRange(FixedIncidents);
        output.LookAlikes.AddRange(ExtraLookAlikes);
        Gaps.Report(output, DeviceId, Start, (long)(Clock.DurationS * 1000), IntervalMs);
        OnFinish(output);
        return output;
    }

    protected virtual void OnBegin()
    {
    }

    protected virtual void OnFinish(DeviceOutput output)
    {
    }

    /// <summary>The reading at <paramref name="tMs"/> with sequence number <paramref name="seq"/>: its JSON payload, or null if the uplink lost it.</summary>
    protected abstract string? Read(long tMs, long seq);

    protected double Ambient(double t) =>
        AmbientC - (AmbientNightDropK * Math.Clamp((Clock.H(t) - 22) / 6, 0, 1));

    /// <summary>Terminal temperature: first-order lag towards ambient + self-heating + Rth I^2 R_contact.</summary>
    protected double TerminalTemp(double previous, double t, double dt, double currentA)
    {
        var rc = ContactOhm;
        foreach (var lt in Terminals)
        {
            rc += lt.ExtraOhm(t, currentA, Ambient(t) + SelfHeatK, RthKPerW);
        }

        var tss = Ambient(t) + SelfHeatK + (RthKPerW * currentA * currentA * rc);
        return double.IsNaN(previous) ? tss : previous + ((tss - previous) * (1 - Math.Exp(-dt / ThermalTauS)));
    }

    /// <summary>Residual current: the circuit's base leakage wandering, the loads' filter leakage, noise, and any insulation fault.</summary>
    protected double Leakage(Ar1 wander, double loadLeakMa, double t, double v)
    {
        var lk = (LeakBaseMa * (1 + (0.15 * wander.Next()))) + loadLeakMa + (0.2 * Rng.Normal());
        foreach (var f in Leaks)
        {
            lk += f.Ma(t, v);
        }

        return Math.Max(0.1, lk);
    }

    /// <summary>Lets the hazard trackers and scanners see a reading as reported.</summary>
    protected void Observe(double t, long tMs, Reading reading)
    {
        foreach (var tr in Trackers)
        {
            tr.Observe(t, tMs, reading);
        }

        foreach (var sc in Scanners)
        {
            sc.Observe(t, tMs, reading);
        }
    }

    /// <summary>Starts a payload: its ts (device clock) and seq.</summary>
    protected void BeginPayload(StringBuilder sb, long tMs, long seq)
    {
        sb.Clear();
        sb.Append("{\"ts\":\"").Append(Format.Ts(Start.AddMilliseconds(tMs + ClockSkewMs)))
            .Append("\",\"seq\":").Append(seq.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// The device's planned uplink losses: which reading times fall silent, and the ground truth of each gap, from
    /// the last reading before it to the first after it.
    /// </summary>
    protected sealed class UplinkGaps(List<Interval> gaps)
    {
        private readonly long[] _last = Unknown(gaps.Count);
        private readonly long[] _next = Unknown(gaps.Count);

        /// <summary>True if the reading at <paramref name="t"/> is lost; notes the readings around each gap.</summary>
        public bool Silences(double t, long tMs)
        {
            var silent = false;
            for (var i = 0; i < gaps.Count; i++)
            {
                if (gaps[i].Contains(t))
                {
                    silent = true;
                }
                else if (t < gaps[i].A)
                {
                    _last[i] = tMs;
                }
                else if (_next[i] < 0)
                {
                    _next[i] = tMs;
                }
            }

            return silent;
        }

        /// <summary>
        /// Lists each gap as an offline incident from the last reading before it to the first after it; a gap still open
        /// when the run ends lasts to the end, if the rest of the fleet went on long enough after it for the silence to
        /// be seen (the contract's max(3 x reportIntervalS, 60 s), and one more interval).
        /// </summary>
        public void Report(DeviceOutput output, string deviceId, DateTimeOffset start, long durationMs, long intervalMs)
        {
            var noticeMs = Math.Max(3 * intervalMs, 60_000) + intervalMs;
            for (var i = 0; i < gaps.Count; i++)
            {
                var end = _next[i] >= 0 ? _next[i] : durationMs;
                if (_last[i] >= 0 && (_next[i] >= 0 || _last[i] + noticeMs <= durationMs))
                {
                    output.Incidents.Add(new GroundTruthIncident("offline", deviceId, null,
                        start.AddMilliseconds(_last[i]), start.AddMilliseconds(end))
                    { Note = _next[i] >= 0 ? $"uplink lost for {(end - _last[i]) / 60000.0:F0} min" : "uplink lost until the end of the run" });
                }
            }
        }

        private static long[] Unknown(int count)
        {
            var values = new long[count];
            Array.Fill(values, -1);
            return values;
        }
    }
}
