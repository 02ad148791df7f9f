namespace SmartPower.Pipeline;

/// <summary>
/// The wall-clock time a store gives what it writes (Unix ms): strictly increasing across writes within a millisecond,
/// so that an alert's history sorted by when it was stored is the order it happened in. A clock stepped back (NTP
/// correcting a clock that ran fast) is followed, not waited for: a stamp kept ahead of the clock would make new
/// notifications and escalation steps, dated from their stamp, wait until the clock caught up.
/// </summary>
public static class WriteStamp
{
    /// <summary>How far a stamp may run ahead of the clock to stay increasing; beyond it the clock went back.</summary>
    public const long MaxLeadMs = 1000;

    /// <summary>The stamp after <paramref name="last"/> at wall time <paramref name="nowMs"/>.</summary>
    public static long Next(long last, long nowMs) => nowMs > last || last - nowMs >= MaxLeadMs ? nowMs : last + 1;
}
