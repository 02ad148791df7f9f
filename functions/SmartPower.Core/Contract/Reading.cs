namespace SmartPower.Contract;

/// <summary>One port of a pile reading.</summary>
public readonly record struct PortReading(int Port, PortState State, double PowerW);

/// <summary>
/// A validated reading from a meter or a pile. Event time is <see cref="TimestampMs"/> (Unix ms, the device's
/// own <c>ts</c>). Meters carry <see cref="CurrentA"/> and <see cref="PowerW"/>; piles carry <see cref="Ports"/>.
/// </summary>
public readonly record struct Reading(
    long TimestampMs,
    long Seq,
    double VoltageV,
    double CurrentA,
    double PowerW,
    double? LeakageMa,
    double? TempC,
    bool ArcFault,
    PortReading[]? Ports)
{
    public DateTimeOffset Timestamp => EventTime.ToDateTimeOffset(TimestampMs);
}

/// <summary>A status message (<c>{"online": bool, "ts": "...", "fw": "..."}</c>), retained and used as the Last Will.</summary>
public readonly record struct DeviceStatus(bool Online, long? TimestampMs);

/// <summary>The outcome of parsing: a reason when refused, and the field that caused it (a constant, for logs).</summary>
public readonly record struct ParseFailure(RejectReason Reason, string? Field)
{
    public static ParseFailure None => default;

    public bool IsFailure => Reason != RejectReason.None;

    public override string ToString() => Field is null ? Reason.ToString() : $"{Reason} ({Field})";
}
