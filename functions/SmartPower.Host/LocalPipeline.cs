using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using SmartPower.Alerts;
using SmartPower.Host.Log;
using SmartPower.Mqtt;
using SmartPower.Pipeline;
using SmartPower.Registry;
using SmartPower.Sqlite;
using SmartPower.Webhooks;

namespace SmartPower.Host;

/// <summary>Everything the local host needs to know to run.</summary>
public sealed class LocalPipelineOptions
{
    public string DatabasePath { get; set; } = "smartpower.db";

    /// <summary>The telemetry log's directory; by default next to the database.</summary>
    public string? LogDirectory { get; set; }

    public int Partitions { get; set; } = 2;

    public EmbeddedBrokerOptions Broker { get; set; } = new();

    /// <summary>When set, telemetry comes from this external broker (shared subscription) instead of the embedded one.</summary>
    public BrokerBridgeOptions? ExternalBroker { get; set; }

    public IngressOptions Ingress { get; set; } = new();

    public PartitionConsumerOptions Consumer { get; set; } = new();

    /// <summary>Whether the log flushes to disk before acknowledging (see <see cref="FileTelemetryLogOptions.FlushToDisk"/>).</summary>
    public bool FlushToDisk { get; set; } = true;

    /// <summary>
    /// The default of <see cref="MaxLagBytes"/>: about 250 readings a partition, some 15 ms of detection at saturation
    /// (docs/benchmarks.md, section 1: at max rate 64 KB kept the p99 alert latency at 76-85 ms, medians of three rounds,
    /// where 256 KB let it reach 130-520 ms; with fsync it costs up to a third of the max rate).
    /// </summary>
    public const long DefaultMaxLagBytes = 64 << 10;

    /// <summary>
    /// How far a partition's detection may fall behind the log before appends wait (<see cref="FileTelemetryLogOptions.MaxLagBytes"/>):
    /// back-pressure to the devices, so that under overload readings wait unacknowledged on the devices rather than
    /// queue in the log, and an alert's latency stays near the time detection takes for this much.
    /// </summary>
    public long MaxLagBytes { get; set; } = DefaultMaxLagBytes;

    /// <summary>Webhooks, their retry schedule and escalation's limits (<c>--notifications FILE</c>); by default no webhooks.</summary>
    public NotificationSettings Notifications { get; set; } = NotificationSettings.Default;

