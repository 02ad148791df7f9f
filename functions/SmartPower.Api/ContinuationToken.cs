using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace SmartPower.Api;

/// <summary>
/// Paging: a continuation token is where the last page ended (keyset paging, so a page never repeats or skips an alert
/// as new ones arrive) and a fingerprint of the query it belongs to, base64url. It is opaque to clients, and one made
/// for another query, or altered, is refused. It grants nothing: scope is checked on every request.
/// </summary>
public static class ContinuationToken
{
    private const string Version = "1";

    public static string Encode(AlertCursor cursor, string query)
    {
        var text = string.Create(CultureInfo.InvariantCulture, $"{Version}|{Fingerprint(query, cursor.OpenedAtMs, cursor.AlertId)}|{cursor.OpenedAtMs}|{cursor.AlertId}");
        return Convert.ToBase64String(Encoding.UTF8.GetBytes(text)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    /// <summary>The cursor in <paramref name="token"/>, if it is one and was made for <paramref name="query"/>.</summary>
    public static bool TryDecode(string token, string query, out AlertCursor cursor)
    {
        ArgumentNullException.ThrowIfNull(token);
        cursor = default;
        if (token.Length > 256)
        {
            return false;
        }

        var base64 = token.Replace('-', '+').Replace('_', '/');
        base64 += new string('=', (4 - (base64.Length % 4)) % 4);
        var bytes = new byte[base64.Length];
        if (!Convert.TryFromBase64String(base64, bytes, out var length))
        {
            return false;
        }

        var parts = Encoding.UTF8.GetString(bytes, 0, length).Split('|');
        if (parts.Length != 4 || parts[0] != Version
            || !long.TryParse(parts[2], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var openedAtMs)
            || !Contract.Ids.IsValid(parts[3]) || parts[1] != Fingerprint(query, openedAtMs, parts[3]))
        {
            return false;
        }

        cursor = new AlertCursor(openedAtMs, parts[3]);
        return true;
    }

    /// <summary>A check over the query and the cursor both: a token for another query, or with its cursor edited, fails it.</summary>
    private static string Fingerprint(string query, long openedAtMs, string alertId) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{query}|{openedAtMs}|{alertId}"))).AsSpan(0, 6));
}
