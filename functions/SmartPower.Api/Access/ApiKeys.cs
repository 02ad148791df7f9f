using System.Security.Cryptography;
using SmartPower.Contract;
using SmartPower.Pipeline;

namespace SmartPower.Api.Access;

/// <summary>An API key as stored: never the secret itself, only its hash (kept by the store beside this).</summary>
public sealed record ApiKey(string KeyId, string Name, Role Role, string? Scope, DateTimeOffset CreatedAt)
{
    public DateTimeOffset? RevokedAt { get; init; }
}

/// <summary>Where API keys are kept, by the hash of their secret. SQLite locally.</summary>
public interface IApiKeyStore
{
    Task AddApiKeyAsync(ApiKey key, byte[] secretHash, CancellationToken cancellationToken);

    /// <summary>The live (not revoked) key whose secret hashes to <paramref name="secretHash"/>, or null.</summary>
    Task<ApiKey?> FindApiKeyAsync(byte[] secretHash, CancellationToken cancellationToken);

    Task<IReadOnlyList<ApiKey>> ListApiKeysAsync(CancellationToken cancellationToken);

    /// <summary>Revokes a key; false when there is no live key of that id.</summary>
    Task<bool> RevokeApiKeyAsync(string keyId, DateTimeOffset at, CancellationToken cancellationToken);
}

/// <summary>
/// API keys: <c>spk_</c> and 256 random bits, base64url, stored as SHA-256 hashes (the same reasoning as
/// <see cref="DeviceTokens"/>: nobody can guess a key, so a slow password hash would protect nothing). A key is
/// looked up by its hash, so comparing secrets never happens in code that could leak timing.
/// </summary>
public static class ApiKeys
{
    public const string Prefix = "spk_";

    public static byte[] Hash(string secret) => DeviceTokens.Hash(secret);

    /// <summary>Checks a new key's role and scope; null when it may be issued, otherwise what is wrong.</summary>
    public static string? Validate(Role role, string? scope, string name)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Length > 100)
        {
            return "name must be 1 to 100 characters";
        }

        return role switch
        {
            Role.Admin when scope is not null => "an admin key has no scope",
            not Role.Admin when scope is null || !Ids.IsValid(scope) => $"a {RoleNames.Of(role)} key needs a scope (its {(role == Role.PropertyManager ? "managerId" : "fireStation")}) matching the id rule",
            _ => null,
        };
    }

    /// <summary>Issues a key and returns it with its secret: the only time the secret exists in plain text.</summary>
    public static async Task<(ApiKey Key, string Secret)> IssueAsync(IApiKeyStore store, Role role, string? scope, string name, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(time);
        if (Validate(role, scope, name) is { } problem)
        {
            throw new ArgumentException(problem, nameof(scope));
        }

        var secret = Prefix + DeviceTokens.NewToken();
        var key = new ApiKey("k-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)), name, role, scope, time.GetUtcNow());
        await store.AddApiKeyAsync(key, Hash(secret), cancellationToken).ConfigureAwait(false);
        return (key, secret);
    }

    /// <summary>The caller behind a secret, or null for a missing, unknown or revoked key.</summary>
    public static async Task<Caller?> AuthenticateAsync(IApiKeyStore store, string? secret, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        if (string.IsNullOrEmpty(secret) || secret.Length > 200 || !secret.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return null;
        }

        return await store.FindApiKeyAsync(Hash(secret), cancellationToken).ConfigureAwait(false) is { } key
            ? new Caller(key.KeyId, key.Name, key.Role, key.Scope)
            : null;
    }
}
