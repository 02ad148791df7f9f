using System.Globalization;
using System.Text.Json;
using SmartPower.Alerts;
using SmartPower.Detection;
using SmartPower.Registry;
using Xunit.Abstractions;

namespace SmartPower.Tests;

/// <summary>
/// A tool more than a test: with <c>REACTIVE_PARITY_NIGHTS</c> set to night directories (separated by ':'), runs
/// <see cref="ReactiveHold"/> alone over each meter's readings (sorted by time, as the research prototype reads them) and
/// writes every call (night, device, step time in unix seconds, dQ, dP) as JSON lines to <c>REACTIVE_PARITY_OUT</c>, for
/// comparison with the prototype's own calls on the same nights. Does nothing otherwise.
/// </summary>
public sealed class ReactiveHoldParity(ITestOutputHelper output)
{
    [Fact]
    public void Calls_on_recorded_nights()
    {
        var nights = Environment.GetEnvironmentVariable("REACTIVE_PARITY_NIGHTS");
        var outPath = Environment.GetEnvironmentVariable("REACTIVE_PARITY_OUT");
        if (string.IsNullOrEmpty(nights) || string.IsNullOrEmpty(outPath))
        {
            return;
        }

        using var writer = new StreamWriter(outPath);
        foreach (var dir in nights.Split(':'))
        {
            var registry = RegistryLoader.Load(Path.Combine(dir, "registry.json"));
            var rows = new Dictionary<string, List<(long Ts, double V, double I, double P)>>();
            foreach (var line in File.ReadLines(Path.Combine(dir, "readings.jsonl")))
            {
                if (!line.AsSpan(0, Math.Min(90, line.Length)).Contains("/meter/", StringComparison.Ordinal))
                {
                    continue;
                }

                try
                {
                    using var doc = JsonDocument.Parse(line);
                    var topic = doc.RootElement.GetProperty("topic").GetString()!;
                    if (!topic.EndsWith("/telemetry", StringComparison.Ordinal))
                    {
                        continue;
                    }

                    var p = doc.RootElement.GetProperty("payload");
                    var dev = topic.Split('/')[4];
                    var ts = DateTimeOffset.Parse(p.GetProperty("ts").GetString()!, CultureInfo.InvariantCulture).ToUnixTimeMilliseconds();
                    if (!rows.TryGetValue(dev, out var list))
                    {
                        rows[dev] = list = [];
                    }

                    list.Add((ts, p.GetProperty("voltageV").GetDouble(), p.GetProperty("currentA").GetDouble(), p.GetProperty("powerW").GetDouble()));
                }
                catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
                {
                }
            }

            var calls = 0;
            foreach (var (dev, list) in rows.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                if (!registry.TryGetDevice(System.Text.Encoding.ASCII.GetBytes(dev), out var device) || device.Circuit is not (Contract.Circuit.Dwelling or Contract.Circuit.CommonArea))
                {
                    continue;
                }

                list.Sort();
                var rule = new ReactiveHold();
                var sink = new CollectingSink();
                foreach (var (ts, v, i, p) in list)
                {
                    Incident? incident = null; // a fresh incident each reading: every call is seen
                    rule.Observe(ts, p, v, i, device, DeviceLimits.OfflineAfterMs(device), false, false, 0, ref incident, sink);
                }

                foreach (var t in sink.Transitions.Where(t => t.Kind == TransitionKind.Opened))
                {
                    var e = t.Alert.Evidence;
                    var stepTs = (t.AtMs / 1000.0) - e["heldS"]!.Value;
                    writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $$"""{"night":"{{Path.GetFileName(dir)}}","dev":"{{dev}}","ts":{{stepTs:F3}},"dq":{{e["stepVar"]!.Value:F2}},"dp":{{e["stepW"]!.Value:F2}},"at":{{t.AtMs / 1000.0:F3}}}"""));
                    calls++;
                }
            }

            output.WriteLine($"{dir}: {calls} calls");
        }
    }
}
