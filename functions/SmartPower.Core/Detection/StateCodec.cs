using System.Buffers.Binary;
using System.Text;

namespace SmartPower.Detection;

/// <summary>
/// Writes the primitives of the detector state format (<see cref="StateFormat"/>) into a span. A writer made by
/// <see cref="Counting"/> has no span and only counts, so a record can be measured before space is asked for it.
/// </summary>
internal ref struct StateWriter
{
    private readonly Span<byte> _buffer;
    private readonly bool _counting;

    public StateWriter(Span<byte> buffer)
    {
        _buffer = buffer;
    }

    private StateWriter(bool counting)
    {
        _counting = counting;
    }

    /// <summary>Bytes written (or counted) so far.</summary>
    public int Position { get; private set; }

    /// <summary>The timestamp that <see cref="Time"/> writes others relative to: the record's device's last reading.</summary>
    public long TimeBase { get; set; }

    public static StateWriter Counting() => new(counting: true);

    public void Byte(byte value)
    {
        if (!_counting)
        {
            _buffer[Position] = value;
        }

        Position++;
    }

    public void Bool(bool value) => Byte(value ? (byte)1 : (byte)0);

    /// <summary>LEB128: seven bits a byte, low first, the high bit set on every byte but the last.</summary>
    public void VarUInt(ulong value)
    {
        while (value >= 0x80)
        {
            Byte((byte)(value | 0x80));
            value >>= 7;
        }

        Byte((byte)value);
    }

    /// <summary>Zigzag (0, -1, 1, -2 ... as 0, 1, 2, 3 ...) then LEB128, so small magnitudes of either sign are short.</summary>
    public void VarInt(long value) => VarUInt(ZigZag(value));

    /// <summary>The exact IEEE 754 bits, little-endian (NaN and -0 survive).</summary>
    public void Double(double value)
    {
        if (!_counting)
        {
            BinaryPrimitives.WriteDoubleLittleEndian(_buffer[Position..], value);
        }

        Position += sizeof(double);
    }

    /// <summary>The exact IEEE 754 single-precision bits, little-endian (for values kept as <c>float</c> in memory).</summary>
    public void Single(float value)
    {
        if (!_counting)
        {
            BinaryPrimitives.WriteSingleLittleEndian(_buffer[Position..], value);
        }

        Position += sizeof(float);
    }

    public void Doubles(params ReadOnlySpan<double> values)
    {
        foreach (var value in values)
        {
            Double(value);
        }
    }

    /// <summary>A timestamp in ms: 0 (the detectors' "not set") as 0, any other as 1 + zigzag(ts - <see cref="TimeBase"/>).</summary>
    public void Time(long ts)
    {
        var zigzag = ZigZag(unchecked(ts - TimeBase));
        if (ts != 0 && zigzag == ulong.MaxValue)
        {
            throw new InvalidOperationException($"timestamp {ts} is too far from {TimeBase} to be saved");
        }

        VarUInt(ts == 0 ? 0 : zigzag + 1);
    }

    /// <summary>An ASCII string (device and alert ids): its length, then its bytes.</summary>
    public void Ascii(string text)
    {
        VarUInt((ulong)text.Length);
        if (!_counting && System.Text.Ascii.FromUtf16(text, _buffer[Position..], out _) != System.Buffers.OperationStatus.Done)
        {
            throw new InvalidOperationException($"'{text}' is not ASCII and cannot be saved");
        }

        Position += text.Length;
    }

    internal static ulong ZigZag(long value) => (ulong)((value << 1) ^ (value >> 63));

    internal static long UnZigZag(ulong value) => (long)(value >> 1) ^ -(long)(value & 1);
}

/// <summary>
/// Reads what <see cref="StateWriter"/> wrote. Every read is checked: running off the end, an overlong number or a
/// value out of its range throws <see cref="StateFormatException"/>, so a bad blob is refused rather than half read.
/// </summary>
internal ref struct StateReader(ReadOnlySpan<byte> data)
{
    private readonly ReadOnlySpan<byte> _data = data;

    public int Position { get; private set; }

    public readonly int Remaining => _data.Length - Position;

    /// <summary>See <see cref="StateWriter.TimeBase"/>.</summary>
    public long TimeBase { get; set; }

    public byte Byte()
    {
        if (Position >= _data.Length)
        {
            throw StateFormatException.Truncated();
        }

        return _data[Position++];
    }

    public bool Bool() => Byte() switch
    {
        0 => false,
        1 => true,
        var b => throw new StateFormatException($"a flag is {b}, not 0 or 1"),
    };

    /// <summary>A byte of flags, refusing any bit outside <paramref name="allowed"/>.</summary>
    public byte Flags(byte allowed, string what)
    {
        var flags = Byte();
        return (flags & ~allowed) == 0 ? flags : throw new StateFormatException($"{what} has unknown flags 0x{flags:x2}");
    }

    public ulong VarUInt()
    {
        ulong value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            var b = Byte();
            if (shift == 63 && b > 1)
            {
                break;
            }

            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }

        throw new StateFormatException("a number is longer than 64 bits");
    }

    public long VarInt()
    {
        return StateWriter.UnZigZag(VarUInt());
    }

    /// <summary>A count or size, refusing anything above <paramref name="max"/>.</summary>
    public int Count(int max, string what)
    {
        var value = VarUInt();
        return max >= 0 && value <= (ulong)max ? (int)value : throw new StateFormatException($"{what} is {value}, more than {Math.Max(max, 0)}");
    }

    public double Double()
    {
        var bytes = Bytes(sizeof(double));
        return BinaryPrimitives.ReadDoubleLittleEndian(bytes);
    }

    public float Single() => BinaryPrimitives.ReadSingleLittleEndian(Bytes(sizeof(float)));

    public long Time()
    {
        var encoded = VarUInt();
        if (encoded == 0)
        {
            return 0;
        }

        return unchecked(TimeBase + StateWriter.UnZigZag(encoded - 1));
    }

    /// <summary>An ASCII string of 1..<paramref name="maxLength"/> bytes, as <see cref="StateWriter.Ascii"/> wrote it; the bytes are not copied.</summary>
    public ReadOnlySpan<byte> AsciiBytes(int maxLength, string what)
    {
        var length = Count(maxLength, what);
        var bytes = Bytes(length);
        return length > 0 && System.Text.Ascii.IsValid(bytes) ? bytes : throw new StateFormatException($"{what} is empty or not ASCII");
    }

    public string Ascii(int maxLength, string what) => Encoding.ASCII.GetString(AsciiBytes(maxLength, what));

    public ReadOnlySpan<byte> Bytes(int length)
    {
        if (length > Remaining)
        {
            throw StateFormatException.Truncated();
        }

        var bytes = _data.Slice(Position, length);
        Position += length;
        return bytes;
    }

    /// <summary>Refuses trailing bytes: a record must be read exactly to its end.</summary>
    public readonly void End(string what)
    {
        if (Remaining != 0)
        {
            throw new StateFormatException($"{Remaining} unexpected bytes after the {what}");
        }
    }
}
