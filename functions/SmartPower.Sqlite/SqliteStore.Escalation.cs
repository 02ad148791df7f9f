using Microsoft.Data.Sqlite;
using SmartPower.Alerts;
using SmartPower.Escalation;
using SmartPower.Notifications;

namespace SmartPower.Sqlite;

/// <summary>
/// Escalation's side of the store: open alerts with what escalation needs to know, and each step recorded in the
/// alert's history (kind, due time, reason as the note) with its notifications, once: the history's key (alert,
/// time, kind) makes a second recording of the same step a no-op.
/// </summary>
public sealed partial class SqliteStore : IEscalationStore
{
    public async Task<IReadOnlyList<AlertWatch>> GetWatchesAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = $"""
            SELECT alert_json, stored_at, acknowledged_at, escalated, re_alarmed FROM (
                SELECT a.alert_json, a.stored_at, a.acknowledged_at, a.severity,
                    EXISTS (SELECT 1 FROM alert_transitions t WHERE t.alert_id = a.alert_id AND t.kind = '{EscalationPolicy.Escalated}') AS escalated,
                    EXISTS (SELECT 1 FROM alert_transitions t WHERE t.alert_id = a.alert_id AND t.kind = '{EscalationPolicy.ReAlarmed}') AS re_alarmed
                FROM alerts a WHERE a.state = 'open')
            WHERE NOT re_alarmed AND (acknowledged_at IS NOT NULL OR (severity = 'warning' AND NOT escalated))
            """;
        var watches = new List<AlertWatch>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            watches.Add(new AlertWatch(
                AlertJson.Parse(reader.GetString(0)),
                DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1)),
                reader.IsDBNull(2) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)),
                reader.GetInt64(3) != 0,
                reader.GetInt64(4) != 0));
        }

        return watches;
    }

    public async Task<IReadOnlyList<Notification>?> RecordAsync(EscalationStep step, IReadOnlyList<Notification> notifications, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(step);
        ArgumentNullException.ThrowIfNull(notifications);
        await _write.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var now = Stamp();
            await using var tx = (SqliteTransaction)await _writer.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using var history = Command(tx, """
                INSERT INTO alert_transitions (alert_id, kind, at, severity, stored_at, alert_json, actor, note)
                SELECT alert_id, $kind, $at, severity, $now, alert_json, NULL, $reason FROM alerts WHERE alert_id = $id
                ON CONFLICT DO NOTHING
                """);
            history.Parameters.AddWithValue("$id", step.Alert.AlertId);
            history.Parameters.AddWithValue("$kind", step.Kind);
            history.Parameters.AddWithValue("$at", step.At.ToUnixTimeMilliseconds());
            history.Parameters.AddWithValue("$now", now);
            history.Parameters.AddWithValue("$reason", step.Reason);
            if (await history.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 0)
            {
                return null;
            }

            if (step.RaisedToFireStation)
            {
                await using var raise = Command(tx, "UPDATE alerts SET raised_to_station_at = $at WHERE alert_id = $id AND raised_to_station_at IS NULL");
                raise.Parameters.AddWithValue("$at", step.At.ToUnixTimeMilliseconds());
                raise.Parameters.AddWithValue("$id", step.Alert.AlertId);
                await raise.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await WriteOutboxAsync(tx, notifications, now, cancellationToken).ConfigureAwait(false);
            await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
            return notifications; // one transaction: nobody else adds a step's notifications
        }
        finally
        {
            _write.Release();
        }
    }
}
