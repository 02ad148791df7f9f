using SmartPower.Alerts;

namespace SmartPower.Pipeline.Tests;

/// <summary>
/// The store contract every store passes (SQLite here, Cosmos DB in SmartPower.Azure.Tests, against a real server):
/// idempotent, forward-only alert writes with their history; checkpoints; device status; hashed tokens; people's acts.
/// Only point operations and the writes: listing queries are each store's own (SQL for SQLite; Cosmos DB queries are
/// not what its test server can run).
/// </summary>
public abstract class StoreContractTests : IAsyncLifetime
{
    protected abstract IPipelineStore Store { get; }

    protected abstract IDeviceCredentials Credentials { get; }

    public abstract Task InitializeAsync();

    public abstract Task DisposeAsync();

    protected abstract Task<StoredAlert?> GetAlertAsync(string alertId);

    protected abstract Task<IReadOnlyList<StoredTransition>> GetTransitionsAsync(string alertId);

    protected abstract Task<StoredDevice?> GetDeviceAsync(string deviceId);

    protected abstract Task<HumanActOutcome> AcknowledgeAsync(string alertId, string actor, string? note);

    protected abstract Task<HumanActOutcome> ResolveAsync(string alertId, string actor, string? note);

    /// <summary>Everything the store keeps about <paramref name="deviceId"/>'s tokens, as raw text (files or documents).</summary>
    protected abstract Task<string> StoredTokenTextAsync(string deviceId);

    [Fact]
    public async Task The_same_batch_twice_changes_nothing()
    {
        var (opened, cleared) = Lifecycle();
        var batch = new BatchCommit(0, [opened, cleared], [], null);
        await Store.CommitAsync(batch, CancellationToken.None);
        await Store.CommitAsync(batch, CancellationToken.None);
        var alert = await GetAlertAsync(opened.Alert.AlertId);
        Assert.Equal(AlertState.Cleared, alert!.Alert.State);
        Assert.Equal(cleared.Alert, alert.Alert);
        Assert.Equal(["opened", "cleared"], (await GetTransitionsAsync(opened.Alert.AlertId)).Select(t => t.Kind));
    }

    [Fact]
    public async Task An_older_transition_never_overwrites_a_newer_one()
    {
        var (opened, cleared) = Lifecycle();
        await Store.CommitAsync(new BatchCommit(0, [cleared], [], null), CancellationToken.None);
        await Store.CommitAsync(new BatchCommit(0, [opened], [], null), CancellationToken.None); // a replay from an older checkpoint
        Assert.Equal(AlertState.Cleared, (await GetAlertAsync(opened.Alert.AlertId))!.Alert.State);
        Assert.Equal(["cleared", "opened"], (await GetTransitionsAsync(opened.Alert.AlertId)).Select(t => t.Kind)); // history keeps both, in the order stored
    }

    [Fact]
    public async Task Transitions_of_one_alert_in_separate_batches_end_at_the_latest()
    {
        var (opened, cleared) = Lifecycle();
        await Store.CommitAsync(new BatchCommit(0, [opened], [], null), CancellationToken.None);
        Assert.Equal(AlertState.Open, (await GetAlertAsync(opened.Alert.AlertId))!.Alert.State);
        await Store.CommitAsync(new BatchCommit(0, [cleared], [], null), CancellationToken.None);
        await Store.CommitAsync(new BatchCommit(0, [opened], [], null), CancellationToken.None);
        var alert = await GetAlertAsync(opened.Alert.AlertId);
        Assert.Equal(cleared.Alert, alert!.Alert);
        Assert.Equal(["opened", "cleared"], (await GetTransitionsAsync(opened.Alert.AlertId)).Select(t => t.Kind));
        Assert.Null(await GetAlertAsync("no-such-alert"));
        Assert.Empty(await GetTransitionsAsync("no-such-alert"));
    }

    [Fact]
    public async Task Checkpoints_are_kept_per_partition_and_replaced()
    {
        Assert.Null(await Store.LoadCheckpointAsync(1, CancellationToken.None));
        await Store.CommitAsync(new BatchCommit(1, [], [], new PartitionCheckpoint(1, 100, new byte[] { 1, 2, 3 })), CancellationToken.None);
        await Store.CommitAsync(new BatchCommit(1, [], [], new PartitionCheckpoint(1, 250, new byte[] { 4 })), CancellationToken.None);
        var checkpoint = await Store.LoadCheckpointAsync(1, CancellationToken.None);
        Assert.Equal(250, checkpoint!.Position);
        Assert.Equal([4], checkpoint.EngineState.ToArray());
        Assert.Null(await Store.LoadCheckpointAsync(0, CancellationToken.None));
    }

