using System.Text.Json;
using Microsoft.Azure.Cosmos;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using SmartPower.Alerts;
using SmartPower.Cosmos;
using SmartPower.Escalation;
using SmartPower.Functions;
using SmartPower.Notifications;

namespace SmartPower.Azure.Tests;

/// <summary>
/// Sequences on the Azure path that lost an alert's clearing (found in review at stop 19; each failed on the code
/// before its fix): a device's record pruned with its open alert, and a watchdog mark lost to a concurrent write.
/// </summary>
public sealed class AzureOfflineRaceTests : CosmosNightTests
{
    /// <summary>
    /// Sequence: m-0100 falls silent at 600 s; the watchdog opens its <c>offline</c> alert (kept in the device's record
    /// as <c>WatchdogOffline</c>). The other devices of its (site, partition) document keep reporting, so once m-0100 has
    /// been silent for <see cref="CosmosStoreOptions.DeviceTtl"/> (30 days by default, 5 minutes here) the next device
    /// write of that document prunes m-0100's record (CosmosStore.SaveAsync), watchdog alert and all. m-0100 then comes
    /// back at 1000 s: the detection step finds no record, so nothing clears the watchdog's alert.
    /// What went wrong: the offline alert stayed open for ever although the device is reporting again (and any engine
    /// alert that was open in the pruned state is likewise never cleared; a new one opens beside it).
    /// </summary>
    [Fact]
    public async Task A_device_silent_past_its_ttl_with_an_open_alert_keeps_its_record_and_the_alert_clears_when_it_is_back()
    {
        var night = new Night(1300, (device, t) => device != "m-0100" || t < 600 || t >= 1000);
        var options = new CosmosStoreOptions { DeviceTtl = TimeSpan.FromMinutes(5) };
        var store = await CosmosServer.NewStoreAsync(night.Registry, options);
        try
        {
            var time = new ManualTime(Feed.T0);
            var states = new FlakyStates(store);
            var processor = new DeviceBatchProcessor(night.Registry, states, store, new RecordingCommands(), store, new PipelineMetrics());
            var watchdog = new Watchdog(night.Registry, states, store, time);
            var raised = new List<AlertTransition>();
            foreach (var batch in night.Batches(30))
            {
                await processor.ProcessAsync(0, batch, CancellationToken.None);
                time.Now = DateTimeOffset.FromUnixTimeMilliseconds(batch[^1].ArrivedAtMs);
                raised.AddRange(await watchdog.RunAsync(CancellationToken.None));
            }

            var offline = Assert.Single(raised, t => t.Kind == TransitionKind.Opened && t.Alert.DeviceId == "m-0100").Alert;
            var stored = await store.GetAlertAsync(offline.AlertId);

            // m-0100 has been reporting again since 1000 s: its offline alert must have cleared.
            Assert.Equal(AlertState.Cleared, stored!.Alert.State);
        }
        finally
        {
            await CosmosServer.DropAsync(options);
        }
    }

