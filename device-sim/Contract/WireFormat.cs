using System.Globalization;
using System.Text;

namespace SmartPower.DeviceSim.Contract;

/// <summary>Invariant-culture number and timestamp formatting for the wire format.</summary>
internal static class Format
{
    /// <summary>RFC 3339 UTC with millisecond precision, as the contract's <c>ts</c>.</summary>
    public static string Ts(DateTimeOffset t) =>
        t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    public static void Num(StringBuilder sb, string prefix, double value, int decimals)
    {
        // Adding 0.0 turns a rounded -0 into +0.
        var r = Math.Round(value, decimals) + 0.0;
        sb.Append(prefix);
        switch (decimals)
        {
            case 1:
                sb.Append(r.ToString("F1", CultureInfo.InvariantCulture));
                break;
            case 2:
                sb.Append(r.ToString("F2", CultureInfo.InvariantCulture));
                break;
            default:
                sb.Append(r.ToString("F3", CultureInfo.InvariantCulture));
                break;
        }
    }
}
