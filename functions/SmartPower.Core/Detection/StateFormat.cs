using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;
using SmartPower.Alerts;
using SmartPower.Contract;
using SmartPower.Registry;

namespace SmartPower.Detection;

/// <summary>
/// The one place the detector state format is described, and where blobs are framed, checked and device records
/// composed. Versioned; no reflection, nothing but the bytes below.
/// <para><b>Blob.</b> <c>'S' 'P' kind version</c>, a body, then a CRC-32C (little-endian <c>uint32</c>) of everything
/// before it. <c>kind</c> is <c>'E'</c> (a whole engine), <c>'D'</c> (one device) or <c>'C'</c> (a stream clock);
/// <c>version</c> is <see cref="Version"/>. A blob of the wrong kind or version, a checksum that does not match, a
/// truncated or inconsistent body, or bytes left over all throw <see cref="StateFormatException"/>, and nothing is restored.</para>
/// <para><b>Primitives.</b> <c>u8</c> a byte; <c>uvar</c> an unsigned LEB128 number (7 bits a byte, low first);
/// <c>var</c> a signed one, zigzag then LEB128; <c>f64</c> the 8 IEEE 754 bytes, little-endian (NaN and -0 exact);
/// <c>ascii</c> a <c>uvar</c> length then the bytes; <c>time</c> a millisecond timestamp relative to the device's
/// <c>lastTs</c>: 0 for 0 (the detectors' "not set"), otherwise 1 + zigzag(ts - lastTs) as <c>uvar</c>, so most take 1-3 bytes.
/// <c>[cond] x</c> is present only when <c>cond</c>.</para>
/// <para><b>Engine body</b> (<c>'E'</c>): <c>clock</c>, <c>uvar</c> device count, then per device <c>uvar</c> length and a
/// <c>device</c> record. Devices waiting for silence come first, in the order of the offline queue's heap array, so that
/// queuing them again in that order rebuilds the identical heap (ties on a deadline then still go offline in the same
/// order); the other devices follow in registry order. The length lets a reader skip a device it cannot place.</para>
/// <para><b>Device body</b> (<c>'D'</c>, and each engine record):
/// <c>ascii</c> device id, <c>u8</c> kind (0 meter, 1 pile), [pile] <c>uvar</c> port count,
/// <c>u8</c> flags (1 seen, 2 waiting for silence), <c>var</c> lastTs, <c>var</c> lastSeq, <c>time</c> heard at (stream time), [waiting] <c>time</c> silence deadline,
/// <c>incident</c> offline, then <c>watch</c> + <c>incident</c> for leakage, overtemperature and arc fault;
/// a meter then has <c>watch</c> + <c>incident</c> overload, <c>charging</c>, <c>reactive</c>, <c>incident</c> illegal charging;
/// a pile has <c>watch</c> + <c>incident</c> per port, port 1 first.</para>
/// <para><b>watch</b> (a <see cref="HoldWatch"/>): <c>u8</c> flags (1 in an episode, 2 holds running, 4 episode figures),
/// [2] <c>time</c> warning since, <c>time</c> critical since, <c>uvar</c> warning readings, <c>uvar</c> critical readings,
/// <c>time</c> clearing since; [4] <c>time</c> episode start, <c>f64</c> peak. An idle watch is one byte.</para>
/// <para><b>incident</b> (an <see cref="Incident"/>): <c>u8</c> 0 none (or cleared), 1 open warning, 2 open critical;
/// if open <c>ascii</c> alertId, <c>time</c> opened at, <c>f64</c> peak last reported. So an alert open at the save keeps its
/// id, is updated and cleared under it, and is not opened again.</para>
/// <para><b>charging</b> (a <see cref="ChargingSignature"/>): <c>u8</c> samples (0-2), <c>time</c> last, <c>f64</c> the two
/// previous powers, the filtered level, the two previous squared non-active powers (S^2 - P^2), <c>uvar</c> edge length, [edge] <c>f64</c> edge sum, from, raw peak, non-active
/// power before the edge, <c>time</c> edge start; <c>f64</c> noise, squared non-active power (its running mean); <c>time</c> when the last confirmed charger switched on (0: none); <c>u8</c> load slots (0: no table
/// yet, else 8), [table] <c>uvar</c> bit mask of the occupied slots, <c>f64</c> the circuit's non-active power drift between
/// edges, its last sample between edges (NaN after an edge), the supply voltage in the last sample and in the sample before the last
/// edge (0: unknown), the size of the last load that switched off at its own size,
/// <c>time</c> when (0: none), and a <c>load</c> for each occupied slot, slot 0 first (slots keep their places: matching and evaluation go in slot order).</para>
/// <para><b>load</b>: <c>u8</c> kind (0 load, 1 motor load, 2 candidate, 3 confirmed charger), <c>time</c> start, <c>f64</c> step,
/// supply voltage at the switch-on (0: unknown), reactive ratio and non-active power before the step (NaN once measured), [not NaN] <c>f64</c> sum (of S^2 - P^2) and <c>uvar</c> count of
/// the samples so far; a candidate then has <c>u8</c> flags (1 paired: found as what stayed when a load that switched on with
/// it switched off; 2 recurring: the size of a common-area fitting that cycled within the hour), <c>f64</c> baseline,
/// baseline noise, current level, smooth level, noise sum, peak level, lowest level since, the circuit's non-active power
/// drift at the peak, the trend's t value at the peak, <c>time</c> peak, <c>time</c> fallen to half the peak (0: not), <c>uvar</c> noise count,
/// <c>time</c> tapering since, <c>time</c> matched switch-off being checked (0: none), [not 0] <c>f64</c> non-active power
/// before it and sum since, then two <c>trend</c>s: over the clean samples (s is 0), and over every sample with the
/// motors' settling.</para>
/// <para><b>reactive</b> (a <see cref="ReactiveHold"/>; <c>f32</c> is the 4 IEEE 754 single-precision bytes, little-endian, for
/// what the rule keeps as <c>float</c>): <c>time</c> last reading (0: none), <c>uvar</c> n readings kept since the last
/// restart, then the last min(n, 96) of them as a <c>ring</c> of Q (signed root of S^2 - P^2) and P; <c>f64</c> the open
/// minute's sum of S^2 - P^2 and of P, <c>u8</c> its readings (0-5), <c>uvar</c> m minutes closed since the restart, then
/// the last min(m, 80) as a <c>ring</c> of the minute's Q and mean P. A <b>ring</b>, oldest first: the first's <c>time</c>, then per later entry
/// <c>var</c> its interval (ms after the one before) less the interval before it (0 for the first); per entry and value
/// <c>var</c> the value in whole tenths less the one before's (from 0); four <c>uvar</c>
/// readings taken as an edge's move, each as n - its index (0: none); <c>uvar</c> steps, each a <c>step</c>; <c>uvar</c>
/// held candidates, each <c>uvar</c> n - its reading's index, a <c>step</c>, <c>f64</c> Q floor before it, Q scatter
/// before and after it, real power before it, its scatter before and after it (NaN: not yet), <c>u8</c> its real power
/// waiting for a kettle's switch-off (0, 1); <c>time</c> no call for a step before this (0: none), <c>time</c> the last called step (0: none); <c>u8</c> a called charge
/// held (0, 1), [1] its <c>step</c>, <c>time</c> falls after this end it (0: any), <c>time</c> falls up to this were other loads' (0: none), <c>time</c> ended, held on while the charging signature decides on a candidate that may be it (0: not ended), <c>f64</c> Q floor before it,
/// <c>uvar</c> the last 10 minutes watched, a bit each (1: under its end floor; the latest the lowest bit), <c>u8</c> minutes watched (0-10). <b>step</b>: <c>time</c> at, <c>f32</c> change of Q and of P.</para>
/// <para><b>trend</b> (a <see cref="PooledTrend"/>): <c>uvar</c> n of the open stretch, [n &gt; 0] its fourteen <c>f64</c>
/// regression sums (x, u, s, y, xx, uu, ss, xu, xs, us, xy, uy, sy, yy), <c>uvar</c> pooled stretches, [&gt; 0] <c>uvar</c>
/// pooled n and the ten <c>f64</c> pooled centred sums (xx, uu, ss, xu, xs, us, xy, uy, sy, yy).</para>
/// <para><b>clock</b> (a <see cref="StreamClock"/>): <c>var</c> now, <c>var</c> max seen - now, <c>var</c> computed-at - now
/// (wrapping), <c>uvar</c> distinct devices and per device <c>ascii</c> id and <c>var</c> its last timestamp - now; <c>uvar</c>
/// readings in the ring (up to 64), <c>uvar</c> next slot, and per reading <c>u8</c> its device's place in that list.</para>
/// <para>Not saved, because nothing reads it across readings: a cleared incident's figures, a watch's or detector's values
/// that the next episode or edge overwrites before reading, the clock's scratch and de-duplication marks.</para>
/// </summary>
internal static class StateFormat
{
    /// <summary>Bumped whenever the layout above changes; an older or newer blob is refused, never misread.</summary>
    public const byte Version = 12; // 12: the night floor's evening, baselines, sampled floors and run, a reactive charge's charger called while it was held, and when the signature last saw the incident open; 11: a reactive candidate whose real power waits for a kettle's switch-off, the 1-minute mean real power and the open minute's sum of it; 10: a reactive charge's loads switched beside it and its end floor's shift; 9: the reactive hold rule's rings (tenths, as differences), steps, candidates and charge, and when the signature's last confirmed charger switched on; 2: a device's heard-at time (offline measured on the stream's clock); 3: a charging load's non-active power; 4: a candidate's switch-off being checked; 5: a candidate's trend with the motors' settling; 6: a candidate's peak and taper, the circuit's non-active power drift and last switched-off load; 7: non-active power kept squared until averaged, the supply voltage at each load's switch-on; 8: when each pile port was last listed

