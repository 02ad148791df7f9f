using System.Text;
using Microsoft.Data.Sqlite;
using SmartPower.Alerts;
using SmartPower.Detection;
using SmartPower.Host.Log;
using SmartPower.Mqtt;
using SmartPower.Registry;
using SmartPower.Sqlite;

namespace SmartPower.Pipeline.Tests;

/// <summary>
/// The local host's durability path in sequences found in review at stop 19 (each failed before its fix): an alert held
/// up by a command the external broker could not take, and a checkpoint that a power cut left outside the log.
/// </summary>
public sealed class DurabilityEdgeTests : IDisposable
{
    private readonly TempDirectory _directory = new("durability-edge");

    public void Dispose() => _directory.Dispose();

    /// <summary>
    /// Sequence: `serve --broker H:P` (the bridge is the consumers' IDeviceCommands). The external broker drops (restart,
    /// network) while a partition's log holds a pile's port over-power readings (durable, acknowledged). The consumer runs
    /// the batch, the engine raises the critical port-overpower alert and a stop-port command; PartitionConsumer sends the
    /// commands before it commits, BrokerBridge.SendAsync -> MqttClient.PublishAsync throws "not connected", the batch's
    /// commit never happens, and the host's loop restarts the consumer from its checkpoint every second, failing the same
    /// way until the bridge is connected again.
    /// What went wrong: the critical alert (and its webhook to the fire station, written with it) is not stored for as long as the
    /// MQTT broker is away, and neither is any other alert of the partition behind it. Only the stop needs the broker;
    /// the bridge already holds commands for an absent pile (HeldCommands), so a failed send need not block the store.
    /// </summary>
    [Fact]
    public async Task An_alert_is_stored_while_the_external_broker_is_unreachable_for_its_stop_port_command()
    {
        var registry = RegistryLoader.Parse(Feed.RegistryJson);
        await using var store = await SqliteStore.OpenAsync(new SqliteStoreOptions { Path = _directory.File("store.db") });
        await using var log = FileTelemetryLog.Open(new FileTelemetryLogOptions { Directory = _directory.File("log"), Partitions = 1 });
        var records = Enumerable.Range(0, 18).Select(i => (Topic: Feed.Topic("p-0001", "pile"), Payload: Feed.PilePayload(i * 10, i + 1, 900, 0, 0, 0))).ToList();
        foreach (var (topic, payload) in records)
        {
            await log.AppendAsync(new TelemetryMessage("p-0001", topic, Encoding.UTF8.GetBytes(payload), 0), CancellationToken.None);
        }

        // Straight through, these readings open a port-overpower alert and stop the port.
        var reference = new DetectionEngine(registry);
        var sink = new CollectingSink();
        foreach (var (topic, payload) in records)
        {
            reference.Process(Encoding.UTF8.GetBytes(topic), Encoding.UTF8.GetBytes(payload), sink);
        }

        var expected = Assert.Single(sink.Transitions, t => t.Kind == TransitionKind.Opened && t.Alert.Type == AlertType.PortOverpower);
        Assert.NotEmpty(sink.Commands);

        // The bridge as the host builds it, its broker away (never connected here; a dropped connection is the same to PublishAsync).
        using var ingress = new Ingress(registry, log);
        await using var bridge = new BrokerBridge(new BrokerBridgeOptions { Host = "127.0.0.1", Port = FreePorts.Next() }, ingress);
        using var metrics = new PipelineMetrics();
        var consumer = new PartitionConsumer(registry, log.Partition(0), store, bridge, metrics, new PartitionConsumerOptions { Poll = TimeSpan.FromMilliseconds(20) });
        consumer.BeginDrain();

        // What LocalPipeline.RunConsumerAsync does, for three seconds of broker outage.
        var deadline = DateTime.UtcNow.AddSeconds(3);
        Exception? failure = null;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                await consumer.RunAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
                break;
            }
            catch (Exception ex) when (ex is not TimeoutException)
            {
                failure = ex;
                await Task.Delay(200);
                await consumer.StartAsync(CancellationToken.None);
            }
        }

        Assert.True(await store.GetAlertAsync(expected.Alert.AlertId) is not null, $"critical alert not stored; the consumer failed with {failure?.GetType().Name}: {failure?.Message}");
    }

    /// <summary>
    /// Sequence (default config, fsync on): SqliteStore opens its writer with `PRAGMA synchronous = NORMAL` in WAL mode,
    /// so a committed transaction is not fsynced and may roll back after a power cut (SQLite's documented behaviour).
    /// PartitionConsumer.CommitAsync calls log.Release(checkpoint) right after such a commit returns, and the log deletes
    /// the segments wholly before it (an unlink the next fsync of an appended segment makes durable). Power cut: the
    /// store is back at the previous checkpoint C1 (the alerts stored since are gone too), while the segments between C1
    /// and C2 are gone for good.
    /// What went wrong: on restart the consumer reads from C1, SegmentOf throws "position ... was released already", and the host
    /// restarts it every second for ever: the partition stops for good, the lost alert and every later one never stored.
    /// The power cut is simulated by restoring the database files copied at C1 (exactly what an unsynced WAL allowed).
    /// Fixed twice: the store now commits with <c>synchronous = FULL</c> (not testable here: no power cut to make), and a
    /// consumer whose checkpoint is behind the log's oldest record goes on from that record and says so (a disk that
    /// lies about its flushes). The alert between C1 and C2 is lost with the released records; what comes next is not.
    /// </summary>
    [Fact]
    public async Task A_store_rolled_back_behind_released_log_segments_does_not_stop_the_partition()
    {
        var registry = RegistryLoader.Parse(Feed.RegistryJson);
        var db = _directory.File("store.db");
        var logOptions = new FileTelemetryLogOptions { Directory = _directory.File("log"), Partitions = 1, SegmentBytes = 2000 };
        var seq = 0;
        async Task AppendAsync(FileTelemetryLog log, int from, int count, double? leakageMa)
        {
            for (var i = from; i < from + count; i++)
            {
                var payload = Feed.MeterPayload(i * 10, ++seq, 5, leakageMa: leakageMa);
                await log.AppendAsync(new TelemetryMessage("m-0001", Feed.Topic("m-0001"), Encoding.UTF8.GetBytes(payload), 0), CancellationToken.None);
            }
        }

        async Task<PartitionConsumer> DrainAsync(SqliteStore store, FileTelemetryLog log, int attempts, Func<Task>? beforeRun = null)
        {
            using var metrics = new PipelineMetrics();
            var consumer = new PartitionConsumer(registry, log.Partition(0), store, new NoCommands(), metrics, new PartitionConsumerOptions { Poll = TimeSpan.FromMilliseconds(20) });
            await consumer.StartAsync(CancellationToken.None); // as the host: consumers start before the broker takes messages
            if (beforeRun is not null)
            {
                await beforeRun();
            }

            consumer.BeginDrain();
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await consumer.RunAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
                    return consumer;
                }
                catch (InvalidOperationException) when (attempt < attempts)
                {
                    await consumer.StartAsync(CancellationToken.None); // as LocalPipeline.RunConsumerAsync does
                }
            }
        }

        // Checkpoint C1, and the database as it stands then.
        await using (var store = await SqliteStore.OpenAsync(new SqliteStoreOptions { Path = db }))
        await using (var log = FileTelemetryLog.Open(logOptions))
        {
            await AppendAsync(log, 0, 5, leakageMa: 3);
            await DrainAsync(store, log, attempts: 1);
        }

        SqliteConnection.ClearAllPools();
        var copy = _directory.File("store-at-c1");
        Directory.CreateDirectory(copy);
        foreach (var file in Directory.GetFiles(_directory.Path, "store.db*"))
        {
            File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        }

        // A leakage alert, then checkpoint C2 past several segments, which are released (deleted).
        string alertId;
        await using (var store = await SqliteStore.OpenAsync(new SqliteStoreOptions { Path = db }))
        await using (var log = FileTelemetryLog.Open(logOptions))
        {
            await AppendAsync(log, 5, 30, leakageMa: 350);
            await DrainAsync(store, log, attempts: 1);
            alertId = Assert.Single(await store.GetAlertsAsync(), a => a.Alert.Type == AlertType.Leakage).Alert.AlertId;
        }

        // Power cut: the unsynced WAL frames of C2's commits are lost; the log's deletions are not.
        SqliteConnection.ClearAllPools();
        foreach (var file in Directory.GetFiles(_directory.Path, "store.db*"))
        {
            File.Delete(file);
        }

        foreach (var file in Directory.GetFiles(copy))
        {
            File.Copy(file, Path.Combine(_directory.Path, Path.GetFileName(file)));
        }

        // Restart: the partition goes on (it stopped for good before), says what it skipped, and the next hazard is stored.
        await using (var store = await SqliteStore.OpenAsync(new SqliteStoreOptions { Path = db }))
        await using (var log = FileTelemetryLog.Open(logOptions))
        {
            var consumer = await DrainAsync(store, log, attempts: 1, beforeRun: () => AppendAsync(log, 35, 5, leakageMa: 350));
            Assert.NotNull(consumer.PositionGap);
            Assert.Contains(await store.GetAlertsAsync(), a => a.Alert.Type == AlertType.Leakage && a.Alert.AlertId != alertId);
        }
    }

    /// <summary>
    /// Sequence (`serve --no-fsync`, acknowledged once the OS has it): readings 1-10 appended, consumed, checkpoint at
    /// the log's end P (the store's WAL reaches the disk). Power cut: the log segment's unwritten tail (readings 6-10) is
    /// lost, which --no-fsync documents. Restart: the log's end E is now below P, and PartitionConsumer.StartAsync takes
    /// P as it is (no check against log.EndPosition). The device's new readings (a leakage hazard) are appended at E..,
    /// and the consumer reads only from P: everything between E and P is skipped silently (or, where P falls inside a
    /// record, misread as a record header: here ReadAsync throws "record at P larger than a read: corrupt", and the host
    /// restarts the consumer from the same checkpoint every second for ever).
    /// What went wrong: readings acknowledged after the restart are skipped or the partition stops for good; here a critical
    /// leakage alert is never stored.
    /// </summary>
    [Fact]
    public async Task Readings_after_a_restart_are_not_skipped_when_the_checkpoint_is_past_the_end_of_the_log()
    {
        var registry = RegistryLoader.Parse(Feed.RegistryJson);
        var logOptions = new FileTelemetryLogOptions { Directory = _directory.File("log"), Partitions = 1, FlushToDisk = false };
        await using var store = await SqliteStore.OpenAsync(new SqliteStoreOptions { Path = _directory.File("store.db") });
        using var metrics = new PipelineMetrics();
        var seq = 0;
        async Task AppendAsync(FileTelemetryLog log, int from, int count, double leakageMa)
        {
            for (var i = from; i < from + count; i++)
            {
                var payload = Feed.MeterPayload(i * 10, ++seq, 5, leakageMa: leakageMa);
                await log.AppendAsync(new TelemetryMessage("m-0001", Feed.Topic("m-0001"), Encoding.UTF8.GetBytes(payload), 0), CancellationToken.None);
            }
        }

        async Task DrainAsync(FileTelemetryLog log, Func<Task>? beforeRun = null)
        {
            var consumer = new PartitionConsumer(registry, log.Partition(0), store, new NoCommands(), metrics, new PartitionConsumerOptions { Poll = TimeSpan.FromMilliseconds(20) });
            await consumer.StartAsync(CancellationToken.None); // as the host: consumers start before the broker takes messages
            if (beforeRun is not null)
            {
                await beforeRun();
            }

            consumer.BeginDrain();
            await consumer.RunAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        }

        long half;
        await using (var log = FileTelemetryLog.Open(logOptions))
        {
            await AppendAsync(log, 0, 5, leakageMa: 3);
            half = log.Partition(0).EndPosition;
            await AppendAsync(log, 5, 5, leakageMa: 3);
            await DrainAsync(log);
        }

        Assert.Equal(2 * half, (await store.LoadCheckpointAsync(0, CancellationToken.None))!.Position, tolerance: 10);

        // Power cut: the page cache's last records of the segment never reached the disk.
        var segment = Directory.GetFiles(Path.Combine(logOptions.Directory, "p0"), "*.seg").Single();
        await using (var file = new FileStream(segment, FileMode.Open))
        {
            file.SetLength(half);
        }

        // Restart; the device's new readings hold a leakage hazard (critical from its second reading).
        await using (var log = FileTelemetryLog.Open(logOptions))
        {
            await DrainAsync(log, async () =>
            {
                await AppendAsync(log, 10, 5, leakageMa: 350);
                await AppendAsync(log, 15, 10, leakageMa: 3);
            });
        }

        Assert.Contains(await store.GetAlertsAsync(), a => a.Alert.Type == AlertType.Leakage);
    }

    private sealed class NoCommands : IDeviceCommands
    {
        public Task SendAsync(Contract.DeviceCommand command, CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
