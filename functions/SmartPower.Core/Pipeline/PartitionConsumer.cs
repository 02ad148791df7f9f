using System.Buffers;
using SmartPower.Alerts;
using SmartPower.Contract;
using SmartPower.Detection;
using SmartPower.Notifications;
using SmartPower.Registry;

namespace SmartPower.Pipeline;

/// <summary>Tuning of a <see cref="PartitionConsumer"/>.</summary>
public sealed class PartitionConsumerOptions
{
    /// <summary>Most records run through the engine between two commits to the store.</summary>
    public int MaxBatch { get; set; } = 2048;

    /// <summary>How long a consumer waits for new records before it looks again (and may checkpoint).</summary>
    public TimeSpan Poll { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// How often the detector state is checkpointed. Alerts are stored with every batch; between checkpoints a crash
    /// only means the batches since the last one are run again, which yields the same transitions with the same ids.
    /// </summary>
    public TimeSpan CheckpointInterval { get; set; } = TimeSpan.FromSeconds(2);
}

/// <summary>
/// Runs one partition of the telemetry log through its own <see cref="DetectionEngine"/>: reads a batch, processes
/// it, sends the commands it raised, stores its transitions and device status, and every so often checkpoints the
/// engine's state with the position after the batch. On start it resumes from the last checkpoint, so a restart
/// neither loses nor repeats an alert: the records after the checkpoint are run again on the state of that moment,
/// giving the same transitions (same alert ids), which the store takes idempotently. The same class serves the local
/// host; the Azure host keeps its own trigger but the same engine and store contract.
/// </summary>
public sealed class PartitionConsumer(
    DeviceRegistry registry,
    ITelemetryPartition log,
    IPipelineStore store,
    IDeviceCommands commands,
    PipelineMetrics metrics,
    PartitionConsumerOptions? options = null,
    TimeProvider? time = null,
    Action<AlertTransition>? onStored = null)
{
    private readonly PartitionConsumerOptions _options = options ?? new PartitionConsumerOptions();
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private DetectionEngine? _engine;
    private long _position;
    private long _checkpointed = -1;
    private long _countedTo;
    private long _lastCheckpointAt;
    private bool _engineAhead;
    private volatile bool _draining;

    public int Partition => log.Partition;

    /// <summary>The position of the next record to process.</summary>
    public long Position => Volatile.Read(ref _position);

    /// <summary>Why the last checkpoint's detector state could not be restored (the consumer started fresh), or null.</summary>
    public string? DiscardedState { get; private set; }

    /// <summary>
    /// Why the checkpoint's position was not where the log is (after a power cut), or null: the log ended before it (its
    /// unsynced tail lost, <c>--no-fsync</c>) or had released records after it (the store rolled back behind the log);
    /// the consumer goes on from the nearest position the log holds, rather than skip new records or stop for good.
    /// </summary>
    public string? PositionGap { get; private set; }

    /// <summary>
    /// Why the last commit to the store failed (disk full, database locked), or null once a commit has succeeded since:
    /// the host reports it as degraded health while it retries.
    /// </summary>
    public string? Failure { get; private set; }

    /// <summary>Records in the log not yet processed.</summary>
    public long Lag => Math.Max(0, log.EndPosition - Position);

    /// <summary>Loads the checkpoint (or starts fresh) so that <see cref="RunAsync"/> can go on from it.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // Forget what ran since the checkpoint first: if loading it fails, RunAsync loads it again rather than go on
        // with an engine that has already seen the records it is about to run again (they would all be duplicates).
        _engine = null;
        _engineAhead = false;
        var checkpoint = await store.LoadCheckpointAsync(Partition, cancellationToken).ConfigureAwait(false);
        try
        {
            _engine = checkpoint is null ? new DetectionEngine(registry) : DetectionEngine.Restore(registry, checkpoint.EngineState.Span);
            DiscardedState = null;
        }
        catch (StateFormatException ex)
        {
            // A checkpoint this build cannot read (another version): go on from its position with fresh detectors,
            // rather than not at all. Holds restart and alerts open at the checkpoint may be opened again.
            _engine = new DetectionEngine(registry);
            DiscardedState = ex.Message;
        }

        _position = checkpoint?.Position ?? 0;
        PositionGap = null;
        if (_position > log.EndPosition)
        {
            // Reading on from the checkpoint would skip what devices send now up to it, or misread it mid-record.
            PositionGap = $"the log ends at {log.EndPosition}, before the checkpoint at {_position}: the readings between were lost with the log's unsynced tail; going on from the log's end";
            _position = log.EndPosition;
        }
        else if (_position < log.StartPosition)
        {
            PositionGap = $"the checkpoint at {_position} is behind the log's oldest record at {log.StartPosition} (the store lost commits the log had released): going on from there";
            _position = log.StartPosition;
        }

        _checkpointed = _position;
        _lastCheckpointAt = _time.GetTimestamp();
    }

    /// <summary>From now on, stop as soon as the log is drained (everything appended so far is processed), then checkpoint.</summary>
    public void BeginDrain() => _draining = true;

