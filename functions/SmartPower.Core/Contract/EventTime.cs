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

    public static bool TryParse(string? text, out long unixMs)
    {
        unixMs = 0;
        if (text is null || !DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var value))
        {
            return false;
        }

        unixMs = value.ToUnixTimeMilliseconds();
        return true;
    }
}
