using System.Text;
using Microsoft.Data.Sqlite;
using SmartPower.Alerts;
using SmartPower.Pipeline;

namespace SmartPower.Sqlite;

/// <summary>Where the SQLite store lives and how it behaves.</summary>
public sealed class SqliteStoreOptions
{
    /// <summary>The database file; created with its schema if missing.</summary>
    public string Path { get; set; } = "smartpower.db";

    /// <summary>How long a verified device token is trusted before the database is asked again.</summary>
    public TimeSpan CredentialCacheTtl { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Whether each commit is on disk before it returns (<c>synchronous = FULL</c>). In WAL mode <c>NORMAL</c> may roll
    /// committed transactions back after a power cut, and a checkpoint that rolls back behind log segments already
    /// released for it stops its partition for good (found in review). Off only with the host's <c>--no-fsync</c>.
    /// </summary>
    public bool FlushToDisk { get; set; } = true;
}

/// <summary>
/// The zero-setup store of the local host: one SQLite file in WAL mode (readers never block the writer). Writes are
/// serialised through one connection, each batch in one transaction, so a batch's alerts, device status and
/// checkpoint land together or not at all. Alerts are upserted by their deterministic id and only ever move forward
/// in event time; transitions are keyed by (alert, time, kind), so a replayed batch changes nothing.
/// </summary>
public sealed partial class SqliteStore : IPipelineStore, IDeviceCredentials, IAsyncDisposable
{
    private readonly SqliteConnection _writer;
    private readonly SemaphoreSlim _write = new(1, 1);
    private long _lastStamp;
    private readonly string _connectionString;
    private readonly TimeProvider _time;
    private readonly TokenHashCache _credentials;

    private SqliteStore(SqliteConnection writer, string connectionString, TimeProvider time, TimeSpan credentialTtl)
    {
        _writer = writer;
        _connectionString = connectionString;
        _time = time;
        _credentials = new TokenHashCache(credentialTtl, time);
    }

    /// <summary>The schema version this code writes (the number of migrations).</summary>
    public static int SchemaVersion => Migrations.All.Length;

    /// <summary>Opens (creating and migrating as needed) the store at <see cref="SqliteStoreOptions.Path"/>.</summary>
    public static async Task<SqliteStore> OpenAsync(SqliteStoreOptions options, TimeProvider? time = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(options.Path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }

        var connectionString = new SqliteConnectionStringBuilder { DataSource = options.Path, Pooling = true, DefaultTimeout = 30 }.ToString();
        var writer = new SqliteConnection(connectionString);
        await writer.OpenAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(writer, $"PRAGMA journal_mode = WAL; PRAGMA synchronous = {(options.FlushToDisk ? "FULL" : "NORMAL")}; PRAGMA busy_timeout = 30000;", cancellationToken).ConfigureAwait(false);
        await MigrateAsync(writer, cancellationToken).ConfigureAwait(false);
        return new SqliteStore(writer, connectionString, time ?? TimeProvider.System, options.CredentialCacheTtl);
    }

    public async Task<PartitionCheckpoint?> LoadCheckpointAsync(int partition, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT position, state FROM checkpoints WHERE partition = $p";
        command.Parameters.AddWithValue("$p", partition);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false)
            ? new PartitionCheckpoint(partition, reader.GetInt64(0), (byte[])reader.GetValue(1))
            : null;
    }

    public async Task CommitAsync(BatchCommit batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        await _write.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var now = Stamp();
            await using var tx = (SqliteTransaction)await _writer.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            if (batch.Transitions.Count > 0)
            {
                await WriteTransitionsAsync(tx, batch.Transitions, now, cancellationToken).ConfigureAwait(false);
            }

            if (batch.Notifications.Count > 0)
            {
                await WriteOutboxAsync(tx, batch.Notifications, now, cancellationToken).ConfigureAwait(false);
            }

            if (batch.Devices.Count > 0)
            {
                await WriteDevicesAsync(tx, batch.Devices, cancellationToken).ConfigureAwait(false);
            }

            if (batch.Checkpoint is { } checkpoint)
            {
                await using var command = Command(tx, "INSERT INTO checkpoints (partition, position, state, saved_at) VALUES ($p, $pos, $s, $now) "
                    + "ON CONFLICT (partition) DO UPDATE SET position = excluded.position, state = excluded.state, saved_at = excluded.saved_at");
                command.Parameters.AddWithValue("$p", checkpoint.Partition);
                command.Parameters.AddWithValue("$pos", checkpoint.Position);
                command.Parameters.AddWithValue("$s", checkpoint.EngineState.ToArray());
                command.Parameters.AddWithValue("$now", now);
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _write.Release();
        }
    }

