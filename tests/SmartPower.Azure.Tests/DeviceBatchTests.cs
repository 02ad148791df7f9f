using SmartPower.Alerts;
using SmartPower.Cosmos;
using SmartPower.Registry;

namespace SmartPower.Azure.Tests;

/// <summary>
/// The per-device detection step (what the Functions app's Event Hubs trigger and the Event Hubs processor run) against
/// the real Cosmos DB test server: batched, it leaves exactly the alerts and commands of one engine run over the whole
/// stream; a batch delivered again, a crash between storing and saving, a partition changing owner and a poison event
/// change none of that; the watchdog raises offline for a silent device and its next reading clears it.
/// </summary>
public sealed class DeviceBatchTests : CosmosNightTests
{
    [Fact]
    public async Task Batches_leave_the_alerts_of_one_engine_run_with_one_read_and_one_write_per_site_and_partition_per_batch()
    {
        var commands = new RecordingCommands();
        var processor = Processor(commands: commands);
        var batches = Night.Batches(60);
        var touched = 0;
        foreach (var batch in batches)
        {
            Store.ForgetDevices(); // a cold instance at every batch: nothing cached
            var result = await processor.ProcessAsync(0, batch, CancellationToken.None);
            touched += result.Devices;
            Assert.Equal(0, result.DeadLettered);
        }

        await AssertStoredAsReferenceAsync();
        Assert.Equal(Night.Commands, commands.Sent);
        Assert.NotEmpty(commands.Sent);
        Assert.Equal(batches.Count, commands.Heard.Count); // each batch's devices, for the commands held for them
        Assert.All(commands.Heard, heard => Assert.Equal(["m-0001", "m-0002", "m-0100", "p-0001"], heard));
        var charges = Store.Charges.Read().ToDictionary(c => c.Operation);

        // The night's four devices are one site on one partition: one document, one read and one write per batch, where
        // one document per device would take a read and a write per device.
        Assert.True(touched >= 3 * batches.Count, $"{touched} devices in {batches.Count} batches");
        Assert.Equal(batches.Count, charges["device.read"].Requests);
        Assert.Equal(batches.Count, charges["device.write"].Requests);
        Assert.Equal(batches.Count, charges["clock.read"].Requests);
        Assert.Equal(batches.Count, charges["clock.write"].Requests);
    }

    [Fact]
    public async Task A_warm_process_reads_each_document_once_and_then_only_writes()
    {
        var processor = Processor();
        foreach (var batch in Night.Batches(60))
        {
            await processor.ProcessAsync(0, batch, CancellationToken.None);
        }

        await AssertStoredAsReferenceAsync();
        var charges = Store.Charges.Read().ToDictionary(c => c.Operation);
        Assert.Equal(1, charges["device.read"].Requests);
    }

