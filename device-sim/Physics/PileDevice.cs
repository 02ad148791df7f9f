using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using SmartPower.DeviceSim.Contract;

namespace SmartPower.DeviceSim.Physics;

/// <summary>A compliant e-bike charging session on a pile port.</summary>
internal sealed class PortSession(double plugIn, double unplug, EbikeCharger charger, string sessionId)
{
    public double PlugIn => plugIn;

    public double Unplug => unplug;

    public EbikeCharger Charger => charger;

    public string SessionId => sessionId;
}

/// <summary>
/// A charging pile: metered sockets (ports). A session is "charging" until the charger reaches float/cut-off,
/// then the pile switches the socket off and reports "full" (0 W) until the bike is unplugged. A
/// <c>stop-port</c> command opens the port's relay: the session ends there and the port reports "idle" (0 W)
/// until the next bike is plugged in.
/// </summary>
internal sealed class PileDevice : DeviceBase
{
    private readonly ConcurrentQueue<int> _stopRequests = new();
    private readonly StringBuilder _sb = new(900);
    private readonly Reading _reading;
    private readonly double[] _energyWh;
    private readonly int[] _current;
    private readonly bool[] _seen;
    private readonly bool[] _stopped;
    private readonly string[] _states;
    private readonly double[] _powers;
    private readonly string?[] _sessionIds;
    private Ar1 _leakWander = null!;
    private double _temp = double.NaN;
    private double _iPrev;

    public PileDevice(DeviceSpec spec, Rng rng)
        : base(spec, rng)
    {
        PortCount = spec.PortCount;
        Ports = Enumerable.Range(0, PortCount).Select(_ => new List<PortSession>()).ToArray();
        _reading = new Reading { PortW = new double[PortCount] };
        _energyWh = new double[PortCount];
        _current = new int[PortCount];
        _seen = new bool[PortCount];
        _stopped = new bool[PortCount];
        _states = new string[PortCount];
        _powers = new double[PortCount];
        _sessionIds = new string?[PortCount];
    }

    public int PortCount { get; }

    public List<PortSession>[] Ports { get; }

    public double PortMaxW => Spec.PortMaxW;

    public bool IsFree(int port, Interval when, double marginS) =>
        Ports[port].All(s => !new Interval(s.PlugIn - marginS, s.Unplug + marginS).Overlaps(when));

    /// <summary>
    /// A <c>stop-port</c> command for port <paramref name="port"/> (1-based): from the next reading on, that port's
    /// session draws nothing. Safe to call from any thread; unknown ports are ignored.
    /// </summary>
    public void StopPort(int port)
    {
        if (port >= 1 && port <= PortCount)
        {
            _stopRequests.Enqueue(port - 1);
        }
    }

    protected override void OnBegin()
    {
        _leakWander = new Ar1(Rng, 0.998);
        foreach (var list in Ports)
        {
            list.Sort((a, b) => a.PlugIn.CompareTo(b.PlugIn));
        }
    }

    protected override string? Read(long tMs, long seq)
    {
        while (_stopRequests.TryDequeue(out var stop))
        {
            _stopped[stop] = true;
        }

        var t = tMs / 1000.0;
        double dt = Spec.ReportIntervalS;
        var v = Site.At(t) + VoltOffset - (LineOhm * _iPrev);
        double totalI = 0, leak = 0;
        for (var j = 0; j < PortCount; j++)
        {
            var list = Ports[j];
            while (_current[j] < list.Count && list[_current[j]].Unplug <= t)
            {
                _current[j]++;
                _seen[j] = false;
                _stopped[j] = false;
                _energyWh[j] = 0;
            }

            PortSession? s = _current[j] < list.Count && list[_current[j]].PlugIn <= t ? list[_current[j]] : null;
            if (s is null || (_stopped[j] && _seen[j]))
            {
                _states[j] = "idle";
                _powers[j] = 0;
                _sessionIds[j] = null;
                continue;
            }

            _stopped[j] = false; // a stop for a port with no session yet does not carry over to the next bike
            var u = t - s.PlugIn;
            double w;
            if (u >= s.Charger.DoneS)
            {
                _states[j] = "full";
                w = 0;
            }
            else
            {
                _states[j] = "charging";
                w = s.Charger.InputW(u, Rng);
                if (!_seen[j] && s.Charger.StartTransient > 1.0)
                {
                    w = s.Charger.InputW(120, Rng) * s.Charger.StartTransient;
                }

                leak += 0.3;
            }

            _seen[j] = true;
            _energyWh[j] += w * dt / 3600;
            totalI += w / (v * s.Charger.PowerFactor);
            _powers[j] = w > 0 ? Math.Round(Math.Max(0, w + (0.3 * Rng.Normal()) + (0.003 * w * Rng.Normal())), 1) : 0;
            _sessionIds[j] = s.SessionId;
        }

        _temp = TerminalTemp(_temp, t, dt, totalI);
        var tm = Math.Round(_temp + (0.1 * Rng.Normal()), 1);
        var lk = Math.Round(Leakage(_leakWander, leak, t, v), 1);
        _iPrev = totalI;

        if (Gaps.Silences(t, tMs))
        {
            return null;
        }

        _reading.TempC = tm;
        _reading.LeakMa = lk;
        _reading.CurrentA = totalI;
        Array.Copy(_powers, _reading.PortW, PortCount);
        Observe(t, tMs, _reading);
        var sb = _sb;
        BeginPayload(sb, tMs, seq);
        Format.Num(sb, ",\"voltageV\":", v + (0.1 * Rng.Normal()), 1);
        Format.Num(sb, ",\"tempC\":", tm, 1);
        Format.Num(sb, ",\"leakageMa\":", lk, 1);
        sb.Append(",\"ports\":[");
        for (var j = 0; j < PortCount; j++)
        {
            if (j > 0)
            {
                sb.Append(',');
            }

            sb.Append("{\"port\":").Append((j + 1).ToString(CultureInfo.InvariantCulture))
                .Append(",\"state\":\"").Append(_states[j]).Append('"');
            Format.Num(sb, ",\"powerW\":", _powers[j], 1);
            if (_sessionIds[j] is { } sid)
            {
                Format.Num(sb, ",\"energyWh\":", _energyWh[j], 1);
                sb.Append(",\"sessionId\":\"").Append(sid).Append('"');
            }

            sb.Append('}');
        }

        sb.Append("]}");
        return sb.ToString();
    }
}
