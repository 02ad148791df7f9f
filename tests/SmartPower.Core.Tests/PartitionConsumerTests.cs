using System.Text;
using SmartPower.Alerts;
using SmartPower.Contract;
using SmartPower.Pipeline;
using SmartPower.Registry;

namespace SmartPower.Tests;

/// <summary>A partition consumer stopped at any point leaves nothing it processed unstored for good.</summary>
public sealed class PartitionConsumerTests
{
    [Fact]
    public async Task A_consumer_cancelled_while_it_stores_a_batch_leaves_the_batch_to_run_again_and_its_alert_is_not_lost()
    {
        var registry = RegistryLoader.Parse(Feed.RegistryJson);
        var log = new MemoryPartition(Enumerable.Range(0, 4).Select(i =>
            (Feed.Topic("m-0001"), Feed.MeterPayload(i * 10, i + 1, 5, leakageMa: i >= 1 ? 350 : 3)))); // leakage: critical on the 2nd reading of 350 mA
        var store = new MemoryStore();
        using var metrics = new PipelineMetrics();

        // The first consumer stores its first batch (no checkpoint due yet), runs the second, in which the alert opens,
        // and is stopped while the store is still taking that batch's commit.
        store.Block = new TaskCompletionSource();
        var twoAtATime = new PartitionConsumerOptions { MaxBatch = 2 };
        using (var stop = new CancellationTokenSource())
        {
            var first = new PartitionConsumer(registry, log, store, new NoCommands(), metrics, twoAtATime);
            var run = first.RunAsync(stop.Token);
            await store.CommitStarted.Task.WaitAsync(TimeSpan.FromSeconds(10));
            await stop.CancelAsync();
            await run.WaitAsync(TimeSpan.FromSeconds(10));
        }

        Assert.Empty(store.Transitions);
        store.Block = null;

        // The next start goes on from what the store holds, and the alert is stored.
        var second = new PartitionConsumer(registry, log, store, new NoCommands(), metrics, twoAtATime);
        second.BeginDrain();
        await second.RunAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        var opened = Assert.Single(store.Transitions, t => t.Kind == TransitionKind.Opened);
        Assert.Equal(AlertType.Leakage, opened.Alert.Type);
        Assert.Equal(Severity.Critical, opened.Alert.Severity);
        Assert.Equal(log.EndPosition, store.Checkpoint?.Position);
    }

    private sealed class MemoryPartition(IEnumerable<(string Topic, string Payload)> messages) : ITelemetryPartition
    {
        private readonly LogRecord[] _records = messages.Select((m, i) => new LogRecord(i, Encoding.UTF8.GetBytes(m.Topic), Encoding.UTF8.GetBytes(m.Payload), i)).ToArray();

        public int Partition => 0;

        public long EndPosition => _records.Length;

        public async ValueTask<LogBatch> ReadAsync(long position, int maxRecords, TimeSpan wait, CancellationToken cancellationToken)
        {
            var records = _records.Skip((int)position).Take(maxRecords).ToArray();
            if (records.Length == 0)
            {
                await Task.Delay(wait, cancellationToken);
            }

            return new LogBatch(records, position + records.Length);
        }

        public void Release(long position)
        {
        }
    }

    private sealed class MemoryStore : IPipelineStore
    {
        public TaskCompletionSource? Block { get; set; }

        /// <summary>Set when a commit with transitions has begun (the blocked one).</summary>
        public TaskCompletionSource CommitStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public List<AlertTransition> Transitions { get; } = [];

        public PartitionCheckpoint? Checkpoint { get; private set; }

        public Task<PartitionCheckpoint?> LoadCheckpointAsync(int partition, CancellationToken cancellationToken) => Task.FromResult(Checkpoint);

        public async Task CommitAsync(BatchCommit batch, CancellationToken cancellationToken)
        {
            if (Block is { } block && batch.Transitions.Count > 0)
            {
                CommitStarted.TrySetResult();
                await block.Task.WaitAsync(cancellationToken); // a busy database: the commit is still waiting when the stop comes
            }

            Transitions.AddRange(batch.Transitions.Where(t => !Transitions.Any(s => s.Alert.AlertId == t.Alert.AlertId && s.Kind == t.Kind)));
            Checkpoint = batch.Checkpoint ?? Checkpoint;
        }
    }

    private sealed class NoCommands : IDeviceCommands
    {
        public Task SendAsync(DeviceCommand command, CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