    [Fact]
    public async Task Devices_of_a_site_on_two_partitions_are_two_documents_and_the_site_status_reads_both()
    {
        var batches = Night.Batches(60);
        var processor = Processor();
        foreach (var batch in batches)
        {
            // m-0001 and m-0002 arrive on partition 3, the others on partition 0 (as the device id would hash).
            var byPartition = batch.GroupBy(e => e.Topic is { } t && (t.Contains("m-0001", StringComparison.Ordinal) || t.Contains("m-0002", StringComparison.Ordinal)) ? 3 : 0);
            foreach (var part in byPartition.OrderBy(g => g.Key))
            {
                await processor.ProcessAsync(part.Key, [.. part], CancellationToken.None);
            }
        }

        Assert.Equal(2, Store.Charges.Read().Single(c => c.Operation == "device.read").Requests); // a warm instance read the two documents once
        var devices = await Store.GetDevicesAsync(Feed.Site);
        Assert.Equal(["m-0001", "m-0002", "m-0100", "p-0001"], devices.Select(d => d.DeviceId));
        Assert.All(devices, d => Assert.NotNull(d.ReadingJson));
        Assert.Equal(devices[1], await Store.GetDeviceAsync("m-0002"));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => processor.ProcessAsync(Options.Partitions, batches[0], CancellationToken.None));
    }

    [Fact]
    public async Task A_write_that_lost_its_etag_to_another_device_of_the_document_is_merged_and_written_again()
    {
        var batches = Night.Batches(60);
        var processor = Processor();
        for (var i = 0; i < 6; i++)
        {
            await processor.ProcessAsync(0, batches[i], CancellationToken.None);
        }

        // Another instance (a store of its own on the same database) writes one device of the document: this store's
        // cached document is stale now. Its next batch fails the document's ETag, reads it again, and writes again the
        // devices nobody else changed; the one that was changed is refused and run again on what the other stored.
        var other = new CosmosStore(CosmosServer.Client, Night.Registry, Options);
        var loaded = await other.LoadAsync(0, [.. Night.Registry.Devices.Where(d => d.DeviceId == "m-0100")], CancellationToken.None);
        Assert.NotNull((await other.SaveAsync([loaded["m-0100"]], CancellationToken.None))[0]);
        var result = await processor.ProcessAsync(0, batches[6], CancellationToken.None);
        Assert.Equal(1, result.Conflicts);
        for (var i = 7; i < batches.Count; i++)
        {
            await processor.ProcessAsync(0, batches[i], CancellationToken.None);
        }

        await AssertStoredAsReferenceAsync();
    }

    [Fact]
    public async Task A_batch_delivered_again_changes_nothing()
    {
        var commands = new RecordingCommands();
        var processor = Processor(commands: commands);
        var batches = Night.Batches(60);
        foreach (var batch in batches.Take(12))
        {
            await processor.ProcessAsync(0, batch, CancellationToken.None);
        }

        var before = await StoredAsync();
        var sent = commands.Sent.Count;
        Store.Charges.Reset();
        var again = await processor.ProcessAsync(0, batches[11], CancellationToken.None);
        Assert.Equal(0, again.Transitions);
        Assert.Equal(sent, commands.Sent.Count);
        Assert.Equal(before, await StoredAsync());
        Assert.DoesNotContain(Store.Charges.Read(), c => c.Operation == "alert.write");
        foreach (var batch in batches.Skip(12))
        {
            await processor.ProcessAsync(0, batch, CancellationToken.None);
        }

        await AssertStoredAsReferenceAsync();
    }

    [Fact]
    public async Task A_crash_after_the_alerts_and_before_the_devices_are_saved_is_replayed_to_the_same_alerts()
    {
        var states = new FlakyStates(Store);
        var batches = Night.Batches(60);
        var processor = Processor(states: states);
        for (var i = 0; i < batches.Count; i++)
        {
            if (i is 4 or 10 or 14)
            {
                states.FailNextSave = true;
                await Assert.ThrowsAsync<IOException>(() => processor.ProcessAsync(0, batches[i], CancellationToken.None));
                processor = Processor(states: states); // the host restarts; the batch is delivered again
            }

            await processor.ProcessAsync(0, batches[i], CancellationToken.None);
        }

        await AssertStoredAsReferenceAsync();
    }

    [Fact]
    public async Task A_partition_that_changed_owner_is_run_again_on_what_the_new_ownerStored()
    {
        var batches = Night.Batches(60);
        var first = Processor(cache: new DeviceRecordCache());
        var second = new DeviceBatchProcessor(Night.Registry, new CosmosStore(CosmosServer.Client, Night.Registry, Options), Store, new RecordingCommands(), Store, new PipelineMetrics(), cache: new DeviceRecordCache());
        for (var i = 0; i < 8; i++)
        {
            await first.ProcessAsync(0, batches[i], CancellationToken.None);
        }

        for (var i = 8; i < 12; i++)
        {
            await second.ProcessAsync(0, batches[i], CancellationToken.None); // the partition moved to another instance
        }

        // The first instance, with its cache of batch 7, gets the partition back: the partition's clock is not the one
        // it saved, so it reads the devices afresh rather than run the batch on its stale cache (whose transitions would
        // be stored before its writes failed on the versions the second one wrote).
        var result = await first.ProcessAsync(0, batches[12], CancellationToken.None);
        Assert.Equal(0, result.Conflicts);
        for (var i = 13; i < batches.Count; i++)
        {
            await first.ProcessAsync(0, batches[i], CancellationToken.None);
        }

        await AssertStoredAsReferenceAsync();
    }

    [Fact]
    public async Task A_poison_event_is_dead_lettered_and_counted_and_the_rest_of_its_batch_goes_on()
    {
        var metrics = new PipelineMetrics();
        var processor = Processor(metrics: metrics);
        var batches = Night.Batches(60);
        for (var i = 0; i < batches.Count; i++)
        {
            IReadOnlyList<TelemetryEvent> batch = i != 3 ? batches[i] :
            [
                .. batches[i].Take(5),
                new TelemetryEvent("poison-1", null, "{\"ts\":"u8.ToArray(), 1),
                Night.Event(9001, Feed.Topic("m-0002"), "{\"ts\":\"not a time\"", 30), // malformed: refused by the parser, counted
                .. batches[i].Skip(5),
            ];
            await processor.ProcessAsync(0, batch, CancellationToken.None);
        }

        await AssertStoredAsReferenceAsync();
        Assert.Equal(1, metrics.DeadLetters);
        Assert.Equal(1, metrics.Rejected);
        Assert.Equal(Night.Events.Count, metrics.Accepted);
        var letter = await Store.GetDeadLetterAsync(0, "poison-1");
        Assert.Equal("no topic on the event", letter!.Reason);
        Assert.Equal("{\"ts\":"u8.ToArray(), letter.Payload.ToArray());
    }

    [Fact]
    public async Task The_watchdog_raises_offline_for_a_silent_device_and_its_next_reading_clears_it()
    {
        // m-0100 is silent from 600 s to 1000 s.
        var (raised, alerts) = await WatchNightAsync(new Azure.Tests.Night(1300, (device, t) => device != "m-0100" || t < 600 || t >= 1000));
        var offline = Assert.Single(raised).Alert; // raised once, not at every sweep
        Assert.Equal(("m-0100", AlertType.Offline, TransitionKind.Opened), (offline.DeviceId, offline.Type, raised[0].Kind));
        Assert.Equal(Feed.T0.AddSeconds(590 + 60), offline.OpenedAt); // last reading + the offline limit, in event time
        var stored = await Store.GetAlertAsync(offline.AlertId);
        Assert.Equal(AlertState.Cleared, stored!.Alert.State);
        Assert.Equal(Feed.T0.AddSeconds(1000), stored.Alert.ClearedAt);
        Assert.Equal(["opened", "cleared"], (await Store.GetTransitionsAsync(offline.AlertId)).Select(t => t.Kind));
        Assert.Single(alerts.Committed, t => t.Alert.Type == AlertType.Offline && t.Kind == TransitionKind.Opened); // no second offline from the engine
    }

    [Fact]
    public async Task The_watchdog_leaves_a_device_whose_gap_is_within_the_trigger_s_batching_grace()
    {
        // m-0100 sends nothing from 600 s to 700 s: over its 60 s limit, but readings a minute old may still be in the
        // trigger's batch window, so the watchdog waits the grace (90 s) beyond the limit before it calls a device offline.
        var (raised, _) = await WatchNightAsync(new Azure.Tests.Night(1000, (device, t) => device != "m-0100" || t < 600 || t >= 700));
        Assert.Empty(raised);
    }

    [Fact]
    public async Task A_silence_the_engine_saw_in_a_backlog_batch_and_the_watchdog_saw_too_is_one_alert()
    {
        // m-0100's clock runs 150 s slow, and it is silent from 600 s to 1000 s. A backlog arrives in batches of 400 s,
        // so the engine sees the silence inside a batch and opens offline; the watchdog, on the wall clock, sees it too.
        var night = new Azure.Tests.Night(1300, (device, t) => device != "m-0100" || t < 600 || t >= 1000, device => device == "m-0100" ? -150 : 0);
        var (_, alerts) = await WatchNightAsync(night, windowS: 400);
        var offline = Assert.Single(alerts.Committed.Where(t => t.Alert.Type == AlertType.Offline).Select(t => t.Alert.AlertId).Distinct());
        Assert.Equal(["opened", "cleared"], (await Store.GetTransitionsAsync(offline)).Select(t => t.Kind));
        Assert.Equal(AlertState.Cleared, (await Store.GetAlertAsync(offline))!.Alert.State);
    }

    /// <summary>Runs <paramref name="night"/> in batches of <paramref name="windowS"/> of arrivals, the watchdog sweeping after each on their clock.</summary>
    private async Task<(List<AlertTransition> Raised, RecordingAlerts Alerts)> WatchNightAsync(Azure.Tests.Night night, double windowS = 30)
    {
        var time = new ManualTime(Feed.T0);
        var states = new FlakyStates(Store);
        var alerts = new RecordingAlerts(Store);
        var processor = new DeviceBatchProcessor(night.Registry, states, alerts, new RecordingCommands(), Store, new PipelineMetrics());
        var watchdog = new Watchdog(night.Registry, states, alerts, time);
        var raised = new List<AlertTransition>();
        foreach (var batch in night.Batches(windowS))
        {
            await processor.ProcessAsync(0, batch, CancellationToken.None);
            time.Now = DateTimeOffset.FromUnixTimeMilliseconds(batch[^1].ArrivedAtMs);
            raised.AddRange(await watchdog.RunAsync(CancellationToken.None));
        }

        return (raised, alerts);
    }

    [Fact]
    public async Task A_device_silent_for_the_ttl_while_its_document_is_written_leaves_it()
    {
        // m-0100 is silent from 600 s to 1000 s; with a five-minute TTL it leaves its document once the others of it
        // have been heard 300 s after it, and comes back afresh.
        var night = new Azure.Tests.Night(1300, (device, t) => device != "m-0100" || t < 600 || t >= 1000);
        var options = new CosmosStoreOptions { DeviceTtl = TimeSpan.FromMinutes(5) };
        var store = await CosmosServer.NewStoreAsync(night.Registry, options);
        try
        {
            var processor = new DeviceBatchProcessor(night.Registry, store, store, new RecordingCommands(), store, new PipelineMetrics());
            var cutoff = Feed.T0.AddSeconds(950).ToUnixTimeMilliseconds();
            foreach (var batch in night.Batches(30).Where(b => b[^1].ArrivedAtMs < cutoff))
            {
                await processor.ProcessAsync(0, batch, CancellationToken.None);
            }

            store.ForgetDevices();
            var records = await store.LoadAsync(0, [.. night.Registry.Devices], CancellationToken.None);
            Assert.Equal(["m-0001", "m-0002", "p-0001"], records.Keys.Order(StringComparer.Ordinal));
        }
        finally
        {
            await CosmosServer.DropAsync(options);
        }
    }

    [Fact]
    public async Task Containers_are_created_with_their_keys_indexing_and_ttl()
    {
        var database = CosmosServer.Client.GetDatabase(Options.Database);
        var alerts = (await database.GetContainer(CosmosSchema.Alerts).ReadContainerAsync()).Resource;
        Assert.Equal("/id", alerts.PartitionKeyPath);
        Assert.Null(alerts.DefaultTimeToLive);
        Assert.Contains(alerts.IndexingPolicy.ExcludedPaths, p => p.Path == "/*");
        Assert.Contains(alerts.IndexingPolicy.IncludedPaths, p => p.Path == "/siteId/?");
        var devices = (await database.GetContainer(CosmosSchema.Devices).ReadContainerAsync()).Resource;
        Assert.Equal("/siteId", devices.PartitionKeyPath);
        Assert.Equal((int)Options.DeviceTtl.TotalSeconds, devices.DefaultTimeToLive);
        Assert.Equal(["/watchFrom/?"], devices.IndexingPolicy.IncludedPaths.Select(p => p.Path));
        var checkpoints = (await database.GetContainer(CosmosSchema.Checkpoints).ReadContainerAsync()).Resource;
        Assert.Equal(Microsoft.Azure.Cosmos.IndexingMode.None, checkpoints.IndexingPolicy.IndexingMode);
    }

    private DeviceBatchProcessor Processor(IDeviceStateStore? states = null, RecordingCommands? commands = null, PipelineMetrics? metrics = null, DeviceRecordCache? cache = null) =>
        new(Night.Registry, states ?? Store, Store, commands ?? new RecordingCommands(), Store, metrics ?? new PipelineMetrics(), cache: cache);

    private async Task AssertStoredAsReferenceAsync()
    {
        Assert.NotEmpty(Night.FinalAlerts);
        Assert.Contains(Night.FinalAlerts.Values, a => a.Type == AlertType.PortOverpower);
        foreach (var (id, alert) in Night.FinalAlerts)
        {
            Assert.Equal(alert, (await Store.GetAlertAsync(id))!.Alert);
            Assert.Equal(
                Night.Transitions.Where(t => t.Alert.AlertId == id).Select(t => AlertNames.Of(t.Kind)),
                (await Store.GetTransitionsAsync(id)).Select(t => t.Kind));
        }
    }

    private async Task<string> StoredAsync()
    {
        var text = new System.Text.StringBuilder();
        foreach (var id in Night.FinalAlerts.Keys.Order(StringComparer.Ordinal))
        {
            foreach (var t in await Store.GetTransitionsAsync(id))
            {
                text.Append(t.Kind).Append(' ').Append(t.At.ToUnixTimeMilliseconds()).Append(' ').Append(t.StoredAt.ToUnixTimeMilliseconds()).Append(' ').AppendLine(AlertJson.ToJson(t.Alert));
            }
        }

        return text.ToString();
    }
}

