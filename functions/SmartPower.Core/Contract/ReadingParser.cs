using System.Text.Json;
using SmartPower.Registry;

namespace SmartPower.Contract;

/// <summary>
/// Parses and validates contract payloads with <see cref="Utf8JsonReader"/>: no allocation for a meter reading,
/// one array for a pile's ports. It checks shape, types, finiteness, physical limits and the payload's
/// informative ids against the topic's device; it knows nothing of detector state.
/// </summary>
public static class ReadingParser
{
    private const int MaxPorts = 64;

    /// <summary>The powers of ten up to 10^15, each an exact double (see <see cref="TryGetDouble"/>).</summary>
    private static readonly double[] Powers = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

    [Flags]
    private enum Seen
    {
        None = 0,
        Ts = 1,
        Seq = 2,
        Voltage = 4,
        Current = 8,
        Power = 16,
        Leakage = 32,
        Temp = 64,
        Arc = 128,
        Ports = 256,
        PowerFactor = 512,
        Energy = 1024,
        DeviceId = 2048,
        SiteId = 4096,
    }

    public static ParseFailure TryParseReading(ReadOnlySpan<byte> payload, Device device, ReadingLimits limits, out Reading reading)
    {
        reading = default;
        try
        {
            var reader = new Utf8JsonReader(payload, new JsonReaderOptions { MaxDepth = 16 });
            return ParseReading(ref reader, device, limits, out reading);
        }
        catch (JsonException)
        {
            return new(RejectReason.MalformedJson, null);
        }
    }

