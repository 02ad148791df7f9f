using System.Security.Cryptography;
using System.Text;

namespace SmartPower.Pipeline;

/// <summary>
/// Checks a device's MQTT password (its token) and issues or revokes tokens. Implemented by the store, which keeps
/// only hashes.
/// </summary>
public interface IDeviceCredentials
{
    ValueTask<bool> VerifyAsync(string deviceId, string token, CancellationToken cancellationToken);

    /// <summary>Issues a new token for the device and returns it; this is the only time it exists in plain text.</summary>
    Task<string> IssueAsync(string deviceId, CancellationToken cancellationToken);

    /// <summary>Revokes every token of the device; returns how many were live.</summary>
    Task<int> RevokeAsync(string deviceId, CancellationToken cancellationToken);
}

/// <summary>
/// Device tokens: 32 random bytes, base64url. A token has 256 bits of entropy, so a plain SHA-256 is the right hash
/// (a slow password hash protects guessable human passwords; nobody can guess these, and the broker must check ten
/// thousand of them in a reconnect storm). Compared in constant time.
/// </summary>
public static class DeviceTokens
{
    public static string NewToken() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static byte[] Hash(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        return SHA256.HashData(Encoding.UTF8.GetBytes(token));
    }

    public static bool Matches(string token, ReadOnlySpan<byte> hash) =>
        CryptographicOperations.FixedTimeEquals(Hash(token), hash);

    /// <summary>Whether <paramref name="token"/> is any of a device's live tokens; every hash is compared, so the time says nothing.</summary>
    public static bool MatchesAny(string token, IEnumerable<byte[]> hashes)
    {
        ArgumentNullException.ThrowIfNull(hashes);
        var match = false;
        foreach (var hash in hashes)
        {
            match |= Matches(token, hash);
        }

        return match;
    }
}

/// <summary>
/// A store's cache of each device's live token hashes, kept for a while (a reconnect storm checks thousands). A write
/// of any device's tokens (issue, revoke) makes every entry read before it stale, so that a verification that read the
/// hashes before a revocation committed cannot put the revoked token back in the cache after the revocation dropped it
/// (found in review: it was taken again for the cache's 30 s). Thread-safe.
/// </summary>
public sealed class TokenHashCache(TimeSpan ttl, TimeProvider time)
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (byte[][] Hashes, long At, long Generation)> _entries = new(StringComparer.Ordinal);
    private long _generation;

    /// <summary>Whether <paramref name="token"/> is one of the device's live tokens, from the cache or read afresh with <paramref name="read"/>.</summary>
    public async ValueTask<bool> VerifyAsync(string deviceId, string token, Func<CancellationToken, Task<byte[][]>> read, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(deviceId);
        ArgumentNullException.ThrowIfNull(token);
        ArgumentNullException.ThrowIfNull(read);
        var now = time.GetTimestamp();
        var generation = Interlocked.Read(ref _generation);
        if (!_entries.TryGetValue(deviceId, out var cached) || time.GetElapsedTime(cached.At, now) > ttl || cached.Generation != generation)
        {
            cached = (await read(cancellationToken).ConfigureAwait(false), now, generation);
            _entries[deviceId] = cached;
        }

        return DeviceTokens.MatchesAny(token, cached.Hashes);
    }

    /// <summary>The device's tokens were written (called once the write is durable).</summary>
    public void Changed(string deviceId)
    {
        Interlocked.Increment(ref _generation);
        _entries.TryRemove(deviceId, out _);
    }
}