    /// <summary>
    /// Sequence: m-0100 falls silent at 600 s. The watchdog's sweep at 770 s opens its <c>offline</c> alert W (stored
    /// first), and before it saves the device's record with <c>WatchdogOffline</c>, a batch holding only a repeat of
    /// m-0100's last reading (its MQTT session redelivering an unacknowledged publish as it reconnects) is processed: the
    /// detection step drops the duplicate but still writes m-0100's record (a new version, same <c>HeardAtMs</c>). The
    /// watchdog's save fails on the version; its race handling clears W only if the fresh record was heard later
    /// (Watchdog.RunAsync: <c>fresh.HeardAtMs &gt; r.HeardAtMs</c>), which it was not. W is open in the alerts container
    /// but recorded nowhere on the device. m-0100's next reading (790 s) arrives before the next sweep: the detection
    /// step clears a watchdog alert only from the record's <c>WatchdogOffline</c>, so nothing clears W.
    /// What went wrong: the offline alert stayed open for ever while the device reported normally.
    /// </summary>
    [Fact]
    public async Task A_watchdog_mark_lost_to_a_batch_of_a_duplicate_is_marked_again_and_the_alert_clears()
    {
        var night = new Night(1000, (device, t) => device != "m-0100" || t < 600 || t >= 790);
        var time = new ManualTime(Feed.T0);
        var states = new RacingStates(new FlakyStates(Store));
        var processor = new DeviceBatchProcessor(night.Registry, states, Store, new RecordingCommands(), Store, new PipelineMetrics());
        var lastBeforeSilence = night.Events.Last(e => e.Topic == Feed.Topic("m-0100") && e.ArrivedAtMs < Feed.T0.AddSeconds(600).ToUnixTimeMilliseconds());
        states.BeforeWatchdogSave = () => processor.ProcessAsync(0, [lastBeforeSilence with { Position = "redelivered" }], CancellationToken.None);
        var watchdog = new Watchdog(night.Registry, states, Store, time);
        var raised = new List<AlertTransition>();
        var back = night.Events.First(e => e.Topic == Feed.Topic("m-0100") && e.ArrivedAtMs >= Feed.T0.AddSeconds(790).ToUnixTimeMilliseconds());
        foreach (var batch in night.Batches(30))
        {
            if (batch.Contains(back))
            {
                // m-0100's first reading back arrives on its own (a quiet partition's batch of one), before the others
                // have moved the partition's clock on: the engine itself sees no silence to open or clear.
                await processor.ProcessAsync(0, [back], CancellationToken.None);
            }

            await processor.ProcessAsync(0, [.. batch.Where(e => e != back)], CancellationToken.None);
            time.Now = DateTimeOffset.FromUnixTimeMilliseconds(batch[^1].ArrivedAtMs);
            raised.AddRange(await watchdog.RunAsync(CancellationToken.None));
        }

        Assert.True(states.Raced);
        var offline = Assert.Single(raised, t => t.Kind == TransitionKind.Opened && t.Alert.DeviceId == "m-0100").Alert;

        // m-0100 has been reporting again since 790 s: its offline alert must have cleared.
        Assert.Equal(AlertState.Cleared, (await Store.GetAlertAsync(offline.AlertId))!.Alert.State);
    }

    /// <summary>
    /// Sequence: m-0100 falls silent at 600 s and never reports again. The watchdog's sweep at 770 s opens its
    /// <c>offline</c> alert W (stored first). Before it saves the device's record with <c>WatchdogOffline</c>, a batch
    /// holding only m-0100's <c>status</c> message is processed (its Last Will, <c>{"online":false}</c>, published by the
    /// broker as it notices the dead connection): the detection step writes the record (new version) with
    /// <c>HeardAtMs</c> moved to the status's arrival, but no reading (DeviceBatchProcessor clears a watchdog alert only
    /// on a reading). The watchdog's save loses its ETag; the race handling (Watchdog.RunAsync, fix 2ac9844) takes a
    /// later <c>HeardAtMs</c> for "heard from" and CLEARS W at its opening instant, instead of marking it again as it now
    /// does for a write without a reading. The next sweeps open the same alert id again (same StreamHeardAt + limit),
    /// which the store takes as already stored.
    /// What went wrong: the device is dead (its own Last Will says so) and its offline alert shows cleared: a hidden
    /// alert for as long as the device stays silent.
    /// </summary>
    [Fact]
    public async Task A_watchdog_mark_raced_by_a_status_only_batch_keeps_the_offline_alert_open()
    {
        var night = new Night(1500, (device, t) => device != "m-0100" || t < 600);
        var time = new ManualTime(Feed.T0);
        var states = new RacingStates(new FlakyStates(Store));
        var processor = new DeviceBatchProcessor(night.Registry, states, Store, new RecordingCommands(), Store, new PipelineMetrics());
        states.BeforeWatchdogSave = () =>
        {
            var will = new TelemetryEvent("will", Feed.Topic("m-0100", channel: "status"), "{\"online\":false}"u8.ToArray(), time.Now.ToUnixTimeMilliseconds());
            return processor.ProcessAsync(0, [will], CancellationToken.None);
        };
        var watchdog = new Watchdog(night.Registry, states, Store, time);
        var raised = new List<AlertTransition>();
        foreach (var batch in night.Batches(30))
        {
            await processor.ProcessAsync(0, batch, CancellationToken.None);
            time.Now = DateTimeOffset.FromUnixTimeMilliseconds(batch[^1].ArrivedAtMs);
            raised.AddRange(await watchdog.RunAsync(CancellationToken.None));
        }

        Assert.True(states.Raced);
        var offline = raised.First(t => t.Kind == TransitionKind.Opened && t.Alert.DeviceId == "m-0100").Alert;

        // m-0100 has sent nothing since 600 s: its offline alert must never have cleared (observed: opened at 650 s,
        // cleared at 650 s by the 780 s sweep, opened again with the same id by a later sweep; the recipients got
        // "opened" and "cleared", and the second "opened" has the first's notification id, so it goes to nobody).
        var history = await Store.GetTransitionsAsync(offline.AlertId, CancellationToken.None);
        Assert.DoesNotContain(raised, t => t.Kind == TransitionKind.Cleared && t.Alert.DeviceId == "m-0100");
        Assert.DoesNotContain(history, h => h.Kind == "cleared");
    }

