namespace SmartPower.Detection;

/// <summary>
/// A two-level threshold with hold times and hysteresis: the shape shared by overload, leakage,
/// overtemperature, port over-power and arc fault. A level counts only once its value has stayed at or
/// above it for the hold time <em>and</em> for at least the minimum number of consecutive readings,
/// so a one-sample inrush or transient never raises an alert.
/// </summary>
internal readonly record struct HoldRule(
    double WarningAt,
    double WarningHoldMs,
    double CriticalAt,
    double CriticalHoldMs,
    int CriticalMinReadings,
    double ClearBelow,
    double ClearHoldMs,
    bool Inclusive)
{
    /// <summary>The fewest consecutive readings a warning needs, and a critical level unless its rule says otherwise (arc faults alarm on one).</summary>
    public const int MinReadings = 2;

    public bool Reaches(double value, double threshold) => Inclusive ? value >= threshold : value > threshold;
}

/// <summary>What a <see cref="HoldWatch"/> concluded from a reading.</summary>
internal enum HoldLevel : byte
{
    None,
    Warning,
    Critical,
    Clear,
}

/// <summary>The per-device (or per-port) state of one <see cref="HoldRule"/>, in event time.</summary>
internal struct HoldWatch
{
    private long _warnSince;
    private long _critSince;
    private int _warnCount;
    private int _critCount;
    private long _clearSince;
    private bool _inEpisode;

    /// <summary>When the value first reached the warning level in the current episode.</summary>
    public long EpisodeStartMs { get; private set; }

    /// <summary>The highest value of the current episode.</summary>
    public double Peak { get; private set; }

    /// <summary>As new: no hold running, no episode remembered.</summary>
    public readonly bool IsIdle =>
        _warnSince == 0 && _critSince == 0 && _warnCount == 0 && _critCount == 0 && _clearSince == 0 && !_inEpisode
        && EpisodeStartMs == 0 && BitConverter.DoubleToInt64Bits(Peak) == 0;

    /// <summary>Forgets running holds (after a gap in the readings, continuity is not known).</summary>
    public void Interrupt()
    {
        _warnSince = _critSince = _clearSince = 0;
        _warnCount = _critCount = 0;
    }

    public HoldLevel Observe(double value, long ts, bool incidentOpen, in HoldRule rule)
    {
        var warn = rule.Reaches(value, rule.WarningAt);
        var crit = rule.Reaches(value, rule.CriticalAt);
        Track(warn, ts, ref _warnSince, ref _warnCount);
        Track(crit, ts, ref _critSince, ref _critCount);

        if (!incidentOpen && (warn || crit) && !_inEpisode)
        {
            _inEpisode = true;
            EpisodeStartMs = Math.Min(_warnSince == 0 ? ts : _warnSince, _critSince == 0 ? ts : _critSince);
            Peak = value;
        }

        if (warn || crit)
        {
            Peak = Math.Max(Peak, value);
        }

        if (crit && ts - _critSince >= rule.CriticalHoldMs && _critCount >= rule.CriticalMinReadings)
        {
            _clearSince = 0;
            return HoldLevel.Critical;
        }

        if (warn && ts - _warnSince >= rule.WarningHoldMs && _warnCount >= HoldRule.MinReadings)
        {
            _clearSince = 0;
            return HoldLevel.Warning;
        }

        if (!incidentOpen)
        {
            if (!warn && !crit)
            {
                _inEpisode = false;
            }

            return HoldLevel.None;
        }

        if (value < rule.ClearBelow)
        {
            if (_clearSince == 0)
            {
                _clearSince = ts;
            }

            if (ts - _clearSince >= rule.ClearHoldMs)
            {
                _clearSince = 0;
                _inEpisode = false; // EpisodeStartMs stays readable for the clearing evidence
                return HoldLevel.Clear;
            }
        }
        else
        {
            _clearSince = 0;
        }

        return HoldLevel.None;
    }

    /// <summary>Writes this watch (layout in <see cref="StateFormat"/>): a flags byte, then only the parts in use.</summary>
    public readonly void Save(ref StateWriter w)
    {
        var holds = _warnSince != 0 || _critSince != 0 || _warnCount != 0 || _critCount != 0 || _clearSince != 0;
        var episode = EpisodeStartMs != 0 || BitConverter.DoubleToInt64Bits(Peak) != 0;
        w.Byte((byte)((_inEpisode ? 1 : 0) | (holds ? 2 : 0) | (episode ? 4 : 0)));
        if (holds)
        {
            w.Time(_warnSince);
            w.Time(_critSince);
            w.VarUInt((uint)_warnCount);
            w.VarUInt((uint)_critCount);
            w.Time(_clearSince);
        }

        if (episode)
        {
            w.Time(EpisodeStartMs);
            w.Double(Peak);
        }
    }

    public static HoldWatch Read(ref StateReader r)
    {
        var flags = r.Flags(0b111, "a hold watch");
        var watch = new HoldWatch { _inEpisode = (flags & 1) != 0 };
        if ((flags & 2) != 0)
        {
            watch._warnSince = r.Time();
            watch._critSince = r.Time();
            watch._warnCount = r.Count(int.MaxValue, "a hold's reading count");
            watch._critCount = r.Count(int.MaxValue, "a hold's reading count");
            watch._clearSince = r.Time();
        }

        if ((flags & 4) != 0)
        {
            watch.EpisodeStartMs = r.Time();
            watch.Peak = r.Double();
        }

        return watch;
    }

    private static void Track(bool holds, long ts, ref long since, ref int count)
    {
        if (holds)
        {
            if (since == 0)
            {
                since = ts;
            }

            count++;
        }
        else
        {
            since = 0;
            count = 0;
        }
    }
}