    private const int HeaderBytes = 4;
    private const int ChecksumBytes = sizeof(uint);
    private const byte SeenFlag = 1;
    private const byte WaitingFlag = 2;

    internal delegate void Body<in T>(ref StateWriter w, T value);

    internal enum Blob : byte
    {
        Engine = (byte)'E',
        Device = (byte)'D',
        Clock = (byte)'C',
    }

    /// <summary>Measures the body, asks <paramref name="output"/> for exactly that much space once, and writes the framed blob.</summary>
    public static void Write<T>(IBufferWriter<byte> output, Blob blob, T value, Body<T> body)
    {
        ArgumentNullException.ThrowIfNull(output);
        var counter = StateWriter.Counting();
        body(ref counter, value);
        var size = HeaderBytes + counter.Position + ChecksumBytes;
        var span = output.GetSpan(size)[..size];
        span[0] = (byte)'S';
        span[1] = (byte)'P';
        span[2] = (byte)blob;
        span[3] = Version;
        var w = new StateWriter(span[HeaderBytes..^ChecksumBytes]);
        body(ref w, value);
        if (w.Position != counter.Position)
        {
            throw new InvalidOperationException($"state measured {counter.Position} bytes but wrote {w.Position}");
        }

        BinaryPrimitives.WriteUInt32LittleEndian(span[^ChecksumBytes..], Checksum(span[..^ChecksumBytes]));
        output.Advance(size);
    }