    /// <summary>Runs a hook once, just before the watchdog's save of a record it marked offline.</summary>
    private sealed class RacingStates(IDeviceStateStore inner) : IDeviceStateStore
    {
        public Func<Task>? BeforeWatchdogSave { get; set; }

        public bool Raced { get; private set; }

        public Task<IReadOnlyDictionary<string, DeviceRecord>> LoadAsync(int partition, IReadOnlyCollection<Registry.Device> devices, CancellationToken cancellationToken) => inner.LoadAsync(partition, devices, cancellationToken);

        public async Task<IReadOnlyList<string?>> SaveAsync(IReadOnlyList<DeviceRecord> records, CancellationToken cancellationToken)
        {
            if (!Raced && BeforeWatchdogSave is { } hook && records.Any(r => r.WatchdogOffline is not null))
            {
                Raced = true;
                await hook();
            }

            return await inner.SaveAsync(records, cancellationToken);
        }

        public Task<ReadOnlyMemory<byte>?> LoadClockAsync(int partition, CancellationToken cancellationToken) => inner.LoadClockAsync(partition, cancellationToken);

        public Task SaveClockAsync(int partition, ReadOnlyMemory<byte> clock, CancellationToken cancellationToken) => inner.SaveClockAsync(partition, clock, cancellationToken);

        public void Forget(int partition) => inner.Forget(partition);

        public Task<IReadOnlyList<DeviceRecord>> FindSilentAsync(long heardBeforeMs, Func<DeviceRecord, bool> due, int max, CancellationToken cancellationToken) => inner.FindSilentAsync(heardBeforeMs, due, max, cancellationToken);
    }
}

