using SmartPower.DeviceSim.Contract;
using SmartPower.DeviceSim.Simulation;

namespace SmartPower.DeviceSim.Tests;

/// <summary>Same seed, same bytes; and the paced (live) stepping produces exactly what the file stepping does.</summary>
public sealed class DeterminismTests
{
    private static async Task<(byte[] Registry, byte[] Readings, byte[] Truth)> GenerateAsync(TempDir dir, string name, params string[] extra)
    {
        var outDir = dir.File(name);
        var (exit, _, err) = await SimCli.RunAsync(["generate", "--scenario", "faulty-network", "--hours", "1", "--out", outDir, .. extra]);
        Assert.True(exit == 0, err);
        return (File.ReadAllBytes(Path.Combine(outDir, "registry.json")), File.ReadAllBytes(Path.Combine(outDir, "readings.jsonl")),
            File.ReadAllBytes(Path.Combine(outDir, "truth.jsonl")));
    }

    [Fact]
    public async Task The_same_seed_gives_the_same_bytes_and_another_seed_does_not()
    {
        using var dir = new TempDir();
        var a = await GenerateAsync(dir, "a", "--seed", "42");
        var b = await GenerateAsync(dir, "b", "--seed", "42");
        var c = await GenerateAsync(dir, "c", "--seed", "43");
        Assert.True(a.Registry.AsSpan().SequenceEqual(b.Registry), "registry.json differs");
        Assert.True(a.Readings.AsSpan().SequenceEqual(b.Readings), "readings.jsonl differs");
        Assert.True(a.Truth.AsSpan().SequenceEqual(b.Truth), "truth.jsonl differs");
        Assert.NotEmpty(a.Truth);
        Assert.False(a.Readings.AsSpan().SequenceEqual(c.Readings), "another seed gave the same readings");
    }

    [Fact]
    public void Stepping_in_small_paced_slices_gives_what_running_to_the_end_gives()
    {
        var scenario = ScenarioFile.Load("faulty-network") with { Duration = TimeSpan.FromHours(1) };
        var batch = new List<string>();
        var fast = new NightRun(CompoundNight.Build(scenario));
        fast.ToEnd(m => batch.Add(fast.ReplayLine(m)));

        var paced = new List<string>();
        var live = new NightRun(CompoundNight.Build(scenario));
        for (var ms = 0L; !live.Finished; ms += 1_337)
        {
            live.Advance(ms, m => paced.Add(live.ReplayLine(m)), parallel: false);
        }

        Assert.Equal(batch.Count, paced.Count);
        Assert.Equal(batch, paced);
        Assert.Equal(fast.Label([]).Incidents, live.Label([]).Incidents);
    }

    [Fact]
    public async Task A_registry_file_gives_the_same_night_as_the_fleet_it_was_generated_from()
    {
        using var dir = new TempDir();
        var generated = await GenerateAsync(dir, "generated", "--seed", "9");
        var registry = dir.Write("fleet.json", File.ReadAllText(Path.Combine(dir.File("generated"), "registry.json")));
        var fromFile = await GenerateAsync(dir, "from-file", "--seed", "9", "--registry", registry);
        Assert.True(generated.Readings.AsSpan().SequenceEqual(fromFile.Readings), "readings differ");
        Assert.True(generated.Truth.AsSpan().SequenceEqual(fromFile.Truth), "truth differs");
        Assert.Equal(RegistryFile.Parse(File.ReadAllText(registry)).ToJson(), File.ReadAllText(registry));
    }

    [Fact]
    public void The_shipped_labelled_night_is_the_tests_labelled_night_so_the_command_line_reproduces_their_figures()
    {
        var shipped = ScenarioFile.Load("labelled-night");
        Assert.Equal(new Scenario { Seed = 1 } with { Name = shipped.Name }, shipped);
    }

    [Fact]
    public void Compound_night_is_one_compound_of_200_devices_with_every_incident_type_and_look_alike()
    {
        var night = CompoundNight.Generate(ScenarioFile.Load("compound-night"));
        var registry = RegistryFile.Parse(night.RegistryJson);
        Assert.Single(registry.Sites);
        Assert.True(registry.Devices.Count >= 200, $"{registry.Devices.Count} devices");
        foreach (var type in Truth.Scoring.AlertTypes)
        {
            Assert.Contains(night.Incidents, i => i.Type == type);
        }

        var dwellings = registry.Devices.Where(d => d.Circuit == "dwelling").Select(d => d.DeviceId).ToHashSet();
        var commons = registry.Devices.Where(d => d.Circuit == "common-area").Select(d => d.DeviceId).ToHashSet();
        Assert.Contains(night.Incidents, i => i.Type == "illegal-charging" && dwellings.Contains(i.DeviceId));
        Assert.Contains(night.Incidents, i => i.Type == "illegal-charging" && commons.Contains(i.DeviceId));
        foreach (var lookAlike in new[] { "tv", "electric-blanket", "inrush-spike", "near-rating-load", "fridge", "pile-start-transient" })
        {
            Assert.Contains(night.LookAlikes, l => l.Appliance == lookAlike);
        }

        Assert.Empty(night.Diagnostics);
    }

    [Fact]
    public void A_scenario_can_set_how_many_incidents_of_each_kind_a_site_gets()
    {
        var scenario = ScenarioFile.Parse(
            "{\"durationH\":6,\"fleet\":{\"dwellings\":30,\"commonAreas\":6,\"piles\":2},\"incidentCounts\":" +
            "{\"illegalChargingDwellings\":2,\"illegalChargingCommonAreas\":1,\"overloads\":1,\"portOverpower\":3,\"leakage\":4,\"overtemperature\":0,\"arcFaults\":1,\"offline\":0}}",
            "counts");
        var night = CompoundNight.Generate(scenario);
        int Count(string type) => night.Incidents.Count(i => i.Type == type && i.Note?.StartsWith("natural", StringComparison.Ordinal) != true);
        Assert.Equal(3, Count("illegal-charging"));
        Assert.Equal(1, Count("overload"));
        Assert.Equal(3, Count("port-overpower"));
        Assert.Equal(4, Count("leakage"));
        Assert.Equal(0, Count("overtemperature"));
        Assert.Equal(1, Count("arc-fault"));
        Assert.Equal(0, Count("offline"));
    }
}