    /// <summary>Checks a blob's magic, kind, version and checksum, and returns a reader over its body.</summary>
    public static StateReader Open(ReadOnlySpan<byte> data, Blob blob)
    {
        if (data.Length < 2 || data[0] != 'S' || data[1] != 'P')
        {
            throw new StateFormatException("not SmartPower detector state: it does not start with 'SP'");
        }

        if (data.Length < HeaderBytes + ChecksumBytes)
        {
            throw StateFormatException.Truncated();
        }

        if (data[2] != (byte)blob)
        {
            throw new StateFormatException($"this is the state of {Describe(data[2])}, not of {Describe((byte)blob)}");
        }

        if (data[3] != Version)
        {
            throw new StateFormatException($"state format version {data[3]}; this build reads version {Version}");
        }

        if (BinaryPrimitives.ReadUInt32LittleEndian(data[^ChecksumBytes..]) != Checksum(data[..^ChecksumBytes]))
        {
            throw new StateFormatException("the state's checksum does not match: it is corrupt or truncated");
        }

        return new StateReader(data[HeaderBytes..^ChecksumBytes]);
    }

    /// <summary>Writes a device record, as its own blob's body or inside an engine's.</summary>
    public static void WriteDevice(ref StateWriter w, DeviceState state)
    {
        w.Ascii(state.Device.DeviceId);
        w.Byte((byte)state.Device.Kind);
        if (state is PileState { PortWatches.Length: var ports })
        {
            w.VarUInt((uint)ports);
        }

        w.Byte((byte)((state.Seen ? SeenFlag : 0) | (state.AwaitingSilence ? WaitingFlag : 0)));
        w.VarInt(state.LastTs);
        w.TimeBase = state.LastTs;
        w.VarInt(state.LastSeq);
        w.Time(state.HeardAtMs);
        if (state.AwaitingSilence)
        {
            w.Time(state.SilenceDeadline);
        }

        var h = state.Hazards ?? Hazards.None; // saved as before hazards were kept apart: the format is unchanged
        Incident.Save(ref w, h.Offline);
        h.LeakageWatch.Save(ref w);
        Incident.Save(ref w, h.Leakage);
        h.TemperatureWatch.Save(ref w);
        Incident.Save(ref w, h.Temperature);
        h.ArcWatch.Save(ref w);
        Incident.Save(ref w, h.Arc);
        switch (state)
        {
            case MeterState meter:
                h.OverloadWatch.Save(ref w);
                Incident.Save(ref w, h.Overload);
                meter.Charging.Save(ref w);
                meter.Reactive.Save(ref w);
                Incident.Save(ref w, h.IllegalCharging);
                break;
            case PileState pile:
                for (var i = 0; i < pile.PortWatches.Length; i++)
                {
                    pile.PortWatches[i].Save(ref w);
                    Incident.Save(ref w, pile.PortIncidents[i]);
                    w.Time(pile.PortHeardAt[i]);
                }

                break;
        }
    }

