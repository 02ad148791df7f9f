using System.Globalization;
using System.Text;
using SmartPower.Alerts;
using SmartPower.Contract;
using SmartPower.Detection;
using SmartPower.Registry;

namespace SmartPower.Tests;

/// <summary>
/// A small compound for rule tests: a dwelling meter (40 A), a common-area meter (16 A), a second dwelling
/// meter and a pile (4 ports, 400 W). It writes contract payloads with per-device seq and event time and
/// runs them through one engine, collecting transitions and commands.
/// </summary>
internal sealed class Feed
{
    public const string Site = "xihu-wutong";
    public static readonly DateTimeOffset T0 = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    public const string RegistryJson = """
        {"sites":[{"siteId":"xihu-wutong","name":"Wutong Apartments","address":"88 Wutong Rd","fireStation":"xihu-3","managerId":"pm-greenleaf","timeZone":"Asia/Shanghai"}],
         "devices":[
          {"deviceId":"m-0001","siteId":"xihu-wutong","kind":"meter","circuit":"dwelling","ratedCurrentA":40,"reportIntervalS":10},
          {"deviceId":"m-0002","siteId":"xihu-wutong","kind":"meter","circuit":"dwelling","ratedCurrentA":40,"reportIntervalS":10},
          {"deviceId":"m-0100","siteId":"xihu-wutong","kind":"meter","circuit":"common-area","ratedCurrentA":16,"reportIntervalS":10},
          {"deviceId":"p-0001","siteId":"xihu-wutong","kind":"pile","circuit":"pile","portCount":4,"portMaxW":400,"reportIntervalS":10}]}
        """;

    /// <summary>
    /// <see cref="RegistryJson"/> with the site's thresholds overridden (a JSON object's members, e.g.
    /// <c>"reactiveMinStepVar": 1e9</c>).
    /// </summary>
    public static string RegistryWith(string thresholds) =>
        RegistryJson.Replace("\"timeZone\":\"Asia/Shanghai\"}", $"\"timeZone\":\"Asia/Shanghai\",\"thresholds\":{{{thresholds}}}}}", StringComparison.Ordinal);

    /// <summary>The compound with the reactive hold rule and its night floor off (no Q step or floor rise is that big): the charging signature alone.</summary>
    public static string SignatureOnlyRegistryJson { get; } = RegistryWith("\"reactiveMinStepVar\":1e9,\"nightFloorMinVar\":1e9");

    private readonly Dictionary<string, long> _seq = [];

    public Feed(string? registryJson = null)
    {
        Registry = RegistryLoader.Parse(registryJson ?? RegistryJson);
        Engine = new DetectionEngine(Registry);
    }

    public DeviceRegistry Registry { get; }

    /// <summary>The engine readings go to; a test of saved state swaps in one restored from it.</summary>
    public DetectionEngine Engine { get; set; }

    public CollectingSink Sink { get; } = new();

    public IEnumerable<Alert> Opened => Sink.Transitions.Where(t => t.Kind == TransitionKind.Opened).Select(t => t.Alert);

    public IEnumerable<AlertTransition> Of(AlertType type) => Sink.Transitions.Where(t => t.Alert.Type == type);

    public static string Ts(double seconds) => EventTime.Format(T0.AddSeconds(seconds));

    public static string MeterPayload(double seconds, long seq, double currentA, double? powerW = null, double? leakageMa = null, double? tempC = null, bool arc = false)
    {
        var power = powerW ?? currentA * 230 * 0.98;
        var json = new StringBuilder(string.Create(CultureInfo.InvariantCulture, $$"""{"ts":"{{Ts(seconds)}}","seq":{{seq}},"voltageV":230.0,"currentA":{{currentA}},"powerW":{{power}}"""));
        if (leakageMa is { } l) json.Append(CultureInfo.InvariantCulture, $",\"leakageMa\":{l}");
        if (tempC is { } t) json.Append(CultureInfo.InvariantCulture, $",\"tempC\":{t}");
        json.Append(CultureInfo.InvariantCulture, $",\"arcFault\":{(arc ? "true" : "false")}}}");
        return json.ToString();
    }

    public static string Topic(string deviceId, string kind = "meter", string channel = "telemetry") => $"smartpower/v1/{Site}/{kind}/{deviceId}/{channel}";

    public ProcessResult Send(string topic, string payload) =>
        Engine.Process(Encoding.UTF8.GetBytes(topic), Encoding.UTF8.GetBytes(payload), Sink);

    /// <summary>One meter reading at <paramref name="seconds"/> after T0, with the device's next seq.</summary>
    public ProcessResult Meter(string deviceId, double seconds, double currentA, double? powerW = null, double? leakageMa = null, double? tempC = null, bool arc = false) =>
        Send(Topic(deviceId), MeterPayload(seconds, NextSeq(deviceId), currentA, powerW, leakageMa, tempC, arc));

    /// <summary>A pile reading with the given port powers (port 1 first).</summary>
    public ProcessResult Pile(string deviceId, double seconds, params double[] portPowers) =>
        Send(Topic(deviceId, "pile"), PilePayload(seconds, NextSeq(deviceId), portPowers));

    public static string PilePayload(double seconds, long seq, params double[] portPowers)
    {
        var ports = string.Join(",", portPowers.Select((p, i) => string.Create(CultureInfo.InvariantCulture, $$"""{"port":{{i + 1}},"state":"{{(p > 0 ? "charging" : "idle")}}","powerW":{{p}}}""")));
        return $$"""{"ts":"{{Ts(seconds)}}","seq":{{seq}},"voltageV":230.4,"tempC":30,"leakageMa":2,"ports":[{{ports}}]}""";
    }

    /// <summary>Readings every 10 s from <paramref name="from"/> (inclusive) to <paramref name="to"/> (exclusive), value by time.</summary>
    public void MeterSeries(string deviceId, double from, double to, Func<double, double> currentA, Func<double, double?>? leakageMa = null, Func<double, double?>? tempC = null)
    {
        for (var s = from; s < to; s += 10)
        {
            Meter(deviceId, s, currentA(s), null, leakageMa?.Invoke(s), tempC?.Invoke(s));
        }
    }

    public long NextSeq(string deviceId)
    {
        var next = _seq.GetValueOrDefault(deviceId, 100) + 1;
        _seq[deviceId] = next;
        return next;
    }
}