/// <summary>Escalation's notifications on Azure, the escalation timer racing the alerts' change feed (review, stop 19).</summary>
public sealed class AzureEscalationRaceTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Start = new(2026, 11, 26, 21, 0, 0, TimeSpan.Zero);
    private readonly FakeTimeProvider _time = new(Start);
    private readonly CosmosStoreOptions _options = new();
    private readonly Registry.DeviceRegistry _registry = Registry.RegistryLoader.Parse(Feed.RegistryJson);
    private CosmosStore _store = null!;

    public async Task InitializeAsync() => _store = await CosmosServer.NewStoreAsync(_registry, _options, _time);

    public Task DisposeAsync() => CosmosServer.DropAsync(_options);

    /// <summary>
    /// Sequence: a warning alert goes unacknowledged for 15 minutes. The escalation timer (EscalationFunction) records
    /// the step: CosmosStore.RecordAsync replaces the alert document (history + escalatedAt), then creates the step's
    /// notifications in the outbox. The replace is a change of the alert document, and the change feed
    /// (NotificationFunction, another instance) handles it before the timer's outbox creates land: it adds the step's
    /// notifications (here the manager's; a step that raises the alert adds the fire station's too) and posts them. The timer's creates then find them present (409), but
    /// RecordAsync still returns true and EscalationFunction posts every notification of the step again, whether or
    /// not its own pass added it.
    /// What went wrong: each recipient got the escalation twice (a duplicated notification); the outbox's "first record of an attempt stands" only hides the second post from the record.
    /// </summary>
    [Fact]
    public async Task The_escalation_timer_posts_only_what_it_added_not_what_the_change_feed_posted()
    {
        var opened = new Night().Transitions.First(t => t.Kind == TransitionKind.Opened && t.Alert.Type == AlertType.Overload && t.Alert.Severity == Severity.Warning);
        await _store.CommitAsync(new BatchCommit(0, [opened], [], null), CancellationToken.None);
        var id = opened.Alert.AlertId;
        var notifier = new RecordingNotifier();

        // The change feed's function, on its own instance (the shared client), fed the alert document as it is now.
        var feed = new NotificationFunction(new NotifyingAlertChanges(_registry, _store, new OutboxDispatcher(_store, notifier, time: _time), _time));
        async Task FeedAsync()
        {
            using var response = await CosmosServer.Client.GetContainer(_options.Database, CosmosSchema.Alerts).ReadItemStreamAsync(id, new PartitionKey(id));
            using var document = await JsonDocument.ParseAsync(response.Content);
            await feed.RunAsync([document.RootElement.Clone()], CancellationToken.None);
        }

        // The escalation timer's instance: its first outbox write waits until the change feed has handled the alert
        // document that its history write just changed.
        var fedOnce = 0;
        using var client = CosmosServer.CreateClient(new BeforeFirstOutboxCreate(() => Interlocked.Exchange(ref fedOnce, 1) == 0 ? FeedAsync() : Task.CompletedTask));
        var timerStore = new CosmosStore(client, _registry, new CosmosStoreOptions { Database = _options.Database, MaxConcurrency = 1 }, _time);
        var escalator = new Escalator(new PointReadWatches(timerStore, _options, [id]), _registry, time: _time);
        var function = new EscalationFunction(escalator, new OutboxDispatcher(timerStore, notifier, time: _time), NullLogger<EscalationFunction>.Instance);

        _time.Advance(TimeSpan.FromMinutes(16));
        await function.RunAsync(new Microsoft.Azure.Functions.Worker.TimerInfo(), CancellationToken.None);

        Assert.Equal(1, fedOnce);
        var escalations = notifier.Sent.Where(n => n.Body.Contains("\"kind\":\"escalated\"", StringComparison.Ordinal)).ToList();

        // Each of the step's notifications must be posted once.
        Assert.NotEmpty(escalations);
        Assert.All(escalations.GroupBy(n => n.NotificationId), g => Assert.Equal((g.Key, 1), (g.Key, g.Count())));
    }

    /// <summary>Runs <paramref name="before"/> once before the first document create in the outbox container is sent.</summary>
    private sealed class BeforeFirstOutboxCreate(Func<Task> before) : RequestHandler
    {
        public override async Task<ResponseMessage> SendAsync(RequestMessage request, CancellationToken cancellationToken)
        {
            if (request.Method == HttpMethod.Post && $"{request.RequestUri.OriginalString}/".Contains($"/colls/{CosmosSchema.Outbox}/", StringComparison.Ordinal))
            {
                await before().ConfigureAwait(false);
            }

            return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
    }
}
