namespace SmartPower.Contract;

/// <summary>
/// What a physically possible reading looks like. Anything outside is refused as
/// <see cref="RejectReason.ImpossibleValue"/> or <see cref="RejectReason.TimestampOutOfRange"/>.
/// </summary>
public sealed record ReadingLimits
{
    public static ReadingLimits Default { get; } = new();

    /// <summary>The contract's payload limit.</summary>
    public int MaxPayloadBytes { get; init; } = 8 * 1024;

    /// <summary>Mains is 230 V; nothing on a low-voltage service reads above this.</summary>
    public double MaxVoltageV { get; init; } = 500;

    /// <summary>A breaker clears a short within milliseconds; no 10-second reading can exceed this multiple of its rating.</summary>
    public double MaxCurrentFactor { get; init; } = 10;

    public double MinTempC { get; init; } = -50;

    public double MaxTempC { get; init; } = 250;

    /// <summary>Residual-current sensors top out well below 10 A.</summary>
    public double MaxLeakageMa { get; init; } = 10_000;

    /// <summary>A pile socket (16 A at 230 V is 3.7 kW) cannot deliver more than this.</summary>
    public double MaxPortPowerW { get; init; } = 5_000;

    /// <summary>A reading may be at most this far ahead of the stream's event time (device clock skew).</summary>
    public double MaxFutureSkewS { get; init; } = 600;

    /// <summary>A reading may lag the stream's event time by at most this (a device resending after an outage).</summary>
    public double MaxPastLagS { get; init; } = 6 * 3600;

    /// <summary>No reading is from before this instant (a clock that never synchronised).</summary>
    public long EarliestMs { get; init; } = new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds();

    /// <summary>No reading is from after this instant.</summary>
    public long LatestMs { get; init; } = new DateTimeOffset(2100, 1, 1, 0, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds();
}
