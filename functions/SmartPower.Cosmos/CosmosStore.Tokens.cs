using System.Text.Json.Nodes;
using SmartPower.Pipeline;

namespace SmartPower.Cosmos;

/// <summary>
/// Device tokens (the embedded broker's MQTT passwords, for a bridge that runs it in front of Event Hubs): one document
/// per device listing SHA-256 hashes, never a token itself. The Event Grid MQTT broker authenticates devices itself
/// (client certificates) and does not use these.
/// </summary>
public sealed partial class CosmosStore
{
    public async ValueTask<bool> VerifyAsync(string deviceId, string token, CancellationToken cancellationToken)
    {
        return await _credentials.VerifyAsync(deviceId, token, ReadLiveTokensAsync, cancellationToken).ConfigureAwait(false);

        async Task<byte[][]> ReadLiveTokensAsync(CancellationToken ct)
        {
            using var doc = await ReadAsync(_tokens, deviceId, deviceId, "token.read", ct).ConfigureAwait(false);
            return doc is null
                ? []
                : doc.Json.RootElement.GetProperty("tokens").EnumerateArray()
                    .Where(t => !t.TryGetProperty("revokedAt", out var revoked) || revoked.ValueKind == System.Text.Json.JsonValueKind.Null)
                    .Select(t => t.GetProperty("hash").GetBytesFromBase64())
                    .ToArray();
        }
    }

    public async Task<string> IssueAsync(string deviceId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(deviceId);
        var token = DeviceTokens.NewToken();
        var hash = Convert.ToBase64String(DeviceTokens.Hash(token));
        await ChangeTokensAsync(deviceId, tokens =>
        {
            tokens.Add(new JsonObject { ["hash"] = hash, ["issuedAt"] = _time.GetUtcNow().ToUnixTimeMilliseconds() });
            return 1;
        }, cancellationToken).ConfigureAwait(false);
        return token;
    }

    public Task<int> RevokeAsync(string deviceId, CancellationToken cancellationToken) =>
        ChangeTokensAsync(deviceId, tokens =>
        {
            var revoked = 0;
            foreach (var t in tokens)
            {
                if (t!["revokedAt"] is null)
                {
                    t["revokedAt"] = _time.GetUtcNow().ToUnixTimeMilliseconds();
                    revoked++;
                }
            }

            return revoked;
        }, cancellationToken);

    private async Task<int> ChangeTokensAsync(string deviceId, Func<JsonArray, int> change, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < MaxRetries; attempt++)
        {
            using var doc = await ReadAsync(_tokens, deviceId, deviceId, "token.read", cancellationToken).ConfigureAwait(false);
            var node = doc is null ? new JsonObject { ["id"] = deviceId, ["tokens"] = new JsonArray() } : JsonNode.Parse(doc.Json.RootElement.GetRawText())!.AsObject();
            var changed = change(node["tokens"]!.AsArray());
            if (changed == 0)
            {
                return 0;
            }

            if (await WriteIfAsync(_tokens, deviceId, deviceId, Json(node), doc?.ETag, "token.write", cancellationToken).ConfigureAwait(false) is not null)
            {
                _credentials.Changed(deviceId);
                return changed;
            }
        }

        throw new InvalidOperationException($"the tokens of {deviceId} kept changing");
    }
}
