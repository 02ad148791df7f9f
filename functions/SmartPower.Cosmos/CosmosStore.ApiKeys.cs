using System.Text.Json.Nodes;
using SmartPower.Api.Access;

namespace SmartPower.Cosmos;

/// <summary>
/// The status API's keys. A request authenticates with one point read: the document whose id is the hash of the
/// secret. Listing and revoking go through one document that lists every key (an operator has tens of them), written
/// under its ETag, then the key's own document; a revoked key's document says so, and authentication refuses it.
/// </summary>
public sealed partial class CosmosStore : IApiKeyStore
{
    private const string KeyListId = "all-keys";

    public async Task AddApiKeyAsync(ApiKey key, byte[] secretHash, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        var hash = Convert.ToHexStringLower(secretHash);
        await ChangeKeyListAsync(keys =>
        {
            keys.Add(KeyNode(key, hash));
            return true;
        }, cancellationToken).ConfigureAwait(false);
        var node = KeyNode(key, hash);
        node["id"] = HashId(hash);
        await UpsertAsync(_apiKeys, HashId(hash), Json(node), "apikey.write", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Adds <paramref name="key"/> unless a key with this secret hash was ever stored (a revoked one stays revoked): how
    /// a deployment gets its first admin key. True when it was added.
    /// </summary>
    public async Task<bool> EnsureApiKeyAsync(ApiKey key, byte[] secretHash, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        var hash = Convert.ToHexStringLower(secretHash);
        var node = KeyNode(key, hash);
        node["id"] = HashId(hash);
        var added = await WriteIfAsync(_apiKeys, HashId(hash), HashId(hash), Json(node), null, "apikey.write", cancellationToken).ConfigureAwait(false) is not null;

        // Listed in any case: a start that stored the key but died (or failed) before listing it left a key that
        // authenticated and could be neither listed nor revoked; the next start lists it (found in review).
        await ChangeKeyListAsync(keys =>
        {
            if (keys.Any(k => k!["hash"]?.GetValue<string>() == hash))
            {
                return false;
            }

            keys.Add(KeyNode(key, hash));
            return true;
        }, cancellationToken).ConfigureAwait(false);
        return added;
    }

    public async Task<ApiKey?> FindApiKeyAsync(byte[] secretHash, CancellationToken cancellationToken)
    {
        var id = HashId(Convert.ToHexStringLower(secretHash));
        using var doc = await ReadAsync(_apiKeys, id, id, "apikey.read", cancellationToken).ConfigureAwait(false);
        var key = doc is null ? null : KeyOf(JsonNode.Parse(doc.Json.RootElement.GetRawText())!.AsObject());
        return key is { RevokedAt: null } ? key : null;
    }

    public async Task<IReadOnlyList<ApiKey>> ListApiKeysAsync(CancellationToken cancellationToken)
    {
        using var doc = await ReadAsync(_apiKeys, KeyListId, KeyListId, "apikey.read", cancellationToken).ConfigureAwait(false);
        return doc is null
            ? []
            : [.. JsonNode.Parse(doc.Json.RootElement.GetRawText())!["keys"]!.AsArray().Select(k => KeyOf(k!.AsObject())).OrderBy(k => k.CreatedAt)];
    }

    public async Task<bool> RevokeApiKeyAsync(string keyId, DateTimeOffset at, CancellationToken cancellationToken)
    {
        // Two documents, the list and the one authentication reads, written in that order. If the second write fails,
        // the key still works; revoking it again then finishes the job instead of answering "no such key".
        string? hash = null;
        var listChanged = false;
        await ChangeKeyListAsync(keys =>
        {
            listChanged = false;
            var entry = keys.Select(k => k!.AsObject()).FirstOrDefault(k => k["keyId"]!.GetValue<string>() == keyId);
            hash = entry?["hash"]!.GetValue<string>();
            if (entry is null || entry["revokedAt"] is not null)
            {
                return false;
            }

            entry["revokedAt"] = at.ToUnixTimeMilliseconds();
            return listChanged = true;
        }, cancellationToken).ConfigureAwait(false);
        if (hash is null)
        {
            return false;
        }

        using var doc = await ReadAsync(_apiKeys, HashId(hash), HashId(hash), "apikey.read", cancellationToken).ConfigureAwait(false);
        var node = doc is null ? null : JsonNode.Parse(doc.Json.RootElement.GetRawText())!.AsObject();
        if (node is null || node["revokedAt"] is not null)
        {
            return listChanged;
        }

        node["revokedAt"] = at.ToUnixTimeMilliseconds();
        await UpsertAsync(_apiKeys, HashId(hash), Json(node), "apikey.write", cancellationToken).ConfigureAwait(false);
        return true;
    }

    private static string HashId(string hash) => "hash-" + hash;

    private static JsonObject KeyNode(ApiKey key, string hash) => new()
    {
        ["keyId"] = key.KeyId,
        ["name"] = key.Name,
        ["role"] = key.Role.ToString(),
        ["scope"] = key.Scope,
        ["createdAt"] = key.CreatedAt.ToUnixTimeMilliseconds(),
        ["revokedAt"] = key.RevokedAt?.ToUnixTimeMilliseconds(),
        ["hash"] = hash,
    };

    private static ApiKey KeyOf(JsonObject node) => new(
        node["keyId"]!.GetValue<string>(),
        node["name"]!.GetValue<string>(),
        Enum.Parse<Role>(node["role"]!.GetValue<string>()),
        node["scope"]?.GetValue<string>(),
        DateTimeOffset.FromUnixTimeMilliseconds(node["createdAt"]!.GetValue<long>()))
    {
        RevokedAt = node["revokedAt"] is { } revoked ? DateTimeOffset.FromUnixTimeMilliseconds(revoked.GetValue<long>()) : null,
    };

    /// <summary>Applies <paramref name="change"/> to the list of keys under its ETag; false (nothing written) when it changed nothing.</summary>
    private async Task<bool> ChangeKeyListAsync(Func<JsonArray, bool> change, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < MaxRetries; attempt++)
        {
            using var doc = await ReadAsync(_apiKeys, KeyListId, KeyListId, "apikey.read", cancellationToken).ConfigureAwait(false);
            var node = doc is null ? new JsonObject { ["id"] = KeyListId, ["keys"] = new JsonArray() } : JsonNode.Parse(doc.Json.RootElement.GetRawText())!.AsObject();
            if (!change(node["keys"]!.AsArray()))
            {
                return false;
            }

            if (await WriteIfAsync(_apiKeys, KeyListId, KeyListId, Json(node), doc?.ETag, "apikey.write", cancellationToken).ConfigureAwait(false) is not null)
            {
                return true;
            }
        }

        throw new InvalidOperationException("the list of API keys kept changing");
    }
}