/// <summary>
/// The store's device records, with two test hooks: a save that fails once (a crash between storing the alerts and
/// saving the devices), and the watchdog's query answered by point reads of every registered device with the query's
/// own condition, since the test server cannot run Cosmos DB SQL (the query text itself is verified only on Azure).
/// </summary>
internal sealed class FlakyStates(CosmosStore store) : IDeviceStateStore
{
    public bool FailNextSave { get; set; }

    public Task<IReadOnlyDictionary<string, DeviceRecord>> LoadAsync(int partition, IReadOnlyCollection<Device> devices, CancellationToken cancellationToken) => store.LoadAsync(partition, devices, cancellationToken);

    public Task<IReadOnlyList<string?>> SaveAsync(IReadOnlyList<DeviceRecord> records, CancellationToken cancellationToken)
    {
        if (FailNextSave)
        {
            FailNextSave = false;
            throw new IOException("the host died before saving its devices");
        }

        return store.SaveAsync(records, cancellationToken);
    }

    public Task<ReadOnlyMemory<byte>?> LoadClockAsync(int partition, CancellationToken cancellationToken) => store.LoadClockAsync(partition, cancellationToken);

    public Task SaveClockAsync(int partition, ReadOnlyMemory<byte> clock, CancellationToken cancellationToken) => store.SaveClockAsync(partition, clock, cancellationToken);

    public void Forget(int partition) => store.Forget(partition);

    public async Task<IReadOnlyList<DeviceRecord>> FindSilentAsync(long heardBeforeMs, Func<DeviceRecord, bool> due, int max, CancellationToken cancellationToken)
    {
        var all = await store.LoadAsync(0, new Feed().Registry.Devices.ToList(), cancellationToken);
        return [.. all.Values.Where(r => r.LastReadingTsMs is not null && r.WatchdogOffline is null && r.HeardAtMs < heardBeforeMs && due(r)).Take(max)];
    }
}
