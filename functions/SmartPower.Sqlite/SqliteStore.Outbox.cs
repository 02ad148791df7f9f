using Microsoft.Data.Sqlite;
using SmartPower.Notifications;

namespace SmartPower.Sqlite;

/// <summary>
/// The notification outbox: rows written in the transaction of the history step they tell of (keyed by the
/// notification id, so a replay writes nothing), taken by the dispatcher when due, and every delivery attempt.
/// </summary>
public sealed partial class SqliteStore : IOutboxStore
{
    public async Task<IReadOnlyList<PendingNotification>> GetDueAsync(DateTimeOffset now, int max, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT notification_id, recipient_kind, recipient_id, body, attempts, created_at FROM (
                SELECT *, ROW_NUMBER() OVER (PARTITION BY recipient_kind, recipient_id ORDER BY next_attempt_at, created_at, notification_id) AS turn
                FROM outbox WHERE state = 'pending' AND (next_attempt_at <= $now OR next_attempt_at > $stepped))
            ORDER BY turn, next_attempt_at, created_at, notification_id LIMIT $max
            """;
        command.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("$stepped", (now + IOutboxStore.FurthestRetry).ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("$max", max);
        var due = new List<PendingNotification>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            due.Add(new PendingNotification(
                reader.GetString(0),
                ReadRecipient(reader, 1),
                reader.GetString(3),
                reader.GetInt32(4),
                DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(5))));
        }

        return due;
    }

    public async Task<DateTimeOffset?> GetNextDueAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT min(next_attempt_at) FROM outbox WHERE state = 'pending'";
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is long next ? DateTimeOffset.FromUnixTimeMilliseconds(next) : null;
    }

    public async Task RecordAttemptAsync(string notificationId, DeliveryAttempt attempt, DeliveryState state, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        await _write.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var tx = (SqliteTransaction)await _writer.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using (var insert = Command(tx, """
                INSERT INTO delivery_attempts (notification_id, attempt, at, status_code, error, duration_ms, next_attempt_at)
                VALUES ($id, $attempt, $at, $status, $error, $duration, $next) ON CONFLICT DO NOTHING
                """))
            {
                insert.Parameters.AddWithValue("$id", notificationId);
                insert.Parameters.AddWithValue("$attempt", attempt.Attempt);
                insert.Parameters.AddWithValue("$at", attempt.At.ToUnixTimeMilliseconds());
                insert.Parameters.AddWithValue("$status", (object?)attempt.StatusCode ?? DBNull.Value);
                insert.Parameters.AddWithValue("$error", (object?)attempt.Error ?? DBNull.Value);
                insert.Parameters.AddWithValue("$duration", (long)attempt.Duration.TotalMilliseconds);
                insert.Parameters.AddWithValue("$next", (object?)attempt.NextAttemptAt?.ToUnixTimeMilliseconds() ?? DBNull.Value);
                if (await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 0)
                {
                    return; // this attempt is recorded already: the first record stands (as in the Cosmos DB store)
                }
            }

            // Only a pending notification changes state: one delivered or given up on stays so.
            await using (var update = Command(tx, "UPDATE outbox SET state = $state, attempts = $attempt, next_attempt_at = $next WHERE notification_id = $id AND state = 'pending'"))
            {
                update.Parameters.AddWithValue("$id", notificationId);
                update.Parameters.AddWithValue("$state", DeliveryStates.Of(state));
                update.Parameters.AddWithValue("$attempt", attempt.Attempt);
                update.Parameters.AddWithValue("$next", (object?)attempt.NextAttemptAt?.ToUnixTimeMilliseconds() ?? DBNull.Value);
                await update.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _write.Release();
        }
    }

    public async Task<IReadOnlyList<NotificationDelivery>> GetDeliveriesAsync(string alertId, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReaderAsync(cancellationToken).ConfigureAwait(false);
        var attempts = new Dictionary<string, List<DeliveryAttempt>>(StringComparer.Ordinal);
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = """
                SELECT d.notification_id, d.attempt, d.at, d.status_code, d.error, d.duration_ms, d.next_attempt_at
                FROM delivery_attempts d JOIN outbox o ON o.notification_id = d.notification_id
                WHERE o.alert_id = $id ORDER BY d.notification_id, d.attempt
                """;
            command.Parameters.AddWithValue("$id", alertId);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var id = reader.GetString(0);
                if (!attempts.TryGetValue(id, out var list))
                {
                    attempts[id] = list = [];
                }

                list.Add(new DeliveryAttempt(
                    reader.GetInt32(1),
                    DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)),
                    reader.IsDBNull(3) ? null : reader.GetInt32(3),
                    reader.IsDBNull(4) ? null : reader.GetString(4),
                    TimeSpan.FromMilliseconds(reader.GetInt64(5)),
                    reader.IsDBNull(6) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(6))));
            }
        }

        var deliveries = new List<NotificationDelivery>();
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = """
                SELECT notification_id, kind, at, recipient_kind, recipient_id, state, created_at FROM outbox
                WHERE alert_id = $id ORDER BY at, created_at, recipient_kind DESC, recipient_id
                """;
            command.Parameters.AddWithValue("$id", alertId);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var id = reader.GetString(0);
                deliveries.Add(new NotificationDelivery(
                    id,
                    alertId,
                    reader.GetString(1),
                    DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)),
                    ReadRecipient(reader, 3),
                    DeliveryStates.Parse(reader.GetString(5)),
                    DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(6)),
                    attempts.TryGetValue(id, out var list) ? list : []));
            }
        }

        return deliveries;
    }

    /// <summary>Writes notifications into the outbox within <paramref name="tx"/>; one already there (same id) is left as it is.</summary>
    private static async Task WriteOutboxAsync(SqliteTransaction tx, IReadOnlyList<Notification> notifications, long now, CancellationToken cancellationToken)
    {
        await using var insert = Command(tx, """
            INSERT INTO outbox (notification_id, alert_id, kind, at, recipient_kind, recipient_id, body, created_at, state, attempts, next_attempt_at)
            VALUES ($id, $alert, $kind, $at, $rkind, $rid, $body, $now, 'pending', 0, $newlyDue)
            ON CONFLICT (notification_id) DO NOTHING
            """);
        foreach (var n in notifications)
        {
            insert.Parameters.Clear();
            insert.Parameters.AddWithValue("$id", n.NotificationId);
            insert.Parameters.AddWithValue("$alert", n.AlertId);
            insert.Parameters.AddWithValue("$kind", n.Kind);
            insert.Parameters.AddWithValue("$at", n.At.ToUnixTimeMilliseconds());
            insert.Parameters.AddWithValue("$rkind", n.Recipient.KindName);
            insert.Parameters.AddWithValue("$rid", n.Recipient.Id);
            insert.Parameters.AddWithValue("$body", n.Body);
            insert.Parameters.AddWithValue("$now", now);
            insert.Parameters.AddWithValue("$newlyDue", IOutboxStore.NewlyDue);
            await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static Recipient ReadRecipient(SqliteDataReader reader, int ordinal) => new(Recipient.ParseKind(reader.GetString(ordinal)), reader.GetString(ordinal + 1));
}
