namespace SmartPower.Detection;

/// <summary>Saving and restoring the detector's whole state (layout in <see cref="StateFormat"/>).</summary>
internal sealed partial class ChargingSignature
{
    public void Save(ref StateWriter w)
    {
        w.Byte((byte)_samples);
        w.Time(_lastTs);
        w.Doubles(_p1, _p2, _level, _q1, _q2);
        w.VarUInt((uint)_edgeLength);
        if (_edgeLength > 0)
        {
            // Between edges these four are dead: the next edge sets them all before any is read.
            w.Doubles(_edgeSum, _edgeFrom, _edgePeakRaw, _edgeReactiveFrom);
            w.Time(_edgeStartTs);
        }

        w.Doubles(_noise, _reactiveSquared);
        w.Time(ConfirmedStartTs);
        w.Time(_lastOpenTs);
        if (_loads is null)
        {
            w.Byte(0);
            return;
        }

        ulong occupied = 0;
        for (var i = 0; i < _loads.Length; i++)
        {
            occupied |= _loads[i] is null ? 0 : 1UL << i;
        }

        w.Byte(MaxLoads);
        w.VarUInt(occupied);
        _memory!.Save(ref w);
        foreach (var load in _loads)
        {
            load?.Save(ref w);
        }
    }

    /// <summary>Reads what <see cref="Save"/> wrote into this fresh detector.</summary>
    public void Read(ref StateReader r)
    {
        _samples = r.Count(2, "the charging detector's sample count");
        _lastTs = r.Time();
        (_p1, _p2, _level, _q1, _q2) = (r.Double(), r.Double(), r.Double(), r.Double(), r.Double());
        _edgeLength = r.Count(int.MaxValue, "the charging detector's edge length");
        if (_edgeLength > 0)
        {
            (_edgeSum, _edgeFrom, _edgePeakRaw, _edgeReactiveFrom) = (r.Double(), r.Double(), r.Double(), r.Double());
            _edgeStartTs = r.Time();
        }

        (_noise, _reactiveSquared) = (r.Double(), r.Double());
        ConfirmedStartTs = r.Time();
        _lastOpenTs = r.Time();
        var slots = r.Byte();
        if (slots == 0)
        {
            return;
        }

        if (slots != MaxLoads)
        {
            throw new StateFormatException($"the charging detector has {slots} load slots, not {MaxLoads}");
        }

        var occupied = r.VarUInt();
        if (occupied >> MaxLoads != 0)
        {
            throw new StateFormatException($"the charging detector's load slots 0x{occupied:x} exceed its {MaxLoads}");
        }

        _loads = new Load?[MaxLoads];
        _memory = CircuitMemory.Read(ref r);
        for (var i = 0; i < MaxLoads; i++)
        {
            _loads[i] = (occupied & (1UL << i)) == 0 ? null : Load.Read(ref r);
        }
    }

    private partial class Load
    {
        protected const byte Plain = 0, MotorLoad = 1, Watched = 2, ConfirmedCharger = 3;

        protected virtual byte Kind => Motor ? MotorLoad : Plain;

        public void Save(ref StateWriter w)
        {
            w.Byte(Kind);
            w.Time(StartTs);
            w.Doubles(Step, OnVoltage, _reactiveRatio, _reactiveAfterStep.From);
            if (_reactiveAfterStep.Measuring)
            {
                // Still measuring the step's non-active power.
                w.Double(_reactiveAfterStep.Sum);
                w.VarUInt((uint)_reactiveAfterStep.Count);
            }

            SaveOwn(ref w);
        }

        /// <summary>What a kind of load has beyond its start and step.</summary>
        protected virtual void SaveOwn(ref StateWriter w)
        {
        }

        public static Load Read(ref StateReader r)
        {
            var kind = r.Byte();
            var startTs = r.Time();
            var step = r.Double();
            var onVoltage = r.Double();
            var ratio = r.Double();
            var from = r.Double();
            var (sum, count) = double.IsNaN(from) ? (0, 0) : (r.Double(), r.Count(ReactiveSamples - 1, "a load's non-active power samples"));
            var load = kind switch
            {
                Plain or MotorLoad => new Load(startTs, step, from, kind == MotorLoad) { OnVoltage = onVoltage },
                Watched or ConfirmedCharger => Candidate.Read(ref r, startTs, step, from, kind == ConfirmedCharger),
                _ => throw new StateFormatException($"a load's kind is {kind}"),
            };
            (load._reactiveRatio, load._reactiveAfterStep) = (ratio, AfterEdge.Restored(from, sum, count));
            return load;
        }
    }

    private sealed partial class Candidate
    {
        protected override byte Kind => Confirmed ? ConfirmedCharger : Watched;

        protected override void SaveOwn(ref StateWriter w)
        {
            w.Byte((byte)((Paired ? 1 : 0) | (Recurring ? 2 : 0)));
            w.Doubles(_baseline, BaselineNoise, CurrentLevel, SmoothLevel, _changeSum, Peak, _fallMin, _reactiveDriftAtPeak, _trendTAtPeak);
            w.Time(PeakTs);
            w.Time(HalvedTs);
            w.VarUInt((uint)_changeCount);
            w.Time(_taperSince);
            w.Time(EndingTs);
            if (EndingTs != 0)
            {
                // A matched switch-off whose non-active power is still being measured.
                w.Doubles(_reactiveAfterEnding.From, _reactiveAfterEnding.Sum);
                w.VarUInt((uint)_reactiveAfterEnding.Count);
            }

            _power.Save(ref w);
            _settled.Save(ref w);
        }

        public static Candidate Read(ref StateReader r, long startTs, double step, double reactiveFrom, bool confirmed)
        {
            var flags = r.Byte();
            if (flags > 3)
            {
                throw new StateFormatException($"a candidate's flags are {flags}");
            }

            var c = new Candidate(startTs, step, r.Double(), baselineNoise: r.Double(), reactiveFrom)
            {
                Paired = (flags & 1) != 0,
                Recurring = (flags & 2) != 0,
                Confirmed = confirmed,
                CurrentLevel = r.Double(),
                SmoothLevel = r.Double(),
                _changeSum = r.Double(),
                Peak = r.Double(),
                _fallMin = r.Double(),
                _reactiveDriftAtPeak = r.Double(),
                _trendTAtPeak = r.Double(),
                PeakTs = r.Time(),
                HalvedTs = r.Time(),
                _changeCount = r.Count(QuietWindow, "a candidate's noise window"),
                _taperSince = r.Time(),
                EndingTs = r.Time(),
            };
            if (c.EndingTs != 0)
            {
                var (from, sum) = (r.Double(), r.Double());
                c._reactiveAfterEnding = AfterEdge.Restored(from, sum, r.Count(ReactiveSamples - 1, "a switch-off's non-active power samples"));
            }

            c._power = PooledTrend.Read(ref r);
            c._settled = PooledTrend.Read(ref r);
            return c;
        }
    }

    private sealed partial class CircuitMemory
    {
        public void Save(ref StateWriter w)
        {
            w.Doubles(ReactiveDrift, _lastQuietReactive, _voltage, EdgeVoltageFrom, _switchedOffW);
            w.Time(_switchedOffTs);
        }

        public static CircuitMemory Read(ref StateReader r) => new()
        {
            ReactiveDrift = r.Double(),
            _lastQuietReactive = r.Double(),
            _voltage = r.Double(),
            EdgeVoltageFrom = r.Double(),
            _switchedOffW = r.Double(),
            _switchedOffTs = r.Time(),
        };
    }
}
