using System.Globalization;

namespace SmartPower.Contract;

/// <summary>
/// Event time as the contract writes it: RFC 3339 UTC with milliseconds. Internally event time is
/// Unix milliseconds, which keeps detector state small and arithmetic exact.
/// </summary>
public static class EventTime
{
    public static string Format(long unixMs) => Format(DateTimeOffset.FromUnixTimeMilliseconds(unixMs));

    public static string Format(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    public static DateTimeOffset ToDateTimeOffset(long unixMs) => DateTimeOffset.FromUnixTimeMilliseconds(unixMs);

    private static readonly string[] Rfc3339 = ["yyyy-MM-dd'T'HH:mm:ssK", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK"];

    /// <summary>
    /// An RFC 3339 date-time (any fraction of a second, <c>Z</c> or a numeric offset); nothing else: no time of day
    /// alone, no date in a culture's order, no time without its offset (which would be read in the machine's zone).
    /// </summary>
    public static bool TryParse(string? text, out DateTimeOffset time)
    {
        time = default;
        return text is not null && HasOffset(text)
            && DateTimeOffset.TryParseExact(text, Rfc3339, CultureInfo.InvariantCulture, DateTimeStyles.None, out time);
    }

    /// <summary>Whether an ISO 8601 date-time ends in a UTC designator or a numeric offset (after its time part).</summary>
    public static bool HasOffset(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var t = text.AsSpan().IndexOfAny('T', 't', ' ');
        if (t < 0)
        {
            return false; // a date alone
        }

        var time = text.AsSpan(t + 1);
        return time.Length > 0 && (time[^1] is 'Z' or 'z' || time.IndexOfAny('+', '-') > 0);
    }
}
