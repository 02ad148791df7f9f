using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace SmartPower.Webhooks;

/// <summary>The headers of a webhook delivery.</summary>
public static class WebhookHeaders
{
    /// <summary>Unix seconds when this attempt was signed; a receiver refuses one far from its own clock (replay).</summary>
    public const string Timestamp = "X-SmartPower-Timestamp";

    /// <summary><c>sha256=</c> and the lower-case hex HMAC-SHA256, keyed with the endpoint's secret, of <c>{timestamp}.{body}</c>.</summary>
    public const string Signature = "X-SmartPower-Signature";

    /// <summary>The notification id, the same on every retry: a receiver that has seen it drops the delivery.</summary>
    public const string IdempotencyKey = "X-SmartPower-Idempotency-Key";

    /// <summary>1 for the first attempt, 2 for the first retry, and so on.</summary>
    public const string Attempt = "X-SmartPower-Attempt";
}

/// <summary>
/// Signing and verifying deliveries: HMAC-SHA256 over the timestamp, a dot, and the body's bytes as sent (the Stripe
/// and Slack scheme), so a receiver knows the body came from whoever holds the secret and was signed recently.
/// </summary>
public static class WebhookSignature
{
    public const string Scheme = "sha256=";

    /// <summary>The <see cref="WebhookHeaders.Signature"/> value for <paramref name="body"/> signed at <paramref name="timestamp"/> (Unix seconds).</summary>
    public static string Sign(string secret, long timestamp, ReadOnlySpan<byte> body) => Scheme + Convert.ToHexStringLower(Mac(secret, timestamp, body));

    /// <summary>
    /// Whether <paramref name="signature"/> is <paramref name="body"/> signed with <paramref name="secret"/> at
    /// <paramref name="timestamp"/>, and that time is within <paramref name="tolerance"/> of <paramref name="now"/>.
    /// Compared in constant time.
    /// </summary>
    public static bool Verify(string secret, string? timestamp, ReadOnlySpan<byte> body, string? signature, DateTimeOffset now, TimeSpan tolerance)
    {
        if (!long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
            || signature is null || !signature.StartsWith(Scheme, StringComparison.Ordinal)
            || Math.Abs(now.ToUnixTimeSeconds() - seconds) > tolerance.TotalSeconds)
        {
            return false;
        }

        byte[] given;
        try
        {
            given = Convert.FromHexString(signature.AsSpan(Scheme.Length));
        }
        catch (FormatException)
        {
            return false;
        }

        return CryptographicOperations.FixedTimeEquals(given, Mac(secret, seconds, body));
    }

    private static byte[] Mac(string secret, long timestamp, ReadOnlySpan<byte> body)
    {
        ArgumentNullException.ThrowIfNull(secret);
        var prefix = Encoding.ASCII.GetBytes(timestamp.ToString(CultureInfo.InvariantCulture) + ".");
        var signed = new byte[prefix.Length + body.Length];
        prefix.CopyTo(signed, 0);
        body.CopyTo(signed.AsSpan(prefix.Length));
        return HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), signed);
    }
}
