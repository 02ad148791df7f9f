using System.Text;
using SmartPower.DeviceSim.Contract;
using SmartPower.DeviceSim.Physics;
using SmartPower.DeviceSim.Truth;

namespace SmartPower.DeviceSim.Simulation;

/// <summary>
/// Steps a fleet through its night. Every device steps one reading at a time; <see cref="Advance"/> produces all
/// readings due before a moment, in arrival order (by time, ties by device id), and passes them through the
/// scenario's data faults. <c>generate</c> advances as fast as it can and writes files; <c>run</c> advances with
/// the wall clock and publishes: the same steps, so the same seed gives the same messages either way.
/// </summary>
internal sealed class NightRun
{
    private const int ParallelFrom = 16;
    private readonly DeviceBase[] _devices;
    private readonly List<(long TMs, string Payload)>[] _buffers;
    private readonly string[] _telemetryTopics;
    private readonly string[] _statusTopics;
    private readonly double[] _plannedStartsS;
    private readonly DataFaultInjector _faults;
    private (long TMs, int Rank, string Payload)[] _merge = [];

    public NightRun(Fleet fleet)
    {
        ArgumentNullException.ThrowIfNull(fleet);
        Fleet = fleet;
        _devices = [.. fleet.Devices.OrderBy(d => d.DeviceId, StringComparer.Ordinal)];
        _buffers = _devices.Select(_ => new List<(long, string)>()).ToArray();
        _telemetryTopics = _devices.Select(d => Topics.Telemetry(d.Spec)).ToArray();
        _statusTopics = _devices.Select(d => Topics.Status(d.Spec)).ToArray();
        _plannedStartsS = [.. _devices.SelectMany(d => d.PlannedIncidentStarts()).Order()];
        DurationMs = (long)(fleet.Scenario.Duration.TotalSeconds * 1000);
        _faults = new DataFaultInjector(fleet.Scenario, _devices, DurationMs);
    }

    public Fleet Fleet { get; }

    public DateTimeOffset Start => Fleet.Scenario.Start;

    public long DurationMs { get; }

    /// <summary>Every reading due before this many milliseconds after the start has been simulated.</summary>
    public long SimulatedMs { get; private set; }

    public bool Finished => SimulatedMs >= DurationMs;

    /// <summary>The devices by rank (device id, ordinal): <see cref="SimMessage.Device"/> indexes this.</summary>
    public IReadOnlyList<DeviceBase> Devices => _devices;

    public DataFaultInjector Faults => _faults;

    public string TopicOf(SimMessage m) => m.Kind == MessageKind.Telemetry ? _telemetryTopics[m.Device] : _statusTopics[m.Device];

    /// <summary>The contract's replay line for a message: <c>{"topic":"...","payload":{...}}</c>.</summary>
    public string ReplayLine(SimMessage m) =>
        new StringBuilder(m.Payload.Length + 96).Append("{\"topic\":\"").Append(TopicOf(m)).Append("\",\"payload\":").Append(m.Payload).Append('}').ToString();

    /// <summary>Planned hazards that have begun by <paramref name="ms"/> after the start.</summary>
    public int IncidentsInjectedBy(long ms)
    {
        var i = Array.BinarySearch(_plannedStartsS, (ms / 1000.0) + 1e-9);
        return i >= 0 ? i + 1 : ~i;
    }

    /// <summary>
    /// Simulates every reading due before <paramref name="untilMs"/> and hands each message to <paramref name="emit"/>
    /// in arrival order. With <paramref name="parallel"/>, devices step on every core (each has its own random
    /// streams, so the result is the same).
    /// </summary>
    public void Advance(long untilMs, Action<SimMessage> emit, bool parallel)
    {
        ArgumentNullException.ThrowIfNull(emit);
        untilMs = Math.Min(untilMs, DurationMs);
        if (untilMs <= SimulatedMs)
        {
            return;
        }

        if (parallel && _devices.Length >= ParallelFrom)
        {
            Parallel.For(0, _devices.Length, i => Step(i, untilMs));
        }
        else
        {
            for (var i = 0; i < _devices.Length; i++)
            {
                Step(i, untilMs);
            }
        }

        var n = 0;
        foreach (var b in _buffers)
        {
            n += b.Count;
        }

        if (_merge.Length < n)
        {
            _merge = new (long, int, string)[Math.Max(n, _merge.Length * 2)];
        }

        var k = 0;
        for (var i = 0; i < _buffers.Length; i++)
        {
            foreach (var (tMs, payload) in _buffers[i])
            {
                _merge[k++] = (tMs, i, payload);
            }

            _buffers[i].Clear();
        }

        Array.Sort(_merge, 0, n, ArrivalOrder.Instance);
        for (var i = 0; i < n; i++)
        {
            _faults.Pass(new SimMessage(_merge[i].TMs, _merge[i].Rank, MessageKind.Telemetry, _merge[i].Payload), emit);
            _merge[i] = default;
        }

        SimulatedMs = untilMs;
        if (Finished)
        {
            _faults.Flush(emit);
        }
    }

    /// <summary>Runs to the end as fast as the machine allows, in slices of simulated time.</summary>
    public void ToEnd(Action<SimMessage> emit)
    {
        while (!Finished)
        {
            Advance(SimulatedMs + (15 * 60 * 1000), emit, parallel: true);
        }
    }

    /// <summary>
    /// The labels of the run so far (call once, at its end): ground truth, look-alikes and generator remarks, in a
    /// stable order. A run stopped early keeps only the incidents that had begun, ending where it stopped.
    /// </summary>
    public LabelledNight Label(IReadOnlyList<string> lines)
    {
        var outputs = Fleet.Devices.Select(d => d.Finish()).ToArray();
        var stoppedAt = Start.AddMilliseconds(SimulatedMs);
        var incidents = outputs.SelectMany(o => o.Incidents)
            .Where(i => i.Start <= stoppedAt)
            .Select(i => i.End <= stoppedAt ? i : i with { End = stoppedAt })
            .OrderBy(x => x.Start).ThenBy(x => x.DeviceId, StringComparer.Ordinal).ThenBy(x => x.Type, StringComparer.Ordinal).ThenBy(x => x.Port)
            .ToArray();
        var lookAlikes = outputs.SelectMany(o => o.LookAlikes)
            .OrderBy(x => x.Start).ThenBy(x => x.DeviceId, StringComparer.Ordinal).ThenBy(x => x.Appliance, StringComparer.Ordinal).ThenBy(x => x.Port)
            .ToArray();
        return new LabelledNight(Fleet.Registry.ToJson(), lines, incidents)
        {
            LookAlikes = lookAlikes,
            Diagnostics = outputs.SelectMany(o => o.Diagnostics).ToArray(),
        };
    }

    private void Step(int i, long untilMs)
    {
        var device = _devices[i];
        var buffer = _buffers[i];
        while (device.NextMs < untilMs)
        {
            var tMs = device.NextMs;
            if (device.Tick() is { } payload)
            {
                buffer.Add((tMs, payload));
            }
        }
    }

    private sealed class ArrivalOrder : IComparer<(long TMs, int Rank, string Payload)>
    {
        public static readonly ArrivalOrder Instance = new();

        public int Compare((long TMs, int Rank, string Payload) x, (long TMs, int Rank, string Payload) y) =>
            x.TMs != y.TMs ? x.TMs.CompareTo(y.TMs) : x.Rank.CompareTo(y.Rank);
    }
}
