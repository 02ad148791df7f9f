namespace SmartPower.Detection;

/// <summary>
/// The stream's event time, robust to a device whose clock runs ahead: the median of the latest
/// timestamps of the devices heard in the last <see cref="Window"/> readings, never moving backwards.
/// One skewed device among many cannot drag it forward (and so cannot make the rest look offline);
/// a stream of one device simply follows that device. Recomputed at most once per second of event time.
/// </summary>
internal sealed class StreamClock
{
    public const int Window = 64;

    private readonly DeviceState[] _recent = new DeviceState[Window];
    private readonly long[] _scratch = new long[Window];
    private int _count;
    private int _next;
    private int _epoch;
    private long _maxSeen = long.MinValue;
    private long _computedAtMax = long.MinValue;

    /// <summary>Event time of the stream, or <see cref="long.MinValue"/> before the first reading.</summary>
    public long Now { get; private set; } = long.MinValue;

    /// <summary>Notes an accepted reading (already applied to <paramref name="device"/>); returns true if <see cref="Now"/> advanced.</summary>
    public bool Observe(DeviceState device)
    {
        _recent[_next] = device;
        _next = (_next + 1) % Window;
        _count = Math.Min(_count + 1, Window);
        _maxSeen = Math.Max(_maxSeen, device.LastTs);
        if (_maxSeen - _computedAtMax < 1000 && _count == Window)
        {
            return false;
        }

        _computedAtMax = _maxSeen;
        var median = Median();
        if (median <= Now)
        {
            return false;
        }

        Now = median;
        return true;
    }

    private long Median()
    {
        _epoch++;
        var n = 0;
        for (var i = 0; i < _count; i++)
        {
            var d = _recent[i];
            if (d.ClockMark != _epoch)
            {
                d.ClockMark = _epoch;
                _scratch[n++] = d.LastTs;
            }
        }

        var distinct = _scratch.AsSpan(0, n);
        distinct.Sort();
        return distinct[n / 2];
    }
}
