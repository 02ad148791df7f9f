using System.Diagnostics.Metrics;
using SmartPower.Alerts;
using SmartPower.Contract;
using SmartPower.Detection;

namespace SmartPower.Pipeline;

/// <summary>
/// What the detection side of the pipeline has done, counted once: the totals a health check reports are the
/// same numbers the <c>SmartPower</c> meter publishes as OpenTelemetry metrics. Thread-safe.
/// </summary>
public sealed class PipelineMetrics : IDisposable
{
    public const string MeterName = "SmartPower";

    private static readonly RejectReason[] Reasons = Enum.GetValues<RejectReason>();
    private static readonly AlertType[] Types = Enum.GetValues<AlertType>();
    private readonly long[] _rejected = new long[Reasons.Length];
    private readonly long[] _opened = new long[Types.Length];
    private readonly Meter _meter;
    private readonly Histogram<double> _latency;
    private long _accepted;
    private long _status;
    private long _duplicates;
    private long _transitions;
    private long _commands;
    private long _deadLetters;

    public PipelineMetrics(IMeterFactory? meterFactory = null)
    {
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _meter.CreateObservableCounter("smartpower.readings.accepted", () => Accepted, "{reading}", "Readings accepted and run through the detectors");
        _meter.CreateObservableCounter("smartpower.readings.duplicates", () => Duplicates, "{reading}", "Readings dropped as repeated or older seq");
        _meter.CreateObservableCounter("smartpower.status.accepted", () => StatusMessages, "{message}", "Device status messages accepted");
        _meter.CreateObservableCounter("smartpower.readings.rejected", ObserveRejected, "{message}", "Messages refused by the contract parser, by reason");
        _meter.CreateObservableCounter("smartpower.alerts.opened", ObserveOpened, "{alert}", "Alerts opened, by type");
        _meter.CreateObservableCounter("smartpower.alerts.transitions", () => Transitions, "{transition}", "Alert transitions stored");
        _meter.CreateObservableCounter("smartpower.commands.sent", () => Commands, "{command}", "Commands sent to devices");
        _meter.CreateObservableCounter("smartpower.deadletters", () => DeadLetters, "{message}", "Messages that could not be handled at all, set aside");
        _latency = _meter.CreateHistogram<double>("smartpower.alerts.latency", "ms",
            "From the arrival at the broker of the reading that caused an alert transition to the transition stored (stage=stored) and handed to the live feed (stage=pushed)");
    }

    /// <summary>Arrival of the causing reading at the broker to the alert transition committed to the store.</summary>
    public LatencySample StoredLatency { get; } = new();

    /// <summary>Arrival of the causing reading at the broker to the transition handed to the live feed (the console's stream).</summary>
    public LatencySample PushedLatency { get; } = new();

    public void RecordStored(double milliseconds)
    {
        StoredLatency.Record(milliseconds);
        _latency.Record(milliseconds, new KeyValuePair<string, object?>("stage", "stored"));
    }

    public void RecordPushed(double milliseconds)
    {
        PushedLatency.Record(milliseconds);
        _latency.Record(milliseconds, new KeyValuePair<string, object?>("stage", "pushed"));
    }

    public Meter Meter => _meter;

    public long Accepted => Interlocked.Read(ref _accepted);

    public long StatusMessages => Interlocked.Read(ref _status);

    public long Duplicates => Interlocked.Read(ref _duplicates);

    public long Transitions => Interlocked.Read(ref _transitions);

    public long Commands => Interlocked.Read(ref _commands);

    public long DeadLetters => Interlocked.Read(ref _deadLetters);

    public long Rejected => _rejected.Sum(x => Interlocked.Read(ref x));

    public long RejectedFor(RejectReason reason) => Interlocked.Read(ref _rejected[(int)reason]);

    /// <summary>Rejections by contract reason name (kebab case), only reasons seen.</summary>
    public IReadOnlyDictionary<string, long> RejectedByReason()
    {
        var result = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var reason in Reasons)
        {
            var n = RejectedFor(reason);
            if (n > 0)
            {
                result[NameOf(reason)] = n;
            }
        }

        return result;
    }

    public void Count(ProcessResult result)
    {
        switch (result.Outcome)
        {
            case MessageOutcome.Accepted:
                Interlocked.Increment(ref _accepted);
                break;
            case MessageOutcome.Status:
                Interlocked.Increment(ref _status);
                break;
            case MessageOutcome.Duplicate:
                Interlocked.Increment(ref _duplicates);
                break;
            default:
                Interlocked.Increment(ref _rejected[(int)result.Failure.Reason]);
                break;
        }
    }

    public void CountStored(IReadOnlyList<AlertTransition> transitions)
    {
        ArgumentNullException.ThrowIfNull(transitions);
        Interlocked.Add(ref _transitions, transitions.Count);
        foreach (var t in transitions)
        {
            if (t.Kind == TransitionKind.Opened)
            {
                Interlocked.Increment(ref _opened[(int)t.Alert.Type]);
            }
        }
    }

    public void CountCommand() => Interlocked.Increment(ref _commands);

    public void CountDeadLetter() => Interlocked.Increment(ref _deadLetters);

    /// <summary>The contract-style name of a reason: <c>TimestampOutOfRange</c> -> <c>timestamp-out-of-range</c>.</summary>
    public static string NameOf(RejectReason reason)
    {
        var name = reason.ToString();
        var text = new System.Text.StringBuilder(name.Length + 4);
        for (var i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0)
            {
                text.Append('-');
            }

            text.Append(char.ToLowerInvariant(name[i]));
        }

        return text.ToString();
    }

    public void Dispose() => _meter.Dispose();

    private IEnumerable<Measurement<long>> ObserveRejected()
    {
        foreach (var reason in Reasons)
        {
            yield return new Measurement<long>(RejectedFor(reason), new KeyValuePair<string, object?>("reason", NameOf(reason)));
        }
    }

    private IEnumerable<Measurement<long>> ObserveOpened()
    {
        foreach (var type in Types)
        {
            yield return new Measurement<long>(Interlocked.Read(ref _opened[(int)type]), new KeyValuePair<string, object?>("type", AlertNames.Of(type)));
        }
    }
}
