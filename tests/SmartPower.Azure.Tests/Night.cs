using System.Globalization;
using System.Text;
using SmartPower.Alerts;
using SmartPower.Contract;
using SmartPower.Detection;
using SmartPower.Registry;

namespace SmartPower.Azure.Tests;

/// <summary>
/// A stretch of telemetry with incidents, as events in arrival order, and what one engine run over all of it yields
/// (the reference every batched, per-device run must reproduce): leakage on m-0001, an overload on m-0002, a pile port
/// over its limit (a stop-port command), m-0100 quiet. Arrival time is event time, as on a live network, unless a
/// device's clock is set off by <c>clockOffsetS</c> seconds.
/// </summary>
internal sealed class Night
{
    public Night(double seconds = 1500, Func<string, double, bool>? sends = null, Func<string, double>? clockOffsetS = null)
    {
        Registry = new Feed().Registry;
        var events = new List<TelemetryEvent>();
        var seq = new Dictionary<string, long>();
        for (var t = 0.0; t < seconds; t += 10)
        {
            foreach (var device in new[] { "m-0001", "m-0002", "m-0100", "p-0001" })
            {
                if (sends is not null && !sends(device, t))
                {
                    continue;
                }

                var n = seq[device] = seq.GetValueOrDefault(device) + 1;
                var ts = t + (clockOffsetS?.Invoke(device) ?? 0);
                var (topic, payload) = device switch
                {
                    "m-0001" => (Feed.Topic(device), Feed.MeterPayload(ts, n, 5, leakageMa: t is >= 300 and < 500 ? 400 : 2)),
                    "m-0002" => (Feed.Topic(device), Feed.MeterPayload(ts, n, t is >= 600 and < 1000 ? 50 : 12)),
                    "m-0100" => (Feed.Topic(device), Feed.MeterPayload(ts, n, 2)),
                    _ => (Feed.Topic(device, "pile"), Feed.PilePayload(ts, n, 150, t is >= 900 and < 1300 ? 600 : 0, 0, 0)),
                };
                events.Add(Event(events.Count, topic, payload, t));
            }
        }

        Events = events;
        var engine = new DetectionEngine(Registry);
        var sink = new CollectingSink();
        foreach (var e in events)
        {
            engine.Process(Encoding.UTF8.GetBytes(e.Topic!), e.Payload.Span, sink);
        }

        Transitions = sink.Transitions;
        Commands = sink.Commands;
    }

    public DeviceRegistry Registry { get; }

    public IReadOnlyList<TelemetryEvent> Events { get; }

    public IReadOnlyList<AlertTransition> Transitions { get; }

    public IReadOnlyList<DeviceCommand> Commands { get; }

    /// <summary>Each alert as the reference run left it.</summary>
    public IReadOnlyDictionary<string, Alert> FinalAlerts => Transitions.GroupBy(t => t.Alert.AlertId).ToDictionary(g => g.Key, g => g.Last().Alert);

    /// <summary>The events cut into batches of <paramref name="windowS"/> seconds of event time, as a trigger delivers them.</summary>
    public IReadOnlyList<IReadOnlyList<TelemetryEvent>> Batches(double windowS) =>
        [.. Events.GroupBy(e => (long)((e.ArrivedAtMs - Feed.T0.ToUnixTimeMilliseconds()) / (windowS * 1000))).Select(g => (IReadOnlyList<TelemetryEvent>)[.. g])];

    public static TelemetryEvent Event(long position, string topic, string payload, double t) =>
        new(position.ToString(CultureInfo.InvariantCulture), topic, Encoding.UTF8.GetBytes(payload), Feed.T0.AddSeconds(t).ToUnixTimeMilliseconds());
}

/// <summary>Commands as sent, in order, and the devices each batch was heard from.</summary>
internal sealed class RecordingCommands : IDeviceCommands
{
    public List<DeviceCommand> Sent { get; } = [];

    public List<string[]> Heard { get; } = [];

    public Task DevicesHeardAsync(IEnumerable<string> deviceIds, CancellationToken cancellationToken)
    {
        lock (Heard)
        {
            Heard.Add([.. deviceIds.Order(StringComparer.Ordinal)]);
        }

        return Task.CompletedTask;
    }

    public Task SendAsync(DeviceCommand command, CancellationToken cancellationToken)
    {
        lock (Sent)
        {
            Sent.Add(command);
        }

        return Task.CompletedTask;
    }
}

/// <summary>Passes commits on to a store and keeps every transition it was given.</summary>
internal sealed class RecordingAlerts(IPipelineStore inner) : IPipelineStore
{
    public List<AlertTransition> Committed { get; } = [];

    public Task<PartitionCheckpoint?> LoadCheckpointAsync(int partition, CancellationToken cancellationToken) => inner.LoadCheckpointAsync(partition, cancellationToken);

    public Task CommitAsync(BatchCommit batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        lock (Committed)
        {
            Committed.AddRange(batch.Transitions);
        }

        return inner.CommitAsync(batch, cancellationToken);
    }
}

/// <summary>A wall clock the test sets.</summary>
internal sealed class ManualTime(DateTimeOffset now) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = now;

    public override DateTimeOffset GetUtcNow() => Now;
}
