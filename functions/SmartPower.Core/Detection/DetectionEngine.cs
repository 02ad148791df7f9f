using SmartPower.Alerts;
using SmartPower.Contract;
using SmartPower.Registry;

namespace SmartPower.Detection;

/// <summary>What became of one message.</summary>
public enum MessageOutcome : byte
{
    /// <summary>A new reading, run through the detectors.</summary>
    Accepted,

    /// <summary>A valid status message; it does not touch detector state.</summary>
    Status,

    /// <summary>A repeated or older <c>seq</c>: dropped without effect.</summary>
    Duplicate,

    /// <summary>Refused; see the reason.</summary>
    Rejected,
}

/// <summary>The result of <see cref="DetectionEngine.Process"/>.</summary>
public readonly record struct ProcessResult(MessageOutcome Outcome, ParseFailure Failure)
{
    public static ProcessResult Reject(RejectReason reason, string? field = null) => new(MessageOutcome.Rejected, new ParseFailure(reason, field));
}

/// <summary>
/// Turns a stream of contract messages into alert transitions and device commands. Runs on event time,
/// is deterministic (same messages in the same order, same output, same alert ids) and idempotent:
/// duplicates and replays are dropped by <c>seq</c> before they reach a detector, and a refused message
/// never changes detector state. One engine owns the state of the devices whose messages it is given
/// (the local host and the Functions app give each partition of the log its own engine). Not thread-safe.
/// </summary>
public sealed partial class DetectionEngine
{
    /// <summary>A counter at least this far below the last one, with a newer timestamp, is a device that restarted.</summary>
    public const long SeqResetGap = 1000;

    private readonly DeviceRegistry _registry;
    private readonly ReadingLimits _limits;
    private readonly DeviceState?[] _states;
    private readonly StreamClock _clock = new();
    private readonly PriorityQueue<DeviceState, long> _silence = new();
    private Hazards _scratch = new();

    public DetectionEngine(DeviceRegistry registry, ReadingLimits? limits = null)
    {
        _registry = registry;
        _limits = limits ?? ReadingLimits.Default;
        _states = new DeviceState?[registry.DeviceCount];
    }

    public DeviceRegistry Registry => _registry;

    /// <summary>The stream's event time (see <see cref="StreamClock"/>), or null before the first reading.</summary>
    public DateTimeOffset? StreamTime => _clock.Now == long.MinValue ? null : EventTime.ToDateTimeOffset(_clock.Now);

    /// <summary>Validates one MQTT message and, if it is a new reading, runs it through the detectors.</summary>
    public ProcessResult Process(ReadOnlySpan<byte> topic, ReadOnlySpan<byte> payload, IDetectionSink sink)
    {
        if (payload.Length > _limits.MaxPayloadBytes)
        {
            return ProcessResult.Reject(RejectReason.Oversize);
        }

        if (!Topic.TryParse(topic, out var parsed))
        {
            return ProcessResult.Reject(RejectReason.BadTopic);
        }

        if (parsed.Channel == TopicChannel.Command)
        {
            return ProcessResult.Reject(RejectReason.WrongDirection);
        }

        if (!_registry.TryGetDevice(parsed.DeviceId, out var device))
        {
            return ProcessResult.Reject(RejectReason.UnknownDevice);
        }

        if (!parsed.SiteId.SequenceEqual(device.SiteIdUtf8))
        {
            return ProcessResult.Reject(RejectReason.SiteMismatch);
        }

        if (parsed.Kind != device.Kind)
        {
            return ProcessResult.Reject(RejectReason.KindMismatch);
        }

        if (parsed.Channel == TopicChannel.Status)
        {
            var status = ReadingParser.TryParseStatus(payload, out _);
            return status.IsFailure ? new(MessageOutcome.Rejected, status) : new(MessageOutcome.Status, default);
        }

        var failure = ReadingParser.TryParseReading(payload, device, _limits, out var reading);
        return failure.IsFailure ? new(MessageOutcome.Rejected, failure) : Apply(device, reading, sink);
    }