    /// <summary>
    /// Reads a device record into a new state for the registry's device of that id, unless the device has left the
    /// registry or no longer fits the record (then the rest of the record is not read and <paramref name="state"/> is null).
    /// With <paramref name="expectedId"/>, a record of another device is refused.
    /// </summary>
    public static DeviceRestoreOutcome ReadDevice(ref StateReader r, DeviceRegistry registry, string? expectedId, out DeviceState? state)
    {
        state = null;
        var id = r.AsciiBytes(Ids.MaxLength, "a device id");
        if (!Ids.IsValid(id))
        {
            throw new StateFormatException("a device id breaks the id rule");
        }

        if (expectedId is not null && !System.Text.Ascii.Equals(id, expectedId))
        {
            throw new StateFormatException($"this is the state of device '{System.Text.Encoding.ASCII.GetString(id)}', not of '{expectedId}'");
        }

        var kind = r.Byte();
        if (kind > (byte)DeviceKind.Pile)
        {
            throw new StateFormatException($"a device's kind is {kind}");
        }

        var ports = kind == (byte)DeviceKind.Pile ? r.Count(int.MaxValue, "a pile's port count") : 0;
        if (!registry.TryGetDevice(id, out var device))
        {
            return DeviceRestoreOutcome.NotInRegistry;
        }

        if ((byte)device.Kind != kind || (device.Kind == DeviceKind.Pile && device.PortCount != ports))
        {
            return DeviceRestoreOutcome.StartedFresh;
        }

        var restored = DeviceState.For(device);
        var flags = r.Flags(SeenFlag | WaitingFlag, "a device");
        restored.Seen = (flags & SeenFlag) != 0;
        restored.AwaitingSilence = (flags & WaitingFlag) != 0;
        restored.LastTs = r.VarInt();
        r.TimeBase = restored.LastTs;
        restored.LastSeq = r.VarInt();
        restored.HeardAtMs = r.Time();
        if (restored.AwaitingSilence)
        {
            restored.SilenceDeadline = r.Time();
        }

        var h = new Hazards
        {
            Offline = Incident.Read(ref r, device, AlertType.Offline),
            LeakageWatch = HoldWatch.Read(ref r),
            Leakage = Incident.Read(ref r, device, AlertType.Leakage),
            TemperatureWatch = HoldWatch.Read(ref r),
            Temperature = Incident.Read(ref r, device, AlertType.Overtemperature),
            ArcWatch = HoldWatch.Read(ref r),
            Arc = Incident.Read(ref r, device, AlertType.ArcFault),
        };
        switch (restored)
        {
            case MeterState meter:
                h.OverloadWatch = HoldWatch.Read(ref r);
                h.Overload = Incident.Read(ref r, device, AlertType.Overload);
                meter.Charging.Read(ref r);
                meter.Reactive.Read(ref r);
                h.IllegalCharging = Incident.Read(ref r, device, AlertType.IllegalCharging);
                break;
            case PileState pile:
                for (var i = 0; i < pile.PortWatches.Length; i++)
                {
                    pile.PortWatches[i] = HoldWatch.Read(ref r);
                    pile.PortIncidents[i] = Incident.Read(ref r, device, AlertType.PortOverpower, i + 1);
                    pile.PortHeardAt[i] = r.Time();
                }

                break;
        }

        r.End("device record");
        restored.Hazards = h.IsIdle ? null : h;
        state = restored;
        return DeviceRestoreOutcome.Restored;
    }

    private static string Describe(byte blob) => blob switch
    {
        (byte)Blob.Engine => "an engine",
        (byte)Blob.Device => "one device",
        (byte)Blob.Clock => "a stream clock",
        _ => $"an unknown kind ({blob})",
    };

    /// <summary>CRC-32C (Castagnoli), as the processor computes it where it can.</summary>
    internal static uint Checksum(ReadOnlySpan<byte> data)
    {
        var crc = uint.MaxValue;
        for (; data.Length >= sizeof(ulong); data = data[sizeof(ulong)..])
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
        }

        foreach (var b in data)
        {
            crc = BitOperations.Crc32C(crc, b);
        }

        return ~crc;
    }
}
