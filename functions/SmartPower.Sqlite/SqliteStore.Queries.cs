using System.Text;
using Microsoft.Data.Sqlite;
using SmartPower.Alerts;
using SmartPower.Api;
using SmartPower.Pipeline;

namespace SmartPower.Sqlite;

/// <summary>The status API's reads: alerts by filter, newest first, in keyset pages; a site's devices.</summary>
public sealed partial class SqliteStore : IStatusStore
{
    public async Task<IReadOnlyList<StoredAlert>> QueryAlertsAsync(AlertQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.SiteIds.Count == 0 || query.Limit <= 0)
        {
            return [];
        }

        await using var connection = await OpenReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        var sql = new StringBuilder("SELECT alert_json, stored_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by, raised_to_station_at FROM alerts WHERE site_id IN (");
        var i = 0;
        foreach (var site in query.SiteIds)
        {
            sql.Append(i == 0 ? "" : ", ").Append("$s").Append(i);
            command.Parameters.AddWithValue("$s" + i++, site);
        }

        sql.Append(')');
        void Where(string condition, string name, object? value)
        {
            if (value is not null)
            {
                sql.Append(" AND ").Append(condition);
                command.Parameters.AddWithValue(name, value);
            }
        }

        Where("device_id = $device", "$device", query.DeviceId);
        Where("state = $state", "$state", query.State is { } state ? AlertNames.Of(state) : null);
        Where("type = $type", "$type", query.Type is { } type ? AlertNames.Of(type) : null);
        Where("severity = $severity", "$severity", query.Severity is { } severity ? AlertNames.Of(severity) : null);
        Where("opened_at >= $from", "$from", query.From?.ToUnixTimeMilliseconds());
        Where("opened_at < $to", "$to", query.To?.ToUnixTimeMilliseconds());
        if (query.After is { } after)
        {
            sql.Append(" AND (opened_at < $after_at OR (opened_at = $after_at AND alert_id > $after_id))");
            command.Parameters.AddWithValue("$after_at", after.OpenedAtMs);
            command.Parameters.AddWithValue("$after_id", after.AlertId);
        }

        if (query.UnresolvedOnly)
        {
            sql.Append(" AND resolved_at IS NULL");
        }

        if (query.CriticalOrRaisedToStation)
        {
            sql.Append(" AND (severity = 'critical' OR raised_to_station_at IS NOT NULL)");
        }

        sql.Append(" ORDER BY opened_at DESC, alert_id LIMIT $limit");
        command.Parameters.AddWithValue("$limit", query.Limit);
        command.CommandText = sql.ToString();
        var alerts = new List<StoredAlert>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            alerts.Add(ReadAlert(reader));
        }

        return alerts;
    }

    public async Task<IReadOnlyList<StoredDevice>> GetDevicesAsync(string siteId, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT device_id, site_id, reading, heard_at, online FROM devices WHERE site_id = $site ORDER BY device_id";
        command.Parameters.AddWithValue("$site", siteId);
        var devices = new List<StoredDevice>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            devices.Add(ReadDevice(reader));
        }

        return devices;
    }

    /// <summary>A row of <c>device_id, site_id, reading, heard_at, online</c>.</summary>
    private static StoredDevice ReadDevice(SqliteDataReader reader) => new(
        reader.GetString(0),
        reader.GetString(1),
        reader.IsDBNull(2) ? null : reader.GetString(2),
        DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(3)),
        reader.IsDBNull(4) ? null : reader.GetInt64(4) != 0);
}
