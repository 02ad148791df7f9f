namespace SmartPower.Sqlite;

/// <summary>
/// The schema, as an ordered list of migrations. The database's <c>PRAGMA user_version</c> says how many have been
/// applied; opening a store applies the rest, each in its own transaction. Never edit a released migration: add one.
/// </summary>
internal static class Migrations
{
    public static readonly string[] All =
    [
        // 1: alerts as incidents with their transition history, devices' latest status, partition checkpoints.
        """
        CREATE TABLE alerts (
            alert_id    TEXT PRIMARY KEY,
            site_id     TEXT NOT NULL,
            device_id   TEXT NOT NULL,
            type        TEXT NOT NULL,
            severity    TEXT NOT NULL,
            port        INTEGER,
            state       TEXT NOT NULL,
            opened_at   INTEGER NOT NULL,
            cleared_at  INTEGER,
            updated_at  INTEGER NOT NULL,
            stored_at   INTEGER NOT NULL,
            alert_json  TEXT NOT NULL
        );
        CREATE INDEX alerts_by_site ON alerts (site_id, opened_at DESC);
        CREATE INDEX alerts_open ON alerts (state, severity) WHERE state = 'open';
        CREATE TABLE alert_transitions (
            alert_id    TEXT NOT NULL,
            kind        TEXT NOT NULL,
            at          INTEGER NOT NULL,
            severity    TEXT NOT NULL,
            stored_at   INTEGER NOT NULL,
            alert_json  TEXT NOT NULL,
            PRIMARY KEY (alert_id, at, kind)
        ) WITHOUT ROWID;
        CREATE TABLE devices (
            device_id   TEXT PRIMARY KEY,
            site_id     TEXT NOT NULL,
            reading     TEXT,
            heard_at    INTEGER NOT NULL,
            online      INTEGER
        );
        CREATE TABLE checkpoints (
            partition   INTEGER PRIMARY KEY,
            position    INTEGER NOT NULL,
            state       BLOB NOT NULL,
            saved_at    INTEGER NOT NULL
        );
        """,

        // 2: device tokens (MQTT passwords), kept only as SHA-256 hashes.
        """
        CREATE TABLE device_tokens (
            device_id   TEXT NOT NULL,
            token_hash  BLOB NOT NULL,
            issued_at   INTEGER NOT NULL,
            revoked_at  INTEGER,
            PRIMARY KEY (device_id, token_hash)
        ) WITHOUT ROWID;
        """,

        // 3: people act on alerts (ThingsBoard's model: acknowledge, then resolve), and each act is in the history.
        """
        ALTER TABLE alerts ADD COLUMN acknowledged_at INTEGER;
        ALTER TABLE alerts ADD COLUMN acknowledged_by TEXT;
        ALTER TABLE alerts ADD COLUMN resolved_at INTEGER;
        ALTER TABLE alerts ADD COLUMN resolved_by TEXT;
        ALTER TABLE alert_transitions ADD COLUMN actor TEXT;
        ALTER TABLE alert_transitions ADD COLUMN note TEXT;
        """,

        // 4: API keys (status API), kept only as SHA-256 hashes and found by them; a site's devices for its status.
        """
        CREATE TABLE api_keys (
            key_id      TEXT PRIMARY KEY,
            key_hash    BLOB NOT NULL UNIQUE,
            role        TEXT NOT NULL,
            scope       TEXT,
            name        TEXT NOT NULL,
            created_at  INTEGER NOT NULL,
            revoked_at  INTEGER
        );
        CREATE INDEX devices_by_site ON devices (site_id);
        """,

        // 5: the notification outbox, one row per history step and recipient (keyed by the idempotency key), written
        //    with the step itself; and every delivery attempt.
        """
        CREATE TABLE outbox (
            notification_id  TEXT PRIMARY KEY,
            alert_id         TEXT NOT NULL,
            kind             TEXT NOT NULL,
            at               INTEGER NOT NULL,
            recipient_kind   TEXT NOT NULL,
            recipient_id     TEXT NOT NULL,
            body             TEXT NOT NULL,
            created_at       INTEGER NOT NULL,
            state            TEXT NOT NULL,
            attempts         INTEGER NOT NULL,
            next_attempt_at  INTEGER
        );
        CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';
        CREATE INDEX outbox_by_alert ON outbox (alert_id, at);
        CREATE TABLE delivery_attempts (
            notification_id  TEXT NOT NULL,
            attempt          INTEGER NOT NULL,
            at               INTEGER NOT NULL,
            status_code      INTEGER,
            error            TEXT,
            duration_ms      INTEGER NOT NULL,
            next_attempt_at  INTEGER,
            PRIMARY KEY (notification_id, attempt)
        ) WITHOUT ROWID;
        """,

        // 6: a warning escalated to the fire station joins the station's list of alerts (and its duty console).
        """
        ALTER TABLE alerts ADD COLUMN raised_to_station_at INTEGER;
        """,
    ];
}
