namespace SmartPower.DeviceSim.Physics;

/// <summary>What the alarm trackers see of one reading (as reported, after noise and rounding).</summary>
internal sealed class Reading
{
    public double CurrentA { get; set; }

    public double TempC { get; set; }

    public double LeakMa { get; set; }

    public bool Arc { get; set; }

    public double[] PortW { get; init; } = [];
}

/// <summary>
/// Labels an injected threshold hazard from the readings themselves: start = first reading in the
/// window that is over the alarm threshold, end = last such reading.
/// </summary>
internal sealed class ThresholdTracker(string type, int? port, Interval window, Func<Reading, bool> hit, string note)
{
    private long _first = -1;
    private long _last = -1;

    public string Type => type;

    public int? Port => port;

    public Interval Window => window;

    public string Note => note;

    public void Observe(double t, long tMs, Reading r)
    {
        if (window.Contains(t) && hit(r))
        {
            if (_first < 0)
            {
                _first = tMs;
            }

            _last = tMs;
        }
    }

    public (long First, long Last)? Result => _first < 0 ? null : (_first, _last);
}

/// <summary>
/// Safety net: a hazard that arises on its own (not injected) for at least <paramref name="minRun"/>
/// consecutive readings is still a real hazard, so it is labelled too (and reported by Describe).
/// </summary>
internal sealed class RunScanner(string type, int? port, Func<Reading, bool> hit, int minRun, List<Interval> exclude)
{
    private long _runStart = -1;
    private double _runStartT;
    private long _runLast;
    private double _runLastT;
    private int _len;

    public List<(string Type, int? Port, long Start, long End)> Found { get; } = [];

    public void Observe(double t, long tMs, Reading r)
    {
        if (hit(r))
        {
            if (_runStart < 0)
            {
                _runStart = tMs;
                _runStartT = t;
                _len = 0;
            }

            _len++;
            _runLast = tMs;
            _runLastT = t;
            return;
        }

        Close();
    }

    public void Close()
    {
        if (_runStart >= 0 && _len >= minRun)
        {
            var run = new Interval(_runStartT, _runLastT + 1);
            if (!exclude.Any(e => e.Overlaps(run)))
            {
                Found.Add((type, port, _runStart, _runLast));
            }
        }

        _runStart = -1;
        _len = 0;
    }
}

/// <summary>The alarm thresholds that date threshold hazards in ground truth (a reading over them is hazardous).</summary>
internal static class HazardThresholds
{
    /// <summary>Overload: current above the breaker rating (1.0x).</summary>
    public const double OverloadRatio = 1.0;

    public const double OverTemperatureC = 70;

    public const double LeakageWarningMa = 100;

    public const double LeakageCriticalMa = 300;
}
