using SmartPower.DeviceSim.Contract;

namespace SmartPower.DeviceSim.Tests;

/// <summary>A registry off the contract is refused with a message, not loaded with a silently altered value (review, stop 19).</summary>
public sealed class SimulatorRegistryInputTests
{
    private const string Site = """{"siteId":"s","name":"S"}""";

    [Fact]
    public void Sim_registry_id_with_a_trailing_newline_is_refused()
    {
        // "$" in the id pattern also matches before a final '\n', so "m-1\n" passes the contract's ^...$ check.
        var json = "{\"sites\":[" + Site + "],\"devices\":[{\"deviceId\":\"m-1\\n\",\"siteId\":\"s\",\"kind\":\"meter\",\"circuit\":\"dwelling\",\"ratedCurrentA\":40}]}";
        Assert.Throws<RegistryFormatException>(() => RegistryFile.Parse(json));
    }

    [Fact]
    public async Task Sim_generate_with_a_registry_id_with_a_trailing_newline_exits_2()
    {
        using var dir = new TempDir();
        var registry = dir.Write("registry.json",
            "{\"sites\":[" + Site + "],\"devices\":[{\"deviceId\":\"m-1\\n\",\"siteId\":\"s\",\"kind\":\"meter\",\"circuit\":\"dwelling\",\"ratedCurrentA\":40}]}");
        var (exit, _, err) = await SimCli.RunAsync("generate", "--out", dir.File("out"), "--registry", registry, "--hours", "0.01");
        Assert.True(exit == 2, $"exit {exit}: {err}");
    }

    [Theory]
    [InlineData("1e10")]
    [InlineData("2.5")]
    public void Sim_registry_floor_that_is_not_a_whole_int_is_refused(string floor)
    {
        // (int)1e10 is int.MinValue and (int)2.5 is 2: the floor changes silently.
        var json = "{\"sites\":[" + Site + "],\"devices\":[{\"deviceId\":\"m-1\",\"siteId\":\"s\",\"kind\":\"meter\",\"circuit\":\"dwelling\",\"ratedCurrentA\":40,\"location\":{\"floor\":" + floor + "}}]}";
        Assert.Throws<RegistryFormatException>(() => RegistryFile.Parse(json));
    }
}
