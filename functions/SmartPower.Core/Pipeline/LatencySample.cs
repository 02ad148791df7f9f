namespace SmartPower.Pipeline;

/// <summary>
/// The most recent latencies of one kind (the last 65,536), for percentiles in <c>/health</c> and the benchmark
/// harness; the same values go to an OpenTelemetry histogram. Thread-safe.
/// </summary>
public sealed class LatencySample
{
    private const int Capacity = 1 << 16;
    private readonly double[] _values = new double[Capacity];
    private readonly Lock _lock = new();
    private long _count;

    /// <summary>Latencies recorded since start (the sample keeps only the last 65,536).</summary>
    public long Count
    {
        get
        {
            lock (_lock)
            {
                return _count;
            }
        }
    }

    public void Record(double milliseconds)
    {
        lock (_lock)
        {
            _values[_count % Capacity] = milliseconds;
            _count++;
        }
    }

    /// <summary>The <paramref name="quantile"/> (0-1) of the kept values, nearest rank; null when there are none.</summary>
    public double? Percentile(double quantile)
    {
        double[] kept;
        lock (_lock)
        {
            kept = _values[..(int)Math.Min(_count, Capacity)];
        }

        if (kept.Length == 0)
        {
            return null;
        }

        Array.Sort(kept);
        return kept[Math.Clamp((int)Math.Ceiling(quantile * kept.Length) - 1, 0, kept.Length - 1)];
    }
}
