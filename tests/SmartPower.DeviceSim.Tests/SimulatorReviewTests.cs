using SmartPower.DeviceSim.Contract;
using SmartPower.DeviceSim.Simulation;
using SmartPower.DeviceSim.Truth;

namespace SmartPower.DeviceSim.Tests;

/// <summary>Defects a review found in the simulator (stop 18), each test failing on the old code.</summary>
public sealed class SimulatorReviewTests
{
    /// <summary>
    /// A reconnect storm picked devices without looking at their planned uplink loss, so a device that ground truth says
    /// is offline published a Last Will and then online=true in the middle of its outage.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void A_device_offline_in_ground_truth_publishes_no_status_during_its_outage(int seed)
    {
        var scenario = ScenarioFile.Load("faulty-network") with { Seed = seed };
        var night = new NightRun(CompoundNight.Build(scenario));
        var statuses = new List<(string DeviceId, DateTimeOffset At, string Payload)>();
        night.ToEnd(m =>
        {
            if (m.Kind != MessageKind.Telemetry)
            {
                statuses.Add((night.Devices[m.Device].DeviceId, night.Start.AddMilliseconds(m.AtMs), m.Payload));
            }
        });
        var offline = night.Label([]).Incidents.Where(i => i.Type == "offline").ToList();
        var inside = statuses.Where(s => offline.Any(o => o.DeviceId == s.DeviceId && o.Start < s.At && s.At < o.End)).ToList();
        Assert.True(inside.Count == 0, string.Join("\n", inside.Select(s => $"{s.DeviceId} {s.Payload}")));
    }

    /// <summary>A malformed openedAt (or a null type, or port 3.0) was reported without its line number.</summary>
    [Theory]
    [InlineData("{\"alertId\":\"a\",\"type\":\"overload\",\"deviceId\":\"m-1\",\"openedAt\":\"nope\"}")]
    [InlineData("{\"alertId\":\"a\",\"type\":null,\"deviceId\":\"m-1\",\"openedAt\":\"2026-11-26T12:05:00Z\"}")]
    [InlineData("{\"alertId\":\"a\",\"type\":\"port-overpower\",\"deviceId\":\"p-1\",\"port\":3.0,\"openedAt\":\"2026-11-26T12:05:00Z\"}")]
    public void A_malformed_alert_line_is_reported_with_its_line_number(string bad)
    {
        var e = Assert.Throws<FormatException>(() => Scoring.Score(["", bad], []));
        Assert.Contains("line 2", e.Message, StringComparison.Ordinal);
    }
}