    /// <summary>Every alert, optionally of one site, newest first.</summary>
    public async Task<IReadOnlyList<StoredAlert>> GetAlertsAsync(string? siteId = null, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT alert_json, stored_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by, raised_to_station_at FROM alerts" + (siteId is null ? "" : " WHERE site_id = $site")
            + " ORDER BY opened_at DESC, alert_id";
        if (siteId is not null)
        {
            command.Parameters.AddWithValue("$site", siteId);
        }

        var alerts = new List<StoredAlert>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            alerts.Add(ReadAlert(reader));
        }

        return alerts;
    }

    /// <summary>One alert's transitions, oldest first.</summary>
    public async Task<IReadOnlyList<StoredTransition>> GetTransitionsAsync(string alertId, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT kind, at, alert_json, stored_at, actor, note FROM alert_transitions WHERE alert_id = $id ORDER BY stored_at, at, kind";
        command.Parameters.AddWithValue("$id", alertId);
        var transitions = new List<StoredTransition>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            transitions.Add(new StoredTransition(
                reader.GetString(0),
                DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1)),
                AlertJson.Parse(reader.GetString(2)),
                DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(3)))
            {
                Actor = reader.IsDBNull(4) ? null : reader.GetString(4),
                Note = reader.IsDBNull(5) ? null : reader.GetString(5),
            });
        }

        return transitions;
    }

    /// <summary>Open alerts, by severity name.</summary>
    public async Task<IReadOnlyDictionary<string, long>> CountOpenAlertsAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT severity, COUNT(*) FROM alerts WHERE state = 'open' GROUP BY severity";
        var counts = new SortedDictionary<string, long>(StringComparer.Ordinal) { ["critical"] = 0, ["warning"] = 0 };
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            counts[reader.GetString(0)] = reader.GetInt64(1);
        }

        return counts;
    }

    /// <summary>A device's latest status as stored, or null if never heard.</summary>
    public async Task<StoredDevice?> GetDeviceAsync(string deviceId, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT device_id, site_id, reading, heard_at, online FROM devices WHERE device_id = $id";
        command.Parameters.AddWithValue("$id", deviceId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? ReadDevice(reader) : null;
    }

    /// <summary>One alert as stored, or null.</summary>
    public async Task<StoredAlert?> GetAlertAsync(string alertId, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT alert_json, stored_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by, raised_to_station_at FROM alerts WHERE alert_id = $id";
        command.Parameters.AddWithValue("$id", alertId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? ReadAlert(reader) : null;
    }

    /// <summary>A person acknowledges an alert: recorded once (a second acknowledgement changes nothing) in its history.</summary>
    public Task<HumanActOutcome> AcknowledgeAsync(string alertId, string actor, string? note, CancellationToken cancellationToken = default) =>
        ActAsync(alertId, "acknowledged", "acknowledged_at", "acknowledged_by", actor, note, cancellationToken);

    /// <summary>A person resolves an alert (the hazard dealt with): recorded once in its history; it also counts as acknowledged.</summary>
    public Task<HumanActOutcome> ResolveAsync(string alertId, string actor, string? note, CancellationToken cancellationToken = default) =>
        ActAsync(alertId, "resolved", "resolved_at", "resolved_by", actor, note, cancellationToken);

    public async ValueTask<bool> VerifyAsync(string deviceId, string token, CancellationToken cancellationToken)
    {
        return await _credentials.VerifyAsync(deviceId, token, ReadLiveTokensAsync, cancellationToken).ConfigureAwait(false);

        async Task<byte[][]> ReadLiveTokensAsync(CancellationToken ct)
        {
            await using var connection = await OpenReaderAsync(ct).ConfigureAwait(false);
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT token_hash FROM device_tokens WHERE device_id = $id AND revoked_at IS NULL";
            command.Parameters.AddWithValue("$id", deviceId);
            var hashes = new List<byte[]>();
            await using (var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false))
            {
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    hashes.Add((byte[])reader.GetValue(0));
                }
            }

            return [.. hashes];
        }
    }

    public async Task<string> IssueAsync(string deviceId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(deviceId);
        var token = DeviceTokens.NewToken();
        await WriteAsync(
            "INSERT INTO device_tokens (device_id, token_hash, issued_at) VALUES ($id, $h, $now)",
            c => c.Parameters.AddWithValue("$h", DeviceTokens.Hash(token)),
            deviceId,
            cancellationToken).ConfigureAwait(false);
        return token;
    }

    public Task<int> RevokeAsync(string deviceId, CancellationToken cancellationToken) =>
        WriteAsync("UPDATE device_tokens SET revoked_at = $now WHERE device_id = $id AND revoked_at IS NULL", null, deviceId, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _writer.DisposeAsync().ConfigureAwait(false);
        _write.Dispose();
    }

    private async Task<int> WriteAsync(string sql, Action<SqliteCommand>? bind, string deviceId, CancellationToken cancellationToken)
    {
        await _write.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var command = _writer.CreateCommand();
            command.CommandText = sql;
            command.Parameters.AddWithValue("$id", deviceId);
            command.Parameters.AddWithValue("$now", _time.GetUtcNow().ToUnixTimeMilliseconds());
            bind?.Invoke(command);
            var changed = await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            _credentials.Changed(deviceId);
            return changed;
        }
        finally
        {
            _write.Release();
        }
    }

    private async Task<HumanActOutcome> ActAsync(string alertId, string kind, string atColumn, string byColumn, string actor, string? note, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(actor);
        await _write.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var now = Stamp();
            await using var tx = (SqliteTransaction)await _writer.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using var update = Command(tx, $"UPDATE alerts SET {atColumn} = $now, {byColumn} = $actor WHERE alert_id = $id AND {atColumn} IS NULL");
            update.Parameters.AddWithValue("$now", now);
            update.Parameters.AddWithValue("$actor", actor);
            update.Parameters.AddWithValue("$id", alertId);
            if (await update.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 0)
            {
                await using var exists = Command(tx, "SELECT COUNT(*) FROM alerts WHERE alert_id = $id");
                exists.Parameters.AddWithValue("$id", alertId);
                return (long)(await exists.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))! == 0 ? HumanActOutcome.NotFound : HumanActOutcome.AlreadyDone;
            }

            if (kind == "resolved")
            {
                await using var ack = Command(tx, "UPDATE alerts SET acknowledged_at = $now, acknowledged_by = $actor WHERE alert_id = $id AND acknowledged_at IS NULL");
                ack.Parameters.AddWithValue("$now", now);
                ack.Parameters.AddWithValue("$actor", actor);
                ack.Parameters.AddWithValue("$id", alertId);
                await ack.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await using var history = Command(tx, """
                INSERT INTO alert_transitions (alert_id, kind, at, severity, stored_at, alert_json, actor, note)
                SELECT alert_id, $kind, $now, severity, $now, alert_json, $actor, $note FROM alerts WHERE alert_id = $id
                ON CONFLICT DO NOTHING
                """);
            history.Parameters.AddWithValue("$kind", kind);
            history.Parameters.AddWithValue("$now", now);
            history.Parameters.AddWithValue("$actor", actor);
            history.Parameters.AddWithValue("$note", (object?)note ?? DBNull.Value);
            history.Parameters.AddWithValue("$id", alertId);
            await history.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
            return HumanActOutcome.Done;
        }
        finally
        {
            _write.Release();
        }
    }

    /// <summary>The wall-clock time of a write (<see cref="WriteStamp"/>; called under the write lock).</summary>
    private long Stamp() => _lastStamp = WriteStamp.Next(_lastStamp, _time.GetUtcNow().ToUnixTimeMilliseconds());

    private static StoredAlert ReadAlert(SqliteDataReader reader)
    {
        static DateTimeOffset? Time(SqliteDataReader r, int i) => r.IsDBNull(i) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(i));
        return new StoredAlert(AlertJson.Parse(reader.GetString(0)), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1)))
        {
            AcknowledgedAt = Time(reader, 2),
            AcknowledgedBy = reader.IsDBNull(3) ? null : reader.GetString(3),
            ResolvedAt = Time(reader, 4),
            ResolvedBy = reader.IsDBNull(5) ? null : reader.GetString(5),
            RaisedToStationAt = Time(reader, 6),
        };
    }

    private static async Task WriteTransitionsAsync(SqliteTransaction tx, IReadOnlyList<AlertTransition> transitions, long now, CancellationToken cancellationToken)
    {
        await using var upsert = Command(tx, """
            INSERT INTO alerts (alert_id, site_id, device_id, type, severity, port, state, opened_at, cleared_at, updated_at, stored_at, alert_json)
            VALUES ($id, $site, $device, $type, $severity, $port, $state, $opened, $cleared, $at, $now, $json)
            ON CONFLICT (alert_id) DO UPDATE SET severity = excluded.severity, state = excluded.state, cleared_at = excluded.cleared_at,
                updated_at = excluded.updated_at, alert_json = excluded.alert_json
            WHERE excluded.updated_at >= alerts.updated_at
            """);
        await using var history = Command(tx, """
            INSERT INTO alert_transitions (alert_id, kind, at, severity, stored_at, alert_json) VALUES ($id, $kind, $at, $severity, $now, $json)
            ON CONFLICT DO NOTHING
            """);
        foreach (var transition in transitions)
        {
            var alert = transition.Alert;
            var json = AlertJson.ToJson(alert);
            upsert.Parameters.Clear();
            upsert.Parameters.AddWithValue("$id", alert.AlertId);
            upsert.Parameters.AddWithValue("$site", alert.SiteId);
            upsert.Parameters.AddWithValue("$device", alert.DeviceId);
            upsert.Parameters.AddWithValue("$type", AlertNames.Of(alert.Type));
            upsert.Parameters.AddWithValue("$severity", AlertNames.Of(alert.Severity));
            upsert.Parameters.AddWithValue("$port", (object?)alert.Port ?? DBNull.Value);
            upsert.Parameters.AddWithValue("$state", AlertNames.Of(alert.State));
            upsert.Parameters.AddWithValue("$opened", alert.OpenedAt.ToUnixTimeMilliseconds());
            upsert.Parameters.AddWithValue("$cleared", (object?)alert.ClearedAt?.ToUnixTimeMilliseconds() ?? DBNull.Value);
            upsert.Parameters.AddWithValue("$at", transition.AtMs);
            upsert.Parameters.AddWithValue("$now", now);
            upsert.Parameters.AddWithValue("$json", json);
            await upsert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);

            history.Parameters.Clear();
            history.Parameters.AddWithValue("$id", alert.AlertId);
            history.Parameters.AddWithValue("$kind", AlertNames.Of(transition.Kind));
            history.Parameters.AddWithValue("$at", transition.AtMs);
            history.Parameters.AddWithValue("$severity", AlertNames.Of(alert.Severity));
            history.Parameters.AddWithValue("$now", now);
            history.Parameters.AddWithValue("$json", json);
            await history.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task WriteDevicesAsync(SqliteTransaction tx, IReadOnlyList<DeviceLatest> devices, CancellationToken cancellationToken)
    {
        await using var upsert = Command(tx, """
            INSERT INTO devices (device_id, site_id, reading, heard_at, online) VALUES ($id, $site, $reading, $heard, $online)
            ON CONFLICT (device_id) DO UPDATE SET site_id = excluded.site_id, reading = coalesce(excluded.reading, devices.reading),
                heard_at = max(excluded.heard_at, devices.heard_at), online = coalesce(excluded.online, devices.online)
            """);
        foreach (var device in devices)
        {
            upsert.Parameters.Clear();
            upsert.Parameters.AddWithValue("$id", device.DeviceId);
            upsert.Parameters.AddWithValue("$site", device.SiteId);
            upsert.Parameters.AddWithValue("$reading", device.Reading is { } r ? Encoding.UTF8.GetString(r.Span) : DBNull.Value);
            upsert.Parameters.AddWithValue("$heard", device.ArrivedAtMs);
            upsert.Parameters.AddWithValue("$online", device.Online is { } online ? (online ? 1 : 0) : DBNull.Value);
            await upsert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static SqliteCommand Command(SqliteTransaction tx, string sql)
    {
        var command = tx.Connection!.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        return command;
    }

    private async Task<SqliteConnection> OpenReaderAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        return connection;
    }

    private static async Task ExecuteAsync(SqliteConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task MigrateAsync(SqliteConnection connection, CancellationToken cancellationToken)
    {
        await using var version = connection.CreateCommand();
        version.CommandText = "PRAGMA user_version";
        var current = Convert.ToInt32(await version.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
        if (current > Migrations.All.Length)
        {
            throw new InvalidOperationException(
                $"the database has schema version {current}, newer than this program's {Migrations.All.Length}: upgrade SmartPower or use another --db file");
        }

        for (var i = current; i < Migrations.All.Length; i++)
        {
            await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using (var step = Command(tx, Migrations.All[i] + $"\nPRAGMA user_version = {i + 1};"))
            {
                await step.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}
