using System.Globalization;
using System.Text.Json;
using SmartPower.DeviceSim.Contract;
using SmartPower.DeviceSim.Simulation;

namespace SmartPower.DeviceSim.Tests;

/// <summary>Ground truth that disagreed with the readings it labels (found in review at stop 19; each test failed before its fix).</summary>
public sealed class GroundTruthEdgeTests
{
    /// <summary>
    /// Sequence: faulty-network (clockSkewDevices 4, clockSkewMaxS 240) on a registry whose dwellings have 16 A breakers
    /// (a valid registry). DataFaultInjector skews the clocks of devices with no *planned* hazard, but the natural-hazard
    /// scanners still label those devices, and label them in true time (Start + tMs) while every reading they send is
    /// stamped Start + tMs + ClockSkewMs. Effect: ground truth says m-0009's overload starts at 11:53:21.840Z, and no
    /// reading of m-0009 has that ts: its readings over 16 A start about 3.5 min later. An engine alert opened on the
    /// first such reading falls outside [start - 1 min, end + 10 min] for a slow clock: one missed incident plus one
    /// false alert that the engine did not earn.
    /// </summary>
    [Fact]
    public void A_natural_hazard_on_a_skewed_device_is_labelled_at_the_ts_its_readings_carry()
    {
        var scenario = ScenarioFile.Load("faulty-network") with { Seed = 1 };
        var registry = CompoundNight.GenerateRegistry(scenario);
        registry = registry with { Devices = [.. registry.Devices.Select(d => d.IsDwelling ? d with { RatedCurrentA = 16 } : d)] };
        var night = CompoundNight.Generate(scenario, registry);
        var readingTs = Readings(night.Lines).Select(r => (r.DeviceId, r.Ts)).ToHashSet();

        var natural = night.Incidents.Where(i => i.Note?.StartsWith("natural", StringComparison.Ordinal) == true).ToList();
        Assert.NotEmpty(natural);
        var unmoored = natural.Where(i => !readingTs.Contains((i.DeviceId, i.Start))).Select(i => i.ToJsonLine()).ToList();
        Assert.True(unmoored.Count == 0, "incidents starting at no reading of their device:\n" + string.Join("\n", unmoored));
    }

    /// <summary>
    /// Sequence: a registry with one pile of one port (portCount 1 is valid), labelled-night, seed 2. PortOverpower plans
    /// two modified packs on the only pile; the "never two on one port" loop has no other port to move to, and
    /// <c>Ports[port].RemoveAll(...)</c> then deletes the first modified pack's session, yet its ThresholdTracker stays.
    /// Effect: the first tracker labels the second pack's readings, so truth.jsonl holds the same port-overpower
    /// incident twice (same device, port, start and end, notes "modified 60V ... 762 W" and "modified 72V ... 683 W");
    /// the first pack never drew a watt. One alert can match only one of them, so a perfect engine scores a miss.
    /// </summary>
    [Fact]
    public void Ground_truth_never_lists_one_port_overpower_twice()
    {
        var scenario = ScenarioFile.Load("labelled-night") with { Seed = 2 };
        var registry = CompoundNight.GenerateRegistry(scenario);
        registry = registry with
        {
            Devices = [.. registry.Devices.Where(d => d.Kind != DeviceKind.Pile || d.DeviceId == "p-0001")
                .Select(d => d.Kind == DeviceKind.Pile ? d with { PortCount = 1 } : d)],
        };
        var night = CompoundNight.Generate(scenario, registry);
        var overpower = night.Incidents.Where(i => i.Type == "port-overpower").OrderBy(i => i.Start).ToList();
        var overlapping = overpower.Zip(overpower.Skip(1)).Where(p => p.Second.Start <= p.First.End)
            .Select(p => $"{p.First.ToJsonLine()} ({p.First.Note}) / {p.Second.ToJsonLine()} ({p.Second.Note})").ToList();
        Assert.True(overlapping.Count == 0, "overlapping port-overpower incidents on one port:\n" + string.Join("\n", overlapping));
    }

    private static IEnumerable<(string DeviceId, DateTimeOffset Ts)> Readings(IEnumerable<string> lines)
    {
        foreach (var line in lines)
        {
            JsonDocument doc;
            try
            {
                doc = JsonDocument.Parse(line);
            }
            catch (JsonException)
            {
                continue; // a deliberately malformed payload
            }

            using (doc)
            {
                var topic = doc.RootElement.GetProperty("topic").GetString()!;
                if (topic.EndsWith("/telemetry", StringComparison.Ordinal) &&
                    doc.RootElement.GetProperty("payload").TryGetProperty("ts", out var ts) && ts.ValueKind == JsonValueKind.String)
                {
                    yield return (topic.Split('/')[4], DateTimeOffset.Parse(ts.GetString()!, CultureInfo.InvariantCulture));
                }
            }
        }
    }

    /// <summary>
    /// A scenario asking for more outages or leaks than the fleet has piles for used to put a second one on a pile it
    /// had already used, drawn from the same random stream: ground truth listed the same incident twice, the engine can
    /// raise one alert for it, and recall could never reach 1. Each pile now takes one; the rest go to meters.
    /// </summary>
    [Theory]
    [InlineData("\"leakage\":0,\"offline\":5")]
    [InlineData("\"leakage\":6,\"offline\":0")]
    public async Task Ground_truth_never_lists_the_same_incident_twice_when_a_scenario_asks_for_more_than_the_piles_can_take(string counts)
    {
        var scenario =
            "{\"durationH\":12,\"fleet\":{\"sites\":1,\"dwellings\":6,\"commonAreas\":2,\"piles\":1},\"lookAlikes\":false," +
            "\"incidentCounts\":{\"illegalChargingDwellings\":0,\"illegalChargingCommonAreas\":0,\"overloads\":0,\"portOverpower\":0," +
            "\"overtemperature\":0,\"arcFaults\":0," + counts + "}}";
        using var dir = new TempDir();
        var (exit, _, err) = await SimCli.RunAsync("generate", "--out", dir.File("out"), "--scenario", dir.Write("many.json", scenario));
        Assert.True(exit == 0, $"exit {exit}: {err}");
        var lines = File.ReadAllLines(Path.Combine(dir.File("out"), "truth.jsonl")).Where(l => l.Length > 0).ToList();
        Assert.NotEmpty(lines);
        var repeated = lines.GroupBy(l => l, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => $"{g.Count()}x {g.Key}").ToList();
        Assert.True(repeated.Count == 0, string.Join("\n", repeated));
    }
}