    /// <summary>Runs an already validated reading of <paramref name="device"/> through the detectors.</summary>
    public ProcessResult Apply(Device device, in Reading reading, IDetectionSink sink)
    {
        var state = _states[device.Index] ??= DeviceState.For(device);
        var ts = reading.TimestampMs;
        // The window around the stream's time, once it has a quorum of devices to be a judge (StreamClock.HasQuorum);
        // before that, only a device's jump ahead of its own steady reporting is refused.
        if (_clock.Now != long.MinValue
            && ((ts > _clock.Now + (long)(_limits.MaxFutureSkewS * 1000) && !Continues(state, ts) && (state.Seen || _clock.HasQuorum()))
                || (ts < _clock.Now - (long)(_limits.MaxPastLagS * 1000) && _clock.HasQuorum())))
        {
            return ProcessResult.Reject(RejectReason.TimestampOutOfRange, "ts");
        }

        var gap = ts - state.LastTs;
        var jumpedBack = false;
        if (state.Seen)
        {
            var restarted = reading.Seq <= state.LastSeq - SeqResetGap && ts > state.LastTs;
            if (reading.Seq <= state.LastSeq && !restarted)
            {
                return new(MessageOutcome.Duplicate, default);
            }

            if (ts <= state.LastTs)
            {
                // Newer seq, older time: a clock that went backwards, refused. Unless the last reading was the one out of
                // line, stamped ahead of the stream's time by more than the device's offline limit: a clock that jumped
                // ahead for a reading and came back. Refusing the rest would lose the device until real time passed that
                // stamp (ten minutes, say), hazards and silence alike.
                if (state.LastTs - _clock.Now <= state.OfflineAfterMs)
                {
                    return ProcessResult.Reject(RejectReason.TimestampOutOfRange, "ts");
                }

                jumpedBack = true;
            }
        }

        // Accepted: from here on the reading changes state.
        var firstReading = !state.Seen;
        state.Seen = true;
        state.LastTs = ts;
        state.LastSeq = reading.Seq;
        state.HeardAtMs = _clock.Now == long.MinValue || ts >= _clock.Now ? ts : Math.Max(ts, _clock.Front());
        if (firstReading || gap > state.OfflineAfterMs || jumpedBack)
        {
            InterruptHolds(state);
        }

        if (state.Hazards?.Offline is { IsOpen: true } offline)
        {
            offline.Clear(Math.Max(ts, offline.OpenedAtMs), new Evidence(new EvidenceItem("silentS", gap / 1000.0)), sink);
        }

        if (state.AwaitingSilence && state.HeardAtMs + state.OfflineAfterMs < state.SilenceDeadline)
        {
            // Queued under a later deadline than this reading gives: heard at a time that was too far ahead (a clock that
            // jumped ahead and came back, or a young stream clock set by one that runs fast). Watched from this reading.
            _silence.Remove(state, out _, out _);
            state.AwaitingSilence = false;
        }

        if (!state.AwaitingSilence)
        {
            state.AwaitingSilence = true;
            state.SilenceDeadline = state.HeardAtMs + state.OfflineAfterMs;
            _silence.Enqueue(state, state.SilenceDeadline);
        }

        if (Detectors.Run(state, reading, sink, _scratch))
        {
            _scratch = new Hazards(); // the device adopted it
        }

        if (_clock.Observe(state))
        {
            RaiseSilences(sink);
        }

        return new(MessageOutcome.Accepted, default);
    }

    /// <summary>
    /// Whether a reading far ahead of the stream's time simply continues its device's own steady reporting. When most
    /// devices of a stream fall silent at once (a building's power cut), the stream's time stays with them until the few
    /// still reporting fill the clock's window; their readings are not a clock jumping ahead and must not be refused
    /// meanwhile. A device whose clock jumps (or one first heard far ahead) is still refused.
    /// </summary>
    private static bool Continues(DeviceState state, long ts) => state.Seen && ts - state.LastTs <= 2 * state.OfflineAfterMs;

    private static void InterruptHolds(DeviceState state)
    {
        state.Hazards?.Interrupt();
        switch (state)
        {
            case PileState pile:
                foreach (ref var watch in pile.PortWatches.AsSpan())
                {
                    watch.Interrupt();
                }

                break;
        }
    }

    /// <summary>
    /// Raises offline for every device silent past its limit while the stream's time moved on. Silence counts from when
    /// the device was last heard on the stream's clock (<see cref="DeviceState.HeardAtMs"/>), not from its own timestamp:
    /// a device whose clock runs a few minutes slow still reports every interval and must not flap offline and back.
    /// </summary>
    private void RaiseSilences(IDetectionSink sink)
    {
        while (_silence.TryPeek(out var state, out var deadline) && deadline <= _clock.Now)
        {
            _silence.Dequeue();
            var due = state.HeardAtMs + state.OfflineAfterMs;
            if (due > deadline)
            {
                state.SilenceDeadline = due;
                _silence.Enqueue(state, due); // heard from since it was queued
                continue;
            }

            state.AwaitingSilence = false;
            var hazards = state.Hazards ??= new Hazards();
            hazards.Offline ??= new Incident(state.Device, AlertType.Offline);
            hazards.Offline.Raise(
                due,
                Severity.Warning,
                0,
                new Evidence(new("silentS", state.OfflineAfterMs / 1000.0), new("reportIntervalS", state.Device.ReportIntervalS)),
                sink);
        }
    }
}
