using SmartPower.Api.Access;

namespace SmartPower.Api;

/// <summary>An admin key's endpoints: API keys and device tokens. Any other key gets 403, whatever it names.</summary>
public sealed partial class StatusApi
{
    /// <summary><c>GET me</c>: the calling key's own role and scope (a console learns its fire station from it).</summary>
    public Task<ApiResult> MeAsync(string? apiKey, CancellationToken cancellationToken) =>
        AsCallerAsync(apiKey, caller => Task.FromResult(ApiResult.Ok(new CallerView(caller.KeyId, caller.Name, RoleNames.Of(caller.Role), caller.Scope), ApiJson.Default.CallerView)), cancellationToken);

    /// <summary><c>GET keys</c>: every key, live and revoked, without secrets.</summary>
    public Task<ApiResult> ListKeysAsync(string? apiKey, CancellationToken cancellationToken) =>
        AsAdminAsync(apiKey, async () =>
        {
            var keys = await _keys.ListApiKeysAsync(cancellationToken).ConfigureAwait(false);
            return ApiResult.Ok<IReadOnlyList<ApiKeyView>>([.. keys.Select(KeyView)], ApiJson.Default.IReadOnlyListApiKeyView);
        }, cancellationToken);

    /// <summary><c>POST keys</c> with <c>{"role": ..., "scope": ..., "name": ...}</c>: 201 with the secret, shown this once.</summary>
    public Task<ApiResult> IssueKeyAsync(string? apiKey, ReadOnlyMemory<byte> body, CancellationToken cancellationToken) =>
        AsAdminAsync(apiKey, async () =>
        {
            if (TryRead(body, ApiJson.Default.ApiKeyRequest, out var request) is { } invalid)
            {
                return invalid;
            }

            if (!RoleNames.TryParse(request?.Role, out var role))
            {
                return ApiResult.BadRequest("role must be property-manager, duty-officer or admin");
            }

            var name = request!.Name?.Trim() ?? "";
            if (ApiKeys.Validate(role, request.Scope, name) is { } problem)
            {
                return ApiResult.BadRequest(problem);
            }

            var (key, secret) = await ApiKeys.IssueAsync(_keys, role, request.Scope, name, _time, cancellationToken).ConfigureAwait(false);
            return ApiResult.Ok(new IssuedApiKey(KeyView(key), secret), ApiJson.Default.IssuedApiKey, 201);
        }, cancellationToken);

    /// <summary><c>DELETE keys/{keyId}</c>: the key stops working at once.</summary>
    public Task<ApiResult> RevokeKeyAsync(string? apiKey, string keyId, CancellationToken cancellationToken) =>
        AsAdminAsync(apiKey, async () => await _keys.RevokeApiKeyAsync(keyId, _time.GetUtcNow(), cancellationToken).ConfigureAwait(false)
            ? ApiResult.Ok(new Revocation(1), ApiJson.Default.Revocation)
            : ApiResult.NotFound("live API key"), cancellationToken);

    /// <summary><c>POST devices/{deviceId}/tokens</c>: a new MQTT password for a registered device, shown this once.</summary>
    public Task<ApiResult> IssueDeviceTokenAsync(string? apiKey, string deviceId, CancellationToken cancellationToken) =>
        AsAdminAsync(apiKey, async () => _registry.TryGetDevice(deviceId, out _)
            ? ApiResult.Ok(new IssuedDeviceToken(deviceId, await _tokens.IssueAsync(deviceId, cancellationToken).ConfigureAwait(false)), ApiJson.Default.IssuedDeviceToken, 201)
            : ApiResult.NotFound("device"), cancellationToken);

    /// <summary><c>DELETE devices/{deviceId}/tokens</c>: every token of the device stops working.</summary>
    public Task<ApiResult> RevokeDeviceTokensAsync(string? apiKey, string deviceId, CancellationToken cancellationToken) =>
        AsAdminAsync(apiKey, async () => _registry.TryGetDevice(deviceId, out _)
            ? ApiResult.Ok(new Revocation(await _tokens.RevokeAsync(deviceId, cancellationToken).ConfigureAwait(false)), ApiJson.Default.Revocation)
            : ApiResult.NotFound("device"), cancellationToken);

    private static ApiKeyView KeyView(ApiKey key) => new(key.KeyId, key.Name, RoleNames.Of(key.Role), key.Scope, key.CreatedAt, key.RevokedAt);

    private Task<ApiResult> AsAdminAsync(string? apiKey, Func<Task<ApiResult>> handle, CancellationToken cancellationToken) =>
        AsCallerAsync(apiKey, caller => caller.Role == Role.Admin ? handle() : Task.FromResult(ApiResult.Forbidden("only an admin key manages keys and device tokens")), cancellationToken);
}