    /// <summary>Processes the log until cancelled, or until drained after <see cref="BeginDrain"/>; checkpoints before returning.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        if (_engine is null)
        {
            await StartAsync(cancellationToken).ConfigureAwait(false);
        }

        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var batch = await log.ReadAsync(_position, _options.MaxBatch, _options.Poll, cancellationToken).ConfigureAwait(false);
                if (batch.Records.Count > 0)
                {
                    await ProcessAsync(batch, cancellationToken).ConfigureAwait(false);
                }
                else if (_draining && _position >= log.EndPosition)
                {
                    break;
                }
                else if (_checkpointed != _position && _time.GetElapsedTime(_lastCheckpointAt) >= _options.CheckpointInterval)
                {
                    await CommitAsync([], [], checkpoint: true, _position, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Cancelled while waiting for records, or while a batch's commands or commit were under way.
        }

        if (_engineAhead)
        {
            // Cancelled mid-batch: the engine has seen records whose transitions were not stored. Its state must not
            // be checkpointed at the batch's start (a restart would take the batch's readings for duplicates and its
            // alerts would be lost); the restart runs the batch again from the last checkpoint instead.
            _engine = null;
        }
        else if (_checkpointed != _position)
        {
            await CommitAsync([], [], checkpoint: true, _position, CancellationToken.None).ConfigureAwait(false);
        }
    }

    private async Task ProcessAsync(LogBatch batch, CancellationToken cancellationToken)
    {
        var sink = new CollectingSink();
        var latest = new Dictionary<string, DeviceLatest>(StringComparer.Ordinal);
        var results = new ProcessResult[batch.Records.Count];
        var arrivals = new List<long>();
        var i = 0;
        _engineAhead = true; // until the batch is stored and the position has moved past it
        foreach (var record in batch.Records)
        {
            var result = results[i++] = _engine!.Process(record.Topic.Span, record.Payload.Span, sink);
            while (arrivals.Count < sink.Transitions.Count)
            {
                arrivals.Add(record.ArrivedAtMs); // the reading that caused the transition, for its latency
            }

            if (result.Outcome is MessageOutcome.Accepted or MessageOutcome.Status)
            {
                Remember(latest, record, result.Outcome);
            }
        }

        // Commands first: a crash before the commit replays the batch and sends them again, which a pile ignores
        // for a port already stopped; the other order could lose a stop.
        foreach (var command in sink.Commands)
        {
            await commands.SendAsync(command, cancellationToken).ConfigureAwait(false);
            metrics.CountCommand();
        }

        var due = _time.GetElapsedTime(_lastCheckpointAt) >= _options.CheckpointInterval;
        await CommitAsync(sink.Transitions, [.. latest.Values], due, batch.NextPosition, cancellationToken, arrivals).ConfigureAwait(false);
        _engineAhead = false;

        // Counted once stored, and once only: after a failed commit the records since the checkpoint are run again.
        for (var k = 0; k < results.Length; k++)
        {
            if (batch.Records[k].Position >= _countedTo)
            {
                metrics.Count(results[k]);
            }
        }

        _countedTo = Math.Max(_countedTo, batch.NextPosition);
    }

    private void Remember(Dictionary<string, DeviceLatest> latest, in LogRecord record, MessageOutcome outcome)
    {
        if (!Topic.TryParse(record.Topic.Span, out var topic) || !registry.TryGetDevice(topic.DeviceId, out var device))
        {
            return; // cannot happen for a message the engine accepted
        }

        latest.TryGetValue(device.DeviceId, out var before);
        latest[device.DeviceId] = outcome == MessageOutcome.Accepted
            ? new DeviceLatest(device.DeviceId, device.SiteId, record.ArrivedAtMs) { Reading = record.Payload, Online = before?.Online ?? true }
            : new DeviceLatest(device.DeviceId, device.SiteId, record.ArrivedAtMs) { Reading = before?.Reading, Online = ReadingParser.TryParseStatus(record.Payload.Span, out var status).IsFailure ? before?.Online : status.Online };
    }

    /// <summary>Stores a processed batch (and, if due, the checkpoint at <paramref name="next"/>); then the position moves on.</summary>
    private async Task CommitAsync(IReadOnlyList<AlertTransition> transitions, IReadOnlyList<DeviceLatest> devices, bool checkpoint, long next, CancellationToken cancellationToken,
        IReadOnlyList<long>? arrivals = null)
    {
        PartitionCheckpoint? saved = null;
        if (checkpoint)
        {
            var state = new ArrayBufferWriter<byte>(4096);
            _engine!.SaveState(state);
            saved = new PartitionCheckpoint(Partition, next, state.WrittenMemory);
        }

        if (transitions.Count > 0 || devices.Count > 0 || saved is not null)
        {
            var commit = new BatchCommit(Partition, transitions, devices, saved) { Notifications = Notification.ForTransitions(transitions, registry) };
            try
            {
                await store.CommitAsync(commit, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Failure = ex.Message;
                throw;
            }
        }

        Failure = null;

        var rerun = _position < _countedTo;
        Volatile.Write(ref _position, next);
        if (!rerun)
        {
            metrics.CountStored(transitions); // a re-run after a failed commit stores the same transitions again, idempotently
        }

        var storedAt = _time.GetUtcNow().ToUnixTimeMilliseconds();
        for (var i = 0; i < transitions.Count; i++)
        {
            onStored?.Invoke(transitions[i]);
            if (!rerun && arrivals is not null && i < arrivals.Count)
            {
                metrics.RecordStored(storedAt - arrivals[i]);
                metrics.RecordPushed(_time.GetUtcNow().ToUnixTimeMilliseconds() - arrivals[i]);
            }
        }

        if (saved is not null)
        {
            _checkpointed = saved.Position;
            _lastCheckpointAt = _time.GetTimestamp();
            log.Release(saved.Position);
        }
    }
}
