using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;
using SmartPower.Alerts;
using SmartPower.Notifications;
using SmartPower.Sqlite;

namespace SmartPower.Pipeline.Tests;

/// <summary>
/// The SQLite outbox: notifications land with their transitions or not at all, a replay adds none. Escalation's
/// records are the escalation store contract's (<see cref="SqliteEscalationTests"/>).
/// </summary>
public sealed class OutboxStoreTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Start = new(2026, 11, 26, 21, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory _directory = new("outbox");
    private readonly FakeTimeProvider _time = new(Start);
    private SqliteStore _store = null!;

    private string Database => _directory.File("store.db");

    public async Task InitializeAsync() => _store = await SqliteStore.OpenAsync(new SqliteStoreOptions { Path = Database }, _time);

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        SqliteConnection.ClearAllPools();
        _directory.Dispose();
    }

    [Fact]
    public async Task Notifications_are_stored_with_their_transitions_and_a_replayed_batch_adds_none()
    {
        var (opened, cleared) = Lifecycle(severity: Severity.Critical);
        var batch = Batch(opened, cleared);
        Assert.Equal(4, batch.Notifications.Count); // two steps, each to the manager and the fire station
        await _store.CommitAsync(batch, CancellationToken.None);
        _time.Advance(TimeSpan.FromMinutes(1));
        await _store.CommitAsync(batch, CancellationToken.None); // a replay after a crash before the checkpoint
        await _store.CommitAsync(Batch(opened), CancellationToken.None); // or from an older checkpoint

        var due = await _store.GetDueAsync(_time.GetUtcNow(), 100, CancellationToken.None);
        Assert.Equal(batch.Notifications.Select(n => n.NotificationId).Order(StringComparer.Ordinal), due.Select(d => d.NotificationId).Order(StringComparer.Ordinal));
        Assert.All(due, d => Assert.Equal(Start, d.CreatedAt));
    }

    [Fact]
    public async Task A_batch_that_fails_stores_neither_its_transitions_nor_its_notifications()
    {
        var (opened, _) = Lifecycle(severity: Severity.Critical);
        var good = Batch(opened);
        var broken = good with { Notifications = [.. good.Notifications, good.Notifications[0] with { NotificationId = "x", Body = null! }] };
        await Assert.ThrowsAnyAsync<InvalidOperationException>(() => _store.CommitAsync(broken, CancellationToken.None)); // after the alert's rows
        Assert.Empty(await _store.GetAlertsAsync());
        Assert.Null(await _store.GetNextDueAsync(CancellationToken.None));

        await _store.CommitAsync(good, CancellationToken.None);
        Assert.Single(await _store.GetAlertsAsync());
        Assert.NotNull(await _store.GetNextDueAsync(CancellationToken.None)); // due at once
    }

    private static BatchCommit Batch(params AlertTransition[] transitions) =>
        new(0, transitions, [], null) { Notifications = Notification.ForTransitions(transitions, Story.Registry()) };

    private static (AlertTransition Opened, AlertTransition Cleared) Lifecycle(Severity severity) => EscalationStoreContractTests.Lifecycle(severity);
}
