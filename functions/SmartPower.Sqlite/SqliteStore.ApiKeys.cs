using Microsoft.Data.Sqlite;
using SmartPower.Api.Access;

namespace SmartPower.Sqlite;

/// <summary>The status API's keys: stored by the hash of their secret, found by it, revoked by id.</summary>
public sealed partial class SqliteStore : IApiKeyStore
{
    private const string KeyColumns = "key_id, name, role, scope, created_at, revoked_at";

    public async Task AddApiKeyAsync(ApiKey key, byte[] secretHash, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        await WriteKeysAsync(
            "INSERT INTO api_keys (key_id, key_hash, role, scope, name, created_at) VALUES ($id, $hash, $role, $scope, $name, $at)",
            c =>
            {
                c.Parameters.AddWithValue("$id", key.KeyId);
                c.Parameters.AddWithValue("$hash", secretHash);
                c.Parameters.AddWithValue("$role", RoleNames.Of(key.Role));
                c.Parameters.AddWithValue("$scope", (object?)key.Scope ?? DBNull.Value);
                c.Parameters.AddWithValue("$name", key.Name);
                c.Parameters.AddWithValue("$at", key.CreatedAt.ToUnixTimeMilliseconds());
            },
            cancellationToken).ConfigureAwait(false);
    }

    public async Task<ApiKey?> FindApiKeyAsync(byte[] secretHash, CancellationToken cancellationToken) =>
        (await ReadKeysAsync($"SELECT {KeyColumns} FROM api_keys WHERE key_hash = $hash AND revoked_at IS NULL", c => c.Parameters.AddWithValue("$hash", secretHash), cancellationToken).ConfigureAwait(false))
            .SingleOrDefault();

    public Task<IReadOnlyList<ApiKey>> ListApiKeysAsync(CancellationToken cancellationToken) =>
        ReadKeysAsync($"SELECT {KeyColumns} FROM api_keys ORDER BY created_at, key_id", null, cancellationToken);

    public async Task<bool> RevokeApiKeyAsync(string keyId, DateTimeOffset at, CancellationToken cancellationToken) =>
        await WriteKeysAsync(
            "UPDATE api_keys SET revoked_at = $at WHERE key_id = $id AND revoked_at IS NULL",
            c =>
            {
                c.Parameters.AddWithValue("$id", keyId);
                c.Parameters.AddWithValue("$at", at.ToUnixTimeMilliseconds());
            },
            cancellationToken).ConfigureAwait(false) == 1;

    private async Task<IReadOnlyList<ApiKey>> ReadKeysAsync(string sql, Action<SqliteCommand>? bind, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        bind?.Invoke(command);
        var keys = new List<ApiKey>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            if (!RoleNames.TryParse(reader.GetString(2), out var role))
            {
                continue; // a role this version does not know grants nothing
            }

            keys.Add(new ApiKey(reader.GetString(0), reader.GetString(1), role, reader.IsDBNull(3) ? null : reader.GetString(3), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(4)))
            {
                RevokedAt = reader.IsDBNull(5) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(5)),
            });
        }

        return keys;
    }

    private async Task<int> WriteKeysAsync(string sql, Action<SqliteCommand> bind, CancellationToken cancellationToken)
    {
        await _write.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var command = _writer.CreateCommand();
            command.CommandText = sql;
            bind(command);
            return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _write.Release();
        }
    }
}
