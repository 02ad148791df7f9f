using SmartPower.Contract;
using SmartPower.Registry;

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
        var young = !HasQuorum();
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
        if (young && median < Now)
        {
            // Young (fewer than a quorum of devices before this reading): their clocks judge nobody's, so the time may go
            // back, for a clock heard first far ahead must not hold it there once others are heard; nor may it hold
            // back the once-a-second recompute, which follows the latest timestamp seen.
            Now = _maxSeen = _computedAtMax = median;
            return false;
        }

        if (median <= Now)
        {
            return false;
        }

        Now = median;
        return true;
    }

    /// <summary>
    /// Writes the clock (layout in <see cref="StateFormat"/>). The ring refers to devices by id, each listed once with
    /// its last timestamp, so that the clock can be restored on its own, before or without its devices' records.
    /// </summary>
    public void Save(ref StateWriter w)
    {
        w.VarInt(Now);
        w.VarInt(unchecked(_maxSeen - Now));
        w.VarInt(unchecked(_computedAtMax - Now));
        Span<int> firstOf = stackalloc int[Window];
        Span<byte> slots = stackalloc byte[Window];
        var distinct = 0;
        for (var i = 0; i < _count; i++)
        {
            var j = 0;
            while (j < distinct && _recent[firstOf[j]] != _recent[i])
            {
                j++;
            }

            if (j == distinct)
            {
                firstOf[distinct++] = i;
            }

            slots[i] = (byte)j;
        }

        w.VarUInt((uint)distinct);
        foreach (var i in firstOf[..distinct])
        {
            w.Ascii(_recent[i].Device.DeviceId);
            w.VarInt(unchecked(_recent[i].LastTs - Now));
        }

        w.VarUInt((uint)_count);
        w.VarUInt((uint)_next);
        foreach (var slot in slots[.._count])
        {
            w.Byte(slot);
        }
    }

    /// <summary>Reads what <see cref="Save"/> wrote, resolving ids in <paramref name="registry"/>; nothing changes until <see cref="Restore"/>.</summary>
    public static Saved Read(ref StateReader r, DeviceRegistry registry)
    {
        var now = r.VarInt();
        var maxSeen = unchecked(now + r.VarInt());
        var computedAtMax = unchecked(now + r.VarInt());
        var distinct = r.Count(Window, "the clock's device count");
        var devices = new Device?[distinct];
        var lastTs = new long[distinct];
        for (var j = 0; j < distinct; j++)
        {
            var id = r.AsciiBytes(Ids.MaxLength, "a device id");
            devices[j] = !Ids.IsValid(id) ? throw new StateFormatException("a device id breaks the id rule")
                : registry.TryGetDevice(id, out var device) ? device : null;
            lastTs[j] = unchecked(now + r.VarInt());
        }

        var count = r.Count(Window, "the clock's reading count");
        var next = r.Count(Window - 1, "the clock's next slot");
        if (count < Window && next != count)
        {
            throw new StateFormatException($"the clock holds {count} readings but its next slot is {next}");
        }

        var slots = new byte[count];
        for (var i = 0; i < count; i++)
        {
            slots[i] = (byte)r.Count(distinct - 1, "a clock slot's device");
        }

        return new Saved(now, maxSeen, computedAtMax, devices, lastTs, count, next, slots);
    }

    /// <summary>
    /// Puts the saved clock in place. <paramref name="stateOf"/> gives the engine's state of a device in the ring (given its
    /// saved last timestamp, for a device the engine has no state of yet). Readings of a device no longer in the registry
    /// leave the ring, the rest keep their order.
    /// </summary>
    public void Restore(Saved saved, Func<Device, long, DeviceState> stateOf)
    {
        var states = new DeviceState?[saved.Devices.Length];
        for (var j = 0; j < states.Length; j++)
        {
            states[j] = saved.Devices[j] is { } device ? stateOf(device, saved.LastTs[j]) : null;
        }

        Array.Clear(_recent);
        if (Array.IndexOf(states, null) < 0)
        {
            for (var i = 0; i < saved.Count; i++)
            {
                _recent[i] = states[saved.Slots[i]]!;
            }

            (_count, _next) = (saved.Count, saved.Next);
        }
        else
        {
            var kept = 0;
            var oldest = saved.Count == Window ? saved.Next : 0;
            for (var k = 0; k < saved.Count; k++)
            {
                if (states[saved.Slots[(oldest + k) % Window]] is { } state)
                {
                    _recent[kept++] = state;
                }
            }

            (_count, _next) = (kept, kept % Window);
        }

        (Now, _maxSeen, _computedAtMax) = (saved.Now, saved.MaxSeen, saved.ComputedAtMax);
    }

    /// <summary>Points the ring's readings of <paramref name="old"/> at <paramref name="replacement"/> (a device's state restored over it).</summary>
    public void Replace(DeviceState old, DeviceState replacement)
    {
        for (var i = 0; i < _count; i++)
        {
            if (_recent[i] == old)
            {
                _recent[i] = replacement;
            }
        }
    }

    /// <summary>A clock read from saved state, not yet put in place: devices not in the registry are null.</summary>
    internal sealed record Saved(long Now, long MaxSeen, long ComputedAtMax, Device?[] Devices, long[] LastTs, int Count, int Next, byte[] Slots);

    /// <summary>
    /// Where the stream's front is now: the upper quartile of the latest timestamps of the devices in the ring (never
    /// behind <see cref="Now"/>). <see cref="Now"/>, a median, trails the readings arriving now by about half a report
    /// interval; a device whose clock runs slow is heard here, so that its silence is measured as an on-time device's is
    /// (from its own timestamp, which an on-time clock stamps near the front), not half an interval sooner. Fewer than a
    /// quarter of the devices running fast do not move it. Computed on demand from the ring, so a restored clock gives
    /// the same.
    /// </summary>
    public long Front()
    {
        var latest = SortedLatest();
        return latest.IsEmpty ? Now : Math.Max(Now, latest[(latest.Length - 1) * 3 / 4]);
    }

    /// <summary>Fewest devices whose times make the clock a judge of another device's: below it, the first heard sets the time.</summary>
    public const int Quorum = 3;

    /// <summary>
    /// Whether the ring holds readings of at least <see cref="Quorum"/> devices. Until it does, the clock is one or two
    /// devices' clocks, and a reading far ahead of it is as likely right as they are (a slow clock heard first after a
    /// start must not make every on-time device look ten minutes ahead and be refused for good). Computed from the ring.
    /// </summary>
    public bool HasQuorum() => CollectLatest(Quorum) >= Quorum;

    private long Median()
    {
        var latest = SortedLatest();
        return latest[latest.Length / 2];
    }

    /// <summary>The latest timestamp of each device in the ring, once each, in order.</summary>
    private Span<long> SortedLatest()
    {
        var distinct = _scratch.AsSpan(0, CollectLatest(Window));
        distinct.Sort();
        return distinct;
    }

    /// <summary>Puts the latest timestamps of up to <paramref name="most"/> devices of the ring, once each, into the scratch; returns how many.</summary>
    private int CollectLatest(int most)
    {
        _epoch++;
        var n = 0;
        for (var i = 0; i < _count && n < most; i++)
        {
            var d = _recent[i];
            if (d.ClockMark != _epoch)
            {
                d.ClockMark = _epoch;
                _scratch[n++] = d.LastTs;
            }
        }

        return n;
    }
}
