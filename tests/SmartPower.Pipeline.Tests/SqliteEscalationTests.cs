using Microsoft.Data.Sqlite;
using SmartPower.Escalation;
using SmartPower.Notifications;
using SmartPower.Sqlite;

namespace SmartPower.Pipeline.Tests;

/// <summary>The SQLite store passes the escalation store contract: its watches are its own SQL query.</summary>
public sealed class SqliteEscalationTests : EscalationStoreContractTests
{
    private readonly TempDirectory _directory = new("escalation");
    private SqliteStore _store = null!;

    protected override IPipelineStore Store => _store;

    protected override IEscalationStore Escalation => _store;

    protected override IOutboxStore Outbox => _store;

    private string Database => _directory.File("store.db");

    public override async Task InitializeAsync() => _store = await SqliteStore.OpenAsync(new SqliteStoreOptions { Path = Database }, Time);

    public override async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        SqliteConnection.ClearAllPools();
        _directory.Dispose();
    }

    protected override async Task RestartAsync()
    {
        await _store.DisposeAsync();
        _store = await SqliteStore.OpenAsync(new SqliteStoreOptions { Path = Database }, Time);
    }

    protected override Task<StoredAlert?> GetAlertAsync(string alertId) => _store.GetAlertAsync(alertId);

    protected override Task<IReadOnlyList<StoredTransition>> GetTransitionsAsync(string alertId) => _store.GetTransitionsAsync(alertId);

    protected override Task<HumanActOutcome> AcknowledgeAsync(string alertId, string actor, string? note) => _store.AcknowledgeAsync(alertId, actor, note);

    protected override Task<IReadOnlyList<NotificationDelivery>> GetDeliveriesAsync(string alertId) => _store.GetDeliveriesAsync(alertId, CancellationToken.None);
}
