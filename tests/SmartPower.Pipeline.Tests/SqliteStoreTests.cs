using Microsoft.Data.Sqlite;
using SmartPower.Alerts;
using SmartPower.Sqlite;

namespace SmartPower.Pipeline.Tests;

/// <summary>The SQLite store: the shared store contract, plus what only it has (listing queries, migrations).</summary>
public sealed class SqliteStoreTests : StoreContractTests
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), "smartpower-store-" + Guid.NewGuid().ToString("N") + ".db");
    private SqliteStore _store = null!;

    protected override IPipelineStore Store => _store;

    protected override IDeviceCredentials Credentials => _store;

    public override async Task InitializeAsync() => _store = await SqliteStore.OpenAsync(new SqliteStoreOptions { Path = _path });

    public override async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        SqliteConnection.ClearAllPools();
        foreach (var file in new[] { _path, _path + "-wal", _path + "-shm" })
        {
            File.Delete(file);
        }
    }

    protected override Task<StoredAlert?> GetAlertAsync(string alertId) => _store.GetAlertAsync(alertId);

    protected override Task<IReadOnlyList<StoredTransition>> GetTransitionsAsync(string alertId) => _store.GetTransitionsAsync(alertId);

    protected override Task<StoredDevice?> GetDeviceAsync(string deviceId) => _store.GetDeviceAsync(deviceId);

    protected override Task<HumanActOutcome> AcknowledgeAsync(string alertId, string actor, string? note) => _store.AcknowledgeAsync(alertId, actor, note);

    protected override Task<HumanActOutcome> ResolveAsync(string alertId, string actor, string? note) => _store.ResolveAsync(alertId, actor, note);

    protected override async Task<string> StoredTokenTextAsync(string deviceId)
    {
        await _store.DisposeAsync();
        SqliteConnection.ClearAllPools();
        var bytes = await File.ReadAllBytesAsync(_path);
        _store = await SqliteStore.OpenAsync(new SqliteStoreOptions { Path = _path });
        return System.Text.Encoding.Latin1.GetString(bytes);
    }

    [Fact]
    public async Task Alerts_are_listed_and_open_ones_counted()
    {
        var (opened, cleared) = Lifecycle();
        await _store.CommitAsync(new BatchCommit(0, [opened], [], null), CancellationToken.None);
        Assert.Equal(1, (await _store.CountOpenAlertsAsync())["critical"]);
        await _store.CommitAsync(new BatchCommit(0, [cleared], [], null), CancellationToken.None);
        await _store.CommitAsync(new BatchCommit(0, [opened], [], null), CancellationToken.None);
        Assert.Equal(AlertState.Cleared, Assert.Single(await _store.GetAlertsAsync()).Alert.State);
        Assert.Single(await _store.GetAlertsAsync(Feed.Site));
        Assert.Empty(await _store.GetAlertsAsync("elsewhere"));
        Assert.Equal(0, (await _store.CountOpenAlertsAsync())["critical"]);
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
}
