using SmartPower.DeviceSim.Contract;
using SmartPower.DeviceSim.Physics;

namespace SmartPower.DeviceSim.Simulation;

/// <summary>
/// Adds the scenario's <see cref="DataFaults"/> to the message stream, deterministically from the seed: readings
/// redelivered a moment later, broken payloads, device clocks running fast or slow, readings held back and sent
/// in a burst, and reconnect storms (a Last Will, then the device back a few seconds later with its held readings).
/// Only devices with no planned hazard get a skewed clock, so ground truth stays in one time base. Bursts and
/// storms hold readings for under a minute, short of the contract's offline limit.
/// </summary>
public sealed class DataFaultInjector
{
    private readonly DataFaults _faults;
    private readonly DateTimeOffset _start;
    private readonly Rng _rng;
    private readonly PriorityQueue<SimMessage, (long At, long Order)> _pending = new();
    private readonly List<(long From, long Until)>[] _holds;
    private readonly List<long> _malformedAt = [];
    private long _order;
    private int _nextMalformed;

    internal DataFaultInjector(Scenario scenario, IReadOnlyList<DeviceBase> devices, long durationMs)
    {
        _faults = scenario.Faults;
        _start = scenario.Start;
        _rng = Rng.For(scenario.Seed, "data-faults");
        _holds = devices.Select(_ => new List<(long, long)>()).ToArray();
        if (!_faults.Any || devices.Count == 0)
        {
            return;
        }

        var quiet = devices.Where(d => !d.PlannedIncidentStarts().Any()).ToList();
        _rng.Shuffle(quiet);
        foreach (var d in quiet.Take(_faults.ClockSkewDevices))
        {
            d.ClockSkewMs = (long)(_rng.Uniform(0.25, 1) * _faults.ClockSkewMaxS * 1000) * (_rng.Chance(0.5) ? 1 : -1);
            SkewedClocks++;
        }

        for (var b = 0; b < _faults.Bursts; b++)
        {
            var from = (long)(_rng.Uniform(0.02, 0.98) * durationMs);
            _holds[_rng.Int(0, devices.Count)].Add((from, from + (long)(_rng.Uniform(30, 50) * 1000)));
        }

        for (var s = 0; s < _faults.ReconnectStorms; s++)
        {
            var at = (long)(_rng.Uniform(0.05, 0.95) * durationMs);
            for (var i = 0; i < devices.Count; i++)
            {
                if (_rng.Chance(_faults.StormShare))
                {
                    var back = at + (long)(_rng.Uniform(1, 20) * 1000);
                    var storm = new Interval((at / 1000.0) - 60, (back / 1000.0) + 60);
                    if (devices[i].Offline.Any(o => o.Overlaps(storm)))
                    {
                        continue; // its uplink is down (an offline incident): no Last Will and return inside the truth's silence
                    }

                    _holds[i].Add((at, back));
                    Schedule(new SimMessage(at, i, MessageKind.Drop, StatusMessage.Json(false, _start.AddMilliseconds(at))), at);
                    Schedule(new SimMessage(back, i, MessageKind.Status, StatusMessage.Json(true, _start.AddMilliseconds(back))), back);
                }
            }
        }

        for (var m = 0; m < _faults.Malformed; m++)
        {
            _malformedAt.Add((long)(_rng.NextDouble() * durationMs));
        }

        _malformedAt.Sort();
    }

    public int SkewedClocks { get; }

    public int Duplicated { get; private set; }

    public int MalformedSent { get; private set; }

    public int HeldBack { get; private set; }

    public int Drops { get; private set; }

    /// <summary>Passes one reading on (or holds it back), with whatever faults fall due before it.</summary>
    public void Pass(SimMessage message, Action<SimMessage> emit)
    {
        ArgumentNullException.ThrowIfNull(emit);
        if (!_faults.Any)
        {
            emit(message);
            return;
        }

        Release(message.AtMs, emit);
        foreach (var (from, until) in _holds[message.Device])
        {
            if (message.AtMs >= from && message.AtMs < until)
            {
                HeldBack++;
                Schedule(message with { AtMs = until }, until);
                return;
            }
        }

        emit(message);
        if (_faults.DuplicateRate > 0 && _rng.Chance(_faults.DuplicateRate))
        {
            Duplicated++;
            var again = message.AtMs + (long)(_rng.Uniform(0.2, 5) * 1000);
            Schedule(message with { AtMs = again }, again);
        }

        while (_nextMalformed < _malformedAt.Count && _malformedAt[_nextMalformed] <= message.AtMs)
        {
            _nextMalformed++;
            MalformedSent++;
            emit(message with { Payload = Break(message.Payload) });
        }
    }

    /// <summary>Sends everything still held back (the end of the run).</summary>
    public void Flush(Action<SimMessage> emit) => Release(long.MaxValue, emit);

    private void Release(long upToMs, Action<SimMessage> emit)
    {
        while (_pending.TryPeek(out var next, out var key) && key.At <= upToMs)
        {
            _pending.Dequeue();
            if (next.Kind == MessageKind.Drop)
            {
                Drops++;
            }

            emit(next);
        }
    }

    private void Schedule(SimMessage message, long at) => _pending.Enqueue(message, (at, _order++));

    /// <summary>One of the ways a payload arrives broken: cut short, a number sent as text, or <c>seq</c> missing.</summary>
    private string Break(string payload)
    {
        switch (_rng.Int(0, 3))
        {
            case 0:
                return payload[..(payload.Length / 2)];
            case 1:
                var at = payload.IndexOf("\"voltageV\":", StringComparison.Ordinal);
                return at < 0 ? payload[..(payload.Length / 3)] : payload[..at] + "\"voltageV\":\"high\"," + payload[(payload.IndexOf(',', at) + 1)..];
            default:
                var s = payload.IndexOf(",\"seq\":", StringComparison.Ordinal);
                return s < 0 ? payload[..(payload.Length / 3)] : payload[..s] + payload[payload.IndexOf(',', s + 1)..];
        }
    }
}
