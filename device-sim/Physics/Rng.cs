namespace SmartPower.DeviceSim.Physics;

/// <summary>
/// xoshiro256** seeded through SplitMix64. Every device and appliance draws from its own named stream
/// (<see cref="For"/>), so adding an incident or an appliance to one dwelling never shifts the random
/// numbers of another, and the same seed always yields the same night. Never reads the clock.
/// </summary>
internal sealed class Rng
{
    private ulong _s0;
    private ulong _s1;
    private ulong _s2;
    private ulong _s3;
    private double _spare;
    private bool _hasSpare;

    public Rng(ulong seed)
    {
        var x = seed;
        _s0 = SplitMix(ref x);
        _s1 = SplitMix(ref x);
        _s2 = SplitMix(ref x);
        _s3 = SplitMix(ref x);
    }

    /// <summary>An independent stream named by <paramref name="stream"/> under <paramref name="seed"/>.</summary>
    public static Rng For(int seed, string stream) => new(((ulong)(uint)seed * 0x9E3779B97F4A7C15UL) ^ Fnv1a(stream));

    public ulong NextULong()
    {
        var result = RotL(_s1 * 5, 7) * 9;
        var t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = RotL(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (NextULong() >> 11) * (1.0 / (1UL << 53));

    public double Uniform(double min, double max) => min + ((max - min) * NextDouble());

    /// <summary>Uniform integer in [min, maxExclusive).</summary>
    public int Int(int min, int maxExclusive) =>
        maxExclusive <= min ? min : min + (int)(NextDouble() * (maxExclusive - min));

    public bool Chance(double p) => NextDouble() < p;

    /// <summary>Standard normal (Box-Muller, both values used).</summary>
    public double Normal()
    {
        if (_hasSpare)
        {
            _hasSpare = false;
            return _spare;
        }

        double u;
        do
        {
            u = NextDouble();
        }
        while (u <= double.Epsilon);
        var v = NextDouble();
        var r = Math.Sqrt(-2.0 * Math.Log(u));
        _spare = r * Math.Sin(2 * Math.PI * v);
        _hasSpare = true;
        return r * Math.Cos(2 * Math.PI * v);
    }

    public double Normal(double mean, double sd) => mean + (sd * Normal());

    public double NormalClamped(double mean, double sd, double min, double max) =>
        Math.Clamp(Normal(mean, sd), min, max);

    public double Exponential(double mean) => -mean * Math.Log(1.0 - NextDouble());

    public T Pick<T>(IReadOnlyList<T> items) => items[Int(0, items.Count)];

    /// <summary>Picks index i with probability weights[i] / sum(weights).</summary>
    public int Weighted(params double[] weights)
    {
        var total = 0.0;
        foreach (var w in weights)
        {
            total += w;
        }

        var x = NextDouble() * total;
        for (var i = 0; i < weights.Length; i++)
        {
            x -= weights[i];
            if (x < 0)
            {
                return i;
            }
        }

        return weights.Length - 1;
    }

    public void Shuffle<T>(IList<T> list)
    {
        for (var i = list.Count - 1; i > 0; i--)
        {
            var j = Int(0, i + 1);
            (list[i], list[j]) = (list[j], list[i]);
        }
    }

    private static ulong RotL(ulong x, int k) => (x << k) | (x >> (64 - k));

    private static ulong SplitMix(ref ulong x)
    {
        var z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static ulong Fnv1a(string s)
    {
        var h = 14695981039346656037UL;
        foreach (var c in s)
        {
            h ^= c;
            h *= 1099511628211UL;
        }

        return h;
    }
}

/// <summary>First-order autoregressive noise with unit stationary variance: x' = a x + sqrt(1 - a^2) N.</summary>
internal sealed class Ar1(Rng rng, double a)
{
    private readonly double _b = Math.Sqrt(1 - (a * a));
    private double _x = rng.Normal();

    public double Next()
    {
        _x = (a * _x) + (_b * rng.Normal());
        return _x;
    }
}

/// <summary>A half-open time interval in seconds since the start of the night.</summary>
internal readonly record struct Interval(double A, double B)
{
    public bool Contains(double t) => t >= A && t < B;

    public bool Overlaps(Interval other) => A < other.B && other.A < B;

    public double Length => B - A;
}

/// <summary>A piecewise-constant signal read forward in time (samples arrive in increasing order).</summary>
internal sealed class StepSeries
{
    private readonly double[] _times;
    private readonly double[] _values;
    private readonly double _initial;
    private int _i = -1;

    public StepSeries(IEnumerable<(double T, double Value)> changes, double initial = 0)
    {
        var sorted = changes.OrderBy(c => c.T).ToArray();
        _times = sorted.Select(c => c.T).ToArray();
        _values = sorted.Select(c => c.Value).ToArray();
        _initial = initial;
    }

    public double At(double t)
    {
        while (_i + 1 < _times.Length && _times[_i + 1] <= t)
        {
            _i++;
        }

        return _i < 0 ? _initial : _values[_i];
    }

    /// <summary>Builds a series from possibly overlapping on-intervals, each adding its value while on.</summary>
    public static StepSeries FromIntervals(IEnumerable<(Interval When, double Value)> runs)
    {
        var edges = new List<(double T, double Delta)>();
        foreach (var (when, value) in runs)
        {
            edges.Add((when.A, value));
            edges.Add((when.B, -value));
        }

        edges.Sort((x, y) => x.T.CompareTo(y.T));
        var changes = new List<(double, double)>();
        var level = 0.0;
        foreach (var (t, delta) in edges)
        {
            level += delta;
            if (Math.Abs(level) < 1e-9)
            {
                level = 0;
            }

            changes.Add((t, level));
        }

        return new StepSeries(changes);
    }
}

/// <summary>
/// Local time of a site, as a fixed offset from UTC over the run (Asia/Shanghai, the default, has been UTC+8
/// without daylight saving since 1991, so there it is exact). Schedules are written in "hours after local noon
/// of the evening the night starts": 18.0 is 18:00 that evening, 25.5 is 01:30 the next morning.
/// </summary>
internal sealed class NightClock
{
    private readonly double _noonS;

    public NightClock(DateTimeOffset start, TimeSpan duration, double utcOffsetHours = 8.0)
    {
        var local = start.UtcDateTime.AddHours(utcOffsetHours);
        var hour = local.TimeOfDay.TotalHours;
        var hoursAfterNoon = hour >= 12 ? hour : hour + 24;
        _noonS = -(hoursAfterNoon - 12) * 3600.0;
        StartHour = hoursAfterNoon;
        DurationS = duration.TotalSeconds;
    }

    /// <summary>A clock for the site's IANA time zone (its offset at <paramref name="start"/>), UTC+8 when it has none.</summary>
    public static NightClock For(string? timeZone, DateTimeOffset start, TimeSpan duration) =>
        new(start, duration, timeZone is null ? 8.0 : TimeZoneInfo.FindSystemTimeZoneById(timeZone).GetUtcOffset(start).TotalHours);

    /// <summary>Local hour (after-noon scale) at the start of the night, 18 by default.</summary>
    public double StartHour { get; }

    public double DurationS { get; }

    /// <summary>Seconds since the start of the night at local hour <paramref name="hoursAfterNoon"/> (may be negative or past the end).</summary>
    public double S(double hoursAfterNoon) => _noonS + ((hoursAfterNoon - 12) * 3600.0);

    /// <summary>Local hour on the after-noon scale at <paramref name="t"/> seconds since the start.</summary>
    public double H(double t) => StartHour + (t / 3600.0);

    public double Clamp(double t) => Math.Clamp(t, 0, DurationS);
}