    /// <summary>How often escalation looks for alerts past their limits.</summary>
    public TimeSpan EscalationCheck { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>
/// The whole pipeline in one process: a broker (embedded, or a bridge from an external one) feeding the ingress, the
/// file log partitioned by device, one consumer per partition running the detection engine, the SQLite store, and the
/// notification side (outbox dispatcher and escalation timer).
/// Composition only: every piece is an adapter or the core. Stopping takes no more messages, drains the log through
/// detection (for up to two minutes) and checkpoints; what a drain cut short has not stored stays in the log and is
/// processed at the next start, so nothing a device was told is stored is lost.
/// </summary>
public sealed class LocalPipeline : IAsyncDisposable
{
    private readonly List<Task> _running = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Meter _meter;
    private EmbeddedBroker? _broker;
    private BrokerBridge? _bridge;
    private FileTelemetryLog? _log;
    private IReadOnlyDictionary<string, long> _openAlerts = new Dictionary<string, long>();
    private bool _stopped;

    private LocalPipeline(DeviceRegistry registry, SqliteStore store, PipelineMetrics metrics, Ingress ingress, NotificationService notifications)
    {
        Registry = registry;
        Store = store;
        Metrics = metrics;
        Ingress = ingress;
        Notifications = notifications;
        Credentials = new SessionEndingCredentials(this);
        _meter = new Meter(PipelineMetrics.MeterName);
        _meter.CreateObservableGauge("smartpower.partition.lag", ObserveLag, "By", "Bytes of the log a partition's consumer has still to process");
        _meter.CreateObservableGauge("smartpower.alerts.open", ObserveOpen, "{alert}", "Alerts open, by severity");
    }

    public DeviceRegistry Registry { get; }

    public SqliteStore Store { get; }

    /// <summary>
    /// The device tokens the status API issues and revokes: the store's, and a revocation also ends the device's
    /// connection to the embedded broker (a token is checked when a device connects).
    /// </summary>
    public IDeviceCredentials Credentials { get; }

    public PipelineMetrics Metrics { get; }

    public Ingress Ingress { get; }

    public NotificationService Notifications { get; }

    /// <summary>Status API requests refused, by reason (the host's web app counts them).</summary>
    public ApiRefusals ApiRefusals { get; } = new();

    public IReadOnlyList<PartitionConsumer> Consumers { get; private set; } = [];

    /// <summary>Raised after an alert transition is stored (on a consumer's thread).</summary>
    public event Action<AlertTransition>? AlertStored;

    public static async Task<LocalPipeline> StartAsync(DeviceRegistry registry, LocalPipelineOptions options, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggers);
        var store = await SqliteStore.OpenAsync(new SqliteStoreOptions { Path = options.DatabasePath, FlushToDisk = options.FlushToDisk }, cancellationToken: cancellationToken).ConfigureAwait(false);
        var log = FileTelemetryLog.Open(new FileTelemetryLogOptions
        {
            Directory = options.LogDirectory ?? options.DatabasePath + ".log",
            Partitions = options.Partitions,
            FlushToDisk = options.FlushToDisk,
            MaxLagBytes = options.MaxLagBytes,
        });
        var metrics = new PipelineMetrics();
        var ingress = new Ingress(registry, log, options.Ingress, loggers.CreateLogger("SmartPower.Ingress"));
        var notifications = new NotificationService(store, registry, options.Notifications, loggers.CreateLogger("SmartPower.Notifications"));
        var pipeline = new LocalPipeline(registry, store, metrics, ingress, notifications) { _log = log };
        try
        {
            await pipeline.RunAsync(options, loggers, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await pipeline.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return pipeline;
    }

    /// <summary>
    /// Stops taking messages, lets every consumer process what the log holds and checkpoint, then closes the log and
    /// the store. Safe to call twice.
    /// </summary>
    public async Task StopAsync()
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;

        // Take no more messages (devices keep what is not acknowledged and send it after the restart), drain the log
        // through detection, and only then stop the broker: the drain's stop-port commands still need it.
        Ingress.Close();
        foreach (var consumer in Consumers)
        {
            consumer.BeginDrain();
        }

        await Task.WhenAll(_running).WaitAsync(TimeSpan.FromMinutes(2)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (_broker is not null)
        {
            await _broker.StopAsync().ConfigureAwait(false);
        }

        if (_bridge is not null)
        {
            await _bridge.DisposeAsync().ConfigureAwait(false);
        }
        await Notifications.StopAsync().ConfigureAwait(false);
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_log is not null)
        {
            await _log.DisposeAsync().ConfigureAwait(false);
        }

        if (_broker is not null)
        {
            await _broker.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// What keeps the pipeline from doing its work right now, for <c>/health</c> (empty when healthy): the log cannot be
    /// written (disk full: nothing is acknowledged, devices keep their readings), the store cannot be written (readings
    /// wait in the log; detection retries from its checkpoint), or the external broker is not connected.
    /// </summary>
    public IReadOnlyList<string> Problems
    {
        get
        {
            var problems = new List<string>();
            if (_log?.Failure is { } log)
            {
                problems.Add($"telemetry log cannot be written, nothing is acknowledged: {log}");
            }

            foreach (var consumer in Consumers)
            {
                if (consumer.Failure is { } store)
                {
                    problems.Add($"store cannot be written, partition {consumer.Partition} retries from its checkpoint: {store}");
                }
            }

            if (_bridge is { IsConnected: false } && !_stopped)
            {
                problems.Add("external broker not connected, reconnecting");
            }

            return problems;
        }
    }

    /// <summary>Open alerts by severity, refreshed every second.</summary>
    public IReadOnlyDictionary<string, long> OpenAlerts => _openAlerts;

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        await Notifications.DisposeAsync().ConfigureAwait(false);
        await Store.DisposeAsync().ConfigureAwait(false);
        Ingress.Dispose();
        ApiRefusals.Dispose();
        Metrics.Dispose();
        _meter.Dispose();
        _stop.Dispose();
    }

    private async Task RunAsync(LocalPipelineOptions options, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        IDeviceCommands commands;
        if (options.ExternalBroker is { } external)
        {
            _bridge = new BrokerBridge(external, Ingress, loggers.CreateLogger("SmartPower.Bridge"));
            commands = _bridge;
        }
        else
        {
            _broker = new EmbeddedBroker(options.Broker, Ingress, Store, loggers.CreateLogger("SmartPower.Broker"));
            commands = _broker;
        }

        var consumerLog = loggers.CreateLogger("SmartPower.Consumer");
        var consumers = new List<PartitionConsumer>();
        for (var p = 0; p < _log!.PartitionCount; p++)
        {
            var consumer = new PartitionConsumer(Registry, _log.Partition(p), Store, commands, Metrics, options.Consumer, onStored: OnStored);
            await consumer.StartAsync(cancellationToken).ConfigureAwait(false);
            if (consumer.PositionGap is { } gap)
            {
                consumerLog.LogError("partition {Partition}: {Gap}", p, gap);
            }

            if (consumer.DiscardedState is { } why)
            {
                consumerLog.LogWarning("partition {Partition}: the checkpoint's detector state was not restored ({Why}); detection starts fresh from its position", p, why);
            }

            consumers.Add(consumer);
            _running.Add(Task.Run(() => RunConsumerAsync(consumer, consumerLog)));
        }

        Consumers = consumers;
        _running.Add(Task.Run(RefreshOpenAlertsAsync));
        Notifications.Start(options.EscalationCheck);
        if (_broker is not null)
        {
            await _broker.StartAsync().ConfigureAwait(false);
        }
        else
        {
            await _bridge!.StartAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private void OnStored(AlertTransition transition)
    {
        Notifications.Wake(); // its notifications were written with it
        AlertStored?.Invoke(transition);
    }

    private async Task RunConsumerAsync(PartitionConsumer consumer, ILogger logger)
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await consumer.RunAsync(_stop.Token).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // The store or log failed (disk full, locked): nothing was checkpointed past what is stored, so retry.
                logger.LogError("partition {Partition} consumer failed ({Error}); restarting from its last checkpoint in 1 s", consumer.Partition, ex.Message);
                await Task.Delay(1000, _stop.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                await consumer.StartAsync(_stop.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    private async Task RefreshOpenAlertsAsync()
    {
        while (!_stop.IsCancellationRequested && !_stopped)
        {
            try
            {
                _openAlerts = await Store.CountOpenAlertsAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Reported by /health as stale figures; the consumers log store failures themselves.
            }

            await Task.Delay(1000, _stop.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private IEnumerable<Measurement<long>> ObserveLag()
    {
        foreach (var consumer in Consumers)
        {
            yield return new Measurement<long>(consumer.Lag, new KeyValuePair<string, object?>("partition", consumer.Partition));
        }
    }

    private IEnumerable<Measurement<long>> ObserveOpen()
    {
        foreach (var (severity, count) in _openAlerts)
        {
            yield return new Measurement<long>(count, new KeyValuePair<string, object?>("severity", severity));
        }
    }

    /// <summary>The store's tokens; revoking also closes the device's open connection to the embedded broker.</summary>
    private sealed class SessionEndingCredentials(LocalPipeline pipeline) : IDeviceCredentials
    {
        public ValueTask<bool> VerifyAsync(string deviceId, string token, CancellationToken cancellationToken) => pipeline.Store.VerifyAsync(deviceId, token, cancellationToken);

        public Task<string> IssueAsync(string deviceId, CancellationToken cancellationToken) => pipeline.Store.IssueAsync(deviceId, cancellationToken);

        public async Task<int> RevokeAsync(string deviceId, CancellationToken cancellationToken)
        {
            var revoked = await pipeline.Store.RevokeAsync(deviceId, cancellationToken).ConfigureAwait(false);
            if (pipeline._broker is { } broker)
            {
                await broker.DisconnectRevokedAsync(deviceId).ConfigureAwait(false);
            }

            return revoked;
        }
    }
}
