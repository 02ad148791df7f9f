using Microsoft.Data.Sqlite;
using SmartPower.Alerts;
using SmartPower.Sqlite;

namespace SmartPower.Pipeline.Tests;

/// <summary>The SQLite store's contract: idempotent, forward-only writes; checkpoints; hashed tokens; migrations.</summary>
public sealed class SqliteStoreTests : IAsyncLifetime
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), "smartpower-store-" + Guid.NewGuid().ToString("N") + ".db");
    private SqliteStore _store = null!;

    public async Task InitializeAsync() => _store = await SqliteStore.OpenAsync(new SqliteStoreOptions { Path = _path });

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        SqliteConnection.ClearAllPools();
        foreach (var file in new[] { _path, _path + "-wal", _path + "-shm" })
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task The_same_batch_twice_changes_nothing()
    {
        var (opened, cleared) = Lifecycle();
        var batch = new BatchCommit(0, [opened, cleared], [], null);
        await _store.CommitAsync(batch, CancellationToken.None);
        await _store.CommitAsync(batch, CancellationToken.None);
        var alert = Assert.Single(await _store.GetAlertsAsync());
        Assert.Equal(AlertState.Cleared, alert.Alert.State);
        Assert.Equal(["opened", "cleared"], (await _store.GetTransitionsAsync(opened.Alert.AlertId)).Select(t => t.Kind));
    }

    [Fact]
    public async Task An_older_transition_never_overwrites_a_newer_one()
    {
        var (opened, cleared) = Lifecycle();
        await _store.CommitAsync(new BatchCommit(0, [cleared], [], null), CancellationToken.None);
        await _store.CommitAsync(new BatchCommit(0, [opened], [], null), CancellationToken.None); // a replay from an older checkpoint
        Assert.Equal(AlertState.Cleared, Assert.Single(await _store.GetAlertsAsync()).Alert.State);
        Assert.Equal(0, (await _store.CountOpenAlertsAsync())["critical"]);
    }

    [Fact]
    public async Task Checkpoints_are_kept_per_partition_and_replaced()
    {
        Assert.Null(await _store.LoadCheckpointAsync(1, CancellationToken.None));
        await _store.CommitAsync(new BatchCommit(1, [], [], new PartitionCheckpoint(1, 100, new byte[] { 1, 2, 3 })), CancellationToken.None);
        await _store.CommitAsync(new BatchCommit(1, [], [], new PartitionCheckpoint(1, 250, new byte[] { 4 })), CancellationToken.None);
        var checkpoint = await _store.LoadCheckpointAsync(1, CancellationToken.None);
        Assert.Equal(250, checkpoint!.Position);
        Assert.Equal([4], checkpoint.EngineState.ToArray());
        Assert.Null(await _store.LoadCheckpointAsync(0, CancellationToken.None));
    }

    [Fact]
    public async Task A_status_message_keeps_the_last_reading()
    {
        var reading = System.Text.Encoding.UTF8.GetBytes(Feed.MeterPayload(0, 1, 5));
        await _store.CommitAsync(new BatchCommit(0, [], [new DeviceLatest("m-0001", Feed.Site, 1000) { Reading = reading, Online = true }], null), CancellationToken.None);
        await _store.CommitAsync(new BatchCommit(0, [], [new DeviceLatest("m-0001", Feed.Site, 2000) { Online = false }], null), CancellationToken.None);
        var device = await _store.GetDeviceAsync("m-0001");
        Assert.Equal(Feed.MeterPayload(0, 1, 5), device!.ReadingJson);
        Assert.False(device.Online);
        Assert.Equal(2000, device.HeardAt.ToUnixTimeMilliseconds());
    }

    [Fact]
    public async Task Tokens_verify_until_revoked_and_are_stored_only_as_hashes()
    {
        var token = await _store.IssueAsync("m-0001", CancellationToken.None);
        Assert.True(await _store.VerifyAsync("m-0001", token, CancellationToken.None));
        Assert.False(await _store.VerifyAsync("m-0001", token + "x", CancellationToken.None));
        Assert.False(await _store.VerifyAsync("m-0002", token, CancellationToken.None));
        Assert.Equal(1, await _store.RevokeAsync("m-0001", CancellationToken.None));
        Assert.False(await _store.VerifyAsync("m-0001", token, CancellationToken.None));

        await _store.DisposeAsync();
        SqliteConnection.ClearAllPools();
        var bytes = await File.ReadAllBytesAsync(_path);
        Assert.DoesNotContain(token, System.Text.Encoding.Latin1.GetString(bytes), StringComparison.Ordinal);
        _store = await SqliteStore.OpenAsync(new SqliteStoreOptions { Path = _path });
    }

    [Fact]
    public async Task An_older_database_is_migrated_and_a_newer_one_refused()
    {
        var old = _path + ".v1.db";
        await using (var connection = new SqliteConnection($"Data Source={old}"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = Migrations.All[0] + "\nPRAGMA user_version = 1;"; // a database of the first release
            await command.ExecuteNonQueryAsync();
        }

        await using (var migrated = await SqliteStore.OpenAsync(new SqliteStoreOptions { Path = old }))
        {
            Assert.NotEmpty(await migrated.IssueAsync("m-0001", CancellationToken.None)); // the table migration 2 adds
        }

        await using (var connection = new SqliteConnection($"Data Source={old}"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA user_version";
            Assert.Equal(SqliteStore.SchemaVersion, Convert.ToInt32(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture));
            command.CommandText = "PRAGMA user_version = 99";
            await command.ExecuteNonQueryAsync();
        }

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => SqliteStore.OpenAsync(new SqliteStoreOptions { Path = old }));
        Assert.Contains("schema version 99", ex.Message, StringComparison.Ordinal);
        SqliteConnection.ClearAllPools();
        File.Delete(old);
    }

    [Fact]
    public async Task Acknowledge_and_resolve_are_recorded_once_with_actor_and_note_and_survive_engine_updates()
    {
        var (opened, cleared) = Lifecycle();
        var id = opened.Alert.AlertId;
        Assert.Equal(HumanActOutcome.NotFound, await _store.AcknowledgeAsync(id, "officer-li", null));
        await _store.CommitAsync(new BatchCommit(0, [opened], [], null), CancellationToken.None);
        Assert.Equal(HumanActOutcome.Done, await _store.AcknowledgeAsync(id, "officer-li", "crew sent"));
        Assert.Equal(HumanActOutcome.AlreadyDone, await _store.AcknowledgeAsync(id, "officer-wang", null));
        await _store.CommitAsync(new BatchCommit(0, [cleared], [], null), CancellationToken.None);
        Assert.Equal(HumanActOutcome.Done, await _store.ResolveAsync(id, "pm-zhao", "charger removed"));

        var alert = await _store.GetAlertAsync(id);
        Assert.Equal(AlertState.Cleared, alert!.Alert.State);
        Assert.Equal("officer-li", alert.AcknowledgedBy);
        Assert.Equal("pm-zhao", alert.ResolvedBy);
        var history = await _store.GetTransitionsAsync(id);
        Assert.Equal(["opened", "acknowledged", "cleared", "resolved"], history.Select(t => t.Kind));
        Assert.Equal(("officer-li", "crew sent"), (history[1].Actor, history[1].Note));
    }

    private static (AlertTransition Opened, AlertTransition Cleared) Lifecycle()
    {
        var feed = new Feed();
        feed.MeterSeries("m-0001", 0, 900, _ => 5, leakageMa: s => s is >= 10 and < 30 ? 400 : 2);
        var transitions = feed.Of(AlertType.Leakage).ToArray();
        return (transitions.Single(t => t.Kind == TransitionKind.Opened), transitions.Single(t => t.Kind == TransitionKind.Cleared));
    }
}