    [Fact]
    public async Task A_status_message_keeps_the_last_reading()
    {
        var reading = System.Text.Encoding.UTF8.GetBytes(Feed.MeterPayload(0, 1, 5));
        Assert.Null(await GetDeviceAsync("m-0001"));
        await Store.CommitAsync(new BatchCommit(0, [], [new DeviceLatest("m-0001", Feed.Site, 1000) { Reading = reading, Online = true }], null), CancellationToken.None);
        await Store.CommitAsync(new BatchCommit(0, [], [new DeviceLatest("m-0001", Feed.Site, 2000) { Online = false }], null), CancellationToken.None);
        await Store.CommitAsync(new BatchCommit(0, [], [new DeviceLatest("m-0001", Feed.Site, 1500)], null), CancellationToken.None); // replayed: older
        var device = await GetDeviceAsync("m-0001");
        Assert.Equal(Feed.MeterPayload(0, 1, 5), device!.ReadingJson);
        Assert.False(device.Online);
        Assert.Equal(2000, device.HeardAt.ToUnixTimeMilliseconds());
        Assert.Equal(Feed.Site, device.SiteId);
    }

    [Fact]
    public async Task Tokens_verify_until_revoked_and_are_stored_only_as_hashes()
    {
        var token = await Credentials.IssueAsync("m-0001", CancellationToken.None);
        var second = await Credentials.IssueAsync("m-0001", CancellationToken.None);
        Assert.True(await Credentials.VerifyAsync("m-0001", token, CancellationToken.None));
        Assert.True(await Credentials.VerifyAsync("m-0001", second, CancellationToken.None));
        Assert.False(await Credentials.VerifyAsync("m-0001", token + "x", CancellationToken.None));
        Assert.False(await Credentials.VerifyAsync("m-0002", token, CancellationToken.None));
        var stored = await StoredTokenTextAsync("m-0001");
        Assert.DoesNotContain(token, stored, StringComparison.Ordinal);
        Assert.DoesNotContain(second, stored, StringComparison.Ordinal);
        Assert.Equal(2, await Credentials.RevokeAsync("m-0001", CancellationToken.None));
        Assert.Equal(0, await Credentials.RevokeAsync("m-0001", CancellationToken.None));
        Assert.False(await Credentials.VerifyAsync("m-0001", token, CancellationToken.None));
    }

    [Fact]
    public async Task Acknowledge_and_resolve_are_recorded_once_with_actor_and_note_and_survive_engine_updates()
    {
        var (opened, cleared) = Lifecycle();
        var id = opened.Alert.AlertId;
        Assert.Equal(HumanActOutcome.NotFound, await AcknowledgeAsync(id, "officer-li", null));
        await Store.CommitAsync(new BatchCommit(0, [opened], [], null), CancellationToken.None);
        Assert.Equal(HumanActOutcome.Done, await AcknowledgeAsync(id, "officer-li", "crew sent"));
        Assert.Equal(HumanActOutcome.AlreadyDone, await AcknowledgeAsync(id, "officer-wang", null));
        await Store.CommitAsync(new BatchCommit(0, [cleared], [], null), CancellationToken.None);
        Assert.Equal(HumanActOutcome.Done, await ResolveAsync(id, "pm-zhao", "charger removed"));
        Assert.Equal(HumanActOutcome.AlreadyDone, await ResolveAsync(id, "pm-zhao", null));

        var alert = await GetAlertAsync(id);
        Assert.Equal(AlertState.Cleared, alert!.Alert.State);
        Assert.Equal("officer-li", alert.AcknowledgedBy);
        Assert.Equal("pm-zhao", alert.ResolvedBy);
        Assert.NotNull(alert.ResolvedAt);
        var history = await GetTransitionsAsync(id);
        Assert.Equal(["opened", "acknowledged", "cleared", "resolved"], history.Select(t => t.Kind));
        Assert.Equal(("officer-li", "crew sent"), (history[1].Actor, history[1].Note));
    }

    [Fact]
    public async Task Concurrent_commits_of_the_same_alert_lose_nothing()
    {
        var (opened, cleared) = Lifecycle();
        await Task.WhenAll(
            Store.CommitAsync(new BatchCommit(0, [opened], [], null), CancellationToken.None),
            Store.CommitAsync(new BatchCommit(1, [cleared], [], null), CancellationToken.None),
            Store.CommitAsync(new BatchCommit(0, [opened, cleared], [], null), CancellationToken.None));
        var alert = await GetAlertAsync(opened.Alert.AlertId);
        Assert.Equal(AlertState.Cleared, alert!.Alert.State);
        Assert.Equal(["cleared", "opened"], (await GetTransitionsAsync(opened.Alert.AlertId)).Select(t => t.Kind).Order(StringComparer.Ordinal));
    }

    protected static (AlertTransition Opened, AlertTransition Cleared) Lifecycle()
    {
        var feed = new Feed();
        feed.MeterSeries("m-0001", 0, 900, _ => 5, leakageMa: s => s is >= 10 and < 30 ? 400 : 2);
        var transitions = feed.Of(AlertType.Leakage).ToArray();
        return (transitions.Single(t => t.Kind == TransitionKind.Opened), transitions.Single(t => t.Kind == TransitionKind.Cleared));
    }
}