    public static ParseFailure TryParseStatus(ReadOnlySpan<byte> payload, out DeviceStatus status)
    {
        status = default;
        try
        {
            var reader = new Utf8JsonReader(payload, new JsonReaderOptions { MaxDepth = 16 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return new(RejectReason.MalformedJson, null);
            }

            bool? online = null;
            long? ts = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("online"u8))
                {
                    reader.Read();
                    if (reader.TokenType is not (JsonTokenType.True or JsonTokenType.False))
                    {
                        return new(RejectReason.InvalidValue, "online");
                    }

                    online = reader.GetBoolean();
                }
                else if (reader.ValueTextEquals("ts"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.String || !TryReadTimestamp(ref reader, out var t))
                    {
                        return new(RejectReason.InvalidValue, "ts");
                    }

                    ts = t;
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            EnsureComplete(ref reader);
            if (online is null)
            {
                return new(RejectReason.MissingField, "online");
            }

            status = new DeviceStatus(online.Value, ts);
            return ParseFailure.None;
        }
        catch (JsonException)
        {
            return new(RejectReason.MalformedJson, null);
        }
    }

    private static ParseFailure ParseReading(ref Utf8JsonReader reader, Device device, ReadingLimits limits, out Reading reading)
    {
        reading = default;
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return new(RejectReason.MalformedJson, null);
        }

        var seen = Seen.None;
        long ts = 0, seq = 0;
        double voltage = 0, current = 0, power = 0, leakage = 0, temp = 0;
        var arc = false;
        PortReading[]? ports = null;
        ParseFailure failure;

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            switch (Identify(ref reader))
            {
                case Seen.Ts:
                    if (!Mark(ref seen, Seen.Ts, out failure, "ts")) return failure;
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.Null) return new(RejectReason.MissingField, "ts"); // null counts as missing
                    if (reader.TokenType != JsonTokenType.String || !TryReadTimestamp(ref reader, out ts))
                    {
                        return new(RejectReason.InvalidValue, "ts");
                    }

                    break;
                case Seen.Seq:
                    if (!Mark(ref seen, Seen.Seq, out failure, "seq")) return failure;
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.Null) return new(RejectReason.MissingField, "seq");
                    if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out seq) || seq < 0)
                    {
                        return new(RejectReason.InvalidValue, "seq");
                    }

                    break;
                case Seen.Voltage:
                    if (!ReadNumber(ref reader, ref seen, Seen.Voltage, "voltageV", out voltage, out failure)) return failure;
                    break;
                case Seen.Current:
                    if (!ReadNumber(ref reader, ref seen, Seen.Current, "currentA", out current, out failure)) return failure;
                    break;
                case Seen.Power:
                    if (!ReadNumber(ref reader, ref seen, Seen.Power, "powerW", out power, out failure)) return failure;
                    break;
                case Seen.Leakage:
                    if (!ReadNumber(ref reader, ref seen, Seen.Leakage, "leakageMa", out leakage, out failure)) return failure;
                    break;
                case Seen.Temp:
                    if (!ReadNumber(ref reader, ref seen, Seen.Temp, "tempC", out temp, out failure)) return failure;
                    break;
                case Seen.PowerFactor:
                    if (!ReadNumber(ref reader, ref seen, Seen.PowerFactor, "powerFactor", out var pf, out failure)) return failure;
                    if (pf is < 0 or > 1) return new(RejectReason.ImpossibleValue, "powerFactor");
                    break;
                case Seen.Energy:
                    if (!ReadNumber(ref reader, ref seen, Seen.Energy, "energyKWh", out var energy, out failure)) return failure;
                    if (energy < 0) return new(RejectReason.ImpossibleValue, "energyKWh");
                    break;
                case Seen.Arc:
                    if (!Mark(ref seen, Seen.Arc, out failure, "arcFault")) return failure;
                    reader.Read();
                    if (reader.TokenType is not (JsonTokenType.True or JsonTokenType.False))
                    {
                        return new(RejectReason.InvalidValue, "arcFault");
                    }

                    arc = reader.GetBoolean();
                    break;
                case Seen.DeviceId:
                    if (!ReadIdentity(ref reader, ref seen, Seen.DeviceId, "deviceId", device.DeviceId, out failure)) return failure;
                    break;
                case Seen.SiteId:
                    if (!ReadIdentity(ref reader, ref seen, Seen.SiteId, "siteId", device.SiteId, out failure)) return failure;
                    break;
                case Seen.Ports when device.Kind == DeviceKind.Pile:
                    if (!Mark(ref seen, Seen.Ports, out failure, "ports")) return failure;
                    failure = ParsePorts(ref reader, device, limits, out ports);
                    if (failure.IsFailure) return failure;
                    break;
                default:
                    reader.Read();
                    reader.Skip(); // unknown fields are ignored, as the contract says
                    break;
            }
        }

        EnsureComplete(ref reader);

        var required = device.Kind == DeviceKind.Meter
            ? Seen.Ts | Seen.Seq | Seen.Voltage | Seen.Current | Seen.Power
            : Seen.Ts | Seen.Seq | Seen.Voltage | Seen.Ports;
        if ((seen & required) != required)
        {
            return new(RejectReason.MissingField, FirstMissing(required & ~seen));
        }

        if (voltage < 0 || voltage > limits.MaxVoltageV) return new(RejectReason.ImpossibleValue, "voltageV");
        if (ts < limits.EarliestMs || ts > limits.LatestMs) return new(RejectReason.TimestampOutOfRange, "ts");
        if ((seen & Seen.Leakage) != 0 && (leakage < 0 || leakage > limits.MaxLeakageMa)) return new(RejectReason.ImpossibleValue, "leakageMa");
        if ((seen & Seen.Temp) != 0 && (temp < limits.MinTempC || temp > limits.MaxTempC)) return new(RejectReason.ImpossibleValue, "tempC");
        if (device.Kind == DeviceKind.Meter)
        {
            var maxCurrent = limits.MaxCurrentFactor * device.RatedCurrentA!.Value;
            if (current < 0 || current > maxCurrent) return new(RejectReason.ImpossibleValue, "currentA");
            if (power < 0 || power > maxCurrent * limits.MaxVoltageV) return new(RejectReason.ImpossibleValue, "powerW");
        }

        reading = new Reading(
            ts,
            seq,
            voltage,
            current,
            power,
            (seen & Seen.Leakage) != 0 ? leakage : null,
            (seen & Seen.Temp) != 0 ? temp : null,
            arc,
            ports);
        return ParseFailure.None;
    }

    private static ParseFailure ParsePorts(ref Utf8JsonReader reader, Device device, ReadingLimits limits, out PortReading[]? ports)
    {
        ports = null;
        reader.Read();
        if (reader.TokenType == JsonTokenType.Null)
        {
            return new(RejectReason.MissingField, "ports");
        }

        if (reader.TokenType != JsonTokenType.StartArray)
        {
            return new(RejectReason.InvalidValue, "ports");
        }

        Span<PortReading> buffer = stackalloc PortReading[MaxPorts];
        var count = 0;
        ulong used = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.StartObject || count == MaxPorts)
            {
                return new(RejectReason.InvalidValue, "ports");
            }

            int? port = null;
            PortState? state = null;
            double? power = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("port"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.Null) return new(RejectReason.MissingField, "ports.port");
                    if (port is not null || reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out var p))
                    {
                        return new(RejectReason.InvalidValue, "ports.port");
                    }

                    port = p;
                }
                else if (reader.ValueTextEquals("state"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.Null) return new(RejectReason.MissingField, "ports.state");
                    if (state is not null || reader.TokenType != JsonTokenType.String || reader.ValueIsEscaped
                        || !ContractNames.TryParsePortState(reader.ValueSpan, out var s))
                    {
                        return new(RejectReason.InvalidValue, "ports.state");
                    }

                    state = s;
                }
                else if (reader.ValueTextEquals("powerW"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.Null) return new(RejectReason.MissingField, "ports.powerW");
                    if (power is not null || reader.TokenType != JsonTokenType.Number || !TryGetDouble(ref reader, out var w) || !double.IsFinite(w))
                    {
                        return new(RejectReason.InvalidValue, "ports.powerW");
                    }

                    power = w;
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            if (port is null) return new(RejectReason.MissingField, "ports.port");
            if (state is null) return new(RejectReason.MissingField, "ports.state");
            if (power is null) return new(RejectReason.MissingField, "ports.powerW");
            if (port < 1 || port > device.PortCount || port > MaxPorts) return new(RejectReason.ImpossibleValue, "ports.port");
            if ((used & (1UL << (port.Value - 1))) != 0) return new(RejectReason.InvalidValue, "ports.port");
            if (power < 0 || power > limits.MaxPortPowerW) return new(RejectReason.ImpossibleValue, "ports.powerW");
            used |= 1UL << (port.Value - 1);
            buffer[count++] = new PortReading(port.Value, state.Value, power.Value);
        }

        if (count == 0)
        {
            return new(RejectReason.MissingField, "ports");
        }

        ports = buffer[..count].ToArray();
        return ParseFailure.None;
    }

    /// <summary>Which reading field the current property names (by length first: one comparison, not a dozen).</summary>
    private static Seen Identify(ref Utf8JsonReader reader)
    {
        if (reader.ValueIsEscaped)
        {
            // Unescaping never lengthens a name, so a buffer the size of the escaped text always suffices.
            Span<byte> name = stackalloc byte[64];
            return reader.ValueSpan.Length <= name.Length ? Identify(name[..reader.CopyString(name)]) : Seen.None;
        }

        return Identify(reader.ValueSpan);
    }

    private static Seen Identify(ReadOnlySpan<byte> name) => name.Length switch
    {
        2 when name.SequenceEqual("ts"u8) => Seen.Ts,
        3 when name.SequenceEqual("seq"u8) => Seen.Seq,
        5 when name.SequenceEqual("tempC"u8) => Seen.Temp,
        5 when name.SequenceEqual("ports"u8) => Seen.Ports,
        6 when name.SequenceEqual("powerW"u8) => Seen.Power,
        6 when name.SequenceEqual("siteId"u8) => Seen.SiteId,
        8 when name.SequenceEqual("voltageV"u8) => Seen.Voltage,
        8 when name.SequenceEqual("currentA"u8) => Seen.Current,
        8 when name.SequenceEqual("arcFault"u8) => Seen.Arc,
        8 when name.SequenceEqual("deviceId"u8) => Seen.DeviceId,
        9 when name.SequenceEqual("leakageMa"u8) => Seen.Leakage,
        9 when name.SequenceEqual("energyKWh"u8) => Seen.Energy,
        11 when name.SequenceEqual("powerFactor"u8) => Seen.PowerFactor,
        _ => Seen.None,
    };

    /// <summary>
    /// Reads the contract's timestamp. The contract's own form, <c>yyyy-MM-ddTHH:mm:ss.fffZ</c>, is parsed directly;
    /// any other ISO 8601 form goes through the framework's parser, and must say its offset (<c>Z</c> or
    /// <c>+hh:mm</c>): the framework reads a time without one as the machine's local time, so event time and alert
    /// ids would depend on where the pipeline runs (found in review).
    /// </summary>
    private static bool TryReadTimestamp(ref Utf8JsonReader reader, out long unixMs)
    {
        unixMs = 0;
        var v = reader.ValueSpan;
        if (!reader.ValueIsEscaped && v.Length == 24 && v[4] == '-' && v[7] == '-' && v[10] == 'T' && v[13] == ':'
            && v[16] == ':' && v[19] == '.' && v[23] == 'Z'
            && Digits(v, 0, 4, out var year) && Digits(v, 5, 2, out var month) && Digits(v, 8, 2, out var day)
            && Digits(v, 11, 2, out var hour) && Digits(v, 14, 2, out var minute) && Digits(v, 17, 2, out var second)
            && Digits(v, 20, 3, out var ms)
            && month is >= 1 and <= 12 && day >= 1 && day <= DateTime.DaysInMonth(Math.Max(year, 1), month)
            && hour < 24 && minute < 60 && second < 60 && year >= 1)
        {
            unixMs = (new DateTime(year, month, day, hour, minute, second, DateTimeKind.Utc).Ticks - DateTime.UnixEpoch.Ticks) / TimeSpan.TicksPerMillisecond + ms;
            return true;
        }

        if (!reader.TryGetDateTimeOffset(out var parsed))
        {
            return false;
        }

        // The rare path, so a string is fine here.
        if (!EventTime.HasOffset(reader.GetString()!))
        {
            return false;
        }

        unixMs = parsed.ToUnixTimeMilliseconds();
        return true;
    }

    private static bool Digits(ReadOnlySpan<byte> text, int start, int count, out int value)
    {
        value = 0;
        for (var i = start; i < start + count; i++)
        {
            var d = text[i] - '0';
            if ((uint)d > 9)
            {
                return false;
            }

            value = (value * 10) + d;
        }

        return true;
    }

    private static bool Mark(ref Seen seen, Seen field, out ParseFailure failure, string name)
    {
        if ((seen & field) != 0)
        {
            failure = new(RejectReason.InvalidValue, name); // a field given twice is ambiguous: refuse rather than guess
            return false;
        }

        seen |= field;
        failure = default;
        return true;
    }

    private static bool ReadNumber(ref Utf8JsonReader reader, ref Seen seen, Seen field, string name, out double value, out ParseFailure failure)
    {
        value = 0;
        if (!Mark(ref seen, field, out failure, name))
        {
            return false;
        }

        reader.Read();
        if (reader.TokenType == JsonTokenType.Null)
        {
            failure = new(RejectReason.MissingField, name);
            return false;
        }

        if (reader.TokenType != JsonTokenType.Number || !TryGetDouble(ref reader, out value) || !double.IsFinite(value))
        {
            failure = new(RejectReason.InvalidValue, name);
            return false;
        }

        return true;
    }

    /// <summary>
    /// A number token as a double, the same double <see cref="Utf8JsonReader.TryGetDouble"/> gives. A reading's numbers
    /// are short decimals (<c>230.8</c>, <c>28015.107</c>): up to 15 digits and no exponent, their digits as a whole
    /// number and a power of ten are both exact doubles, so one division, correctly rounded, is the correctly rounded
    /// value of the decimal. Any other number goes to the reader.
    /// </summary>
    internal static bool TryGetDouble(ref Utf8JsonReader reader, out double value)
    {
        var text = reader.HasValueSequence ? default : reader.ValueSpan;
        var negative = !text.IsEmpty && text[0] == '-';
        var i = negative ? 1 : 0;
        long digits = 0;
        int count = 0, point = -1;
        for (; i < text.Length; i++)
        {
            var c = text[i];
            if ((uint)(c - '0') <= 9)
            {
                digits = (digits * 10) + (c - '0');
                count++;
            }
            else if (c == '.' && point < 0)
            {
                point = count;
            }
            else
            {
                break;
            }
        }

        if (text.IsEmpty || i < text.Length || count > 15)
        {
            return reader.TryGetDouble(out value);
        }

        var quotient = digits / Powers[point < 0 ? 0 : count - point];
        value = negative ? -quotient : quotient;
        return true;
    }

    private static bool ReadIdentity(ref Utf8JsonReader reader, ref Seen seen, Seen field, string name, string expected, out ParseFailure failure)
    {
        if (!Mark(ref seen, field, out failure, name))
        {
            return false;
        }

        reader.Read();
        if (reader.TokenType != JsonTokenType.String || !reader.ValueTextEquals(expected))
        {
            failure = new(RejectReason.IdentityMismatch, name);
            return false;
        }

        return true;
    }

    /// <summary>Reads to the end of the object and refuses trailing content after it.</summary>
    private static void EnsureComplete(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.EndObject || reader.CurrentDepth != 0 || reader.Read())
        {
            throw new JsonException("payload is not one complete JSON object");
        }
    }

    private static string FirstMissing(Seen missing) =>
        (missing & Seen.Ts) != 0 ? "ts"
        : (missing & Seen.Seq) != 0 ? "seq"
        : (missing & Seen.Voltage) != 0 ? "voltageV"
        : (missing & Seen.Current) != 0 ? "currentA"
        : (missing & Seen.Power) != 0 ? "powerW"
        : "ports";
}
