using SmartPower.DeviceSim.Contract;
using SmartPower.Host;
using SmartPower.Registry;

namespace SmartPower.Tests;

/// <summary>Bad registries and command lines end in a clear error, never a stack trace or a silent wrong result (found in review at stop 19; each failed before its fix).</summary>
public sealed class RegistryInputTests : IDisposable
{
    private const string Site = """{"siteId":"s","name":"S"}""";
    private const string Meter = """{"deviceId":"m-1","siteId":"s","kind":"meter","circuit":"dwelling","ratedCurrentA":40}""";

    private readonly string _dir = Directory.CreateTempSubdirectory("smartpower-registry-input-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("""{"sites":[null],"devices":[]}""")]
    [InlineData("""{"sites":[{"siteId":"s","name":"S"}],"devices":[null]}""")]
    public void Host_loader_null_entry_is_a_registry_error_not_a_null_reference(string json)
    {
        var error = Record.Exception(() => RegistryLoader.Parse(json));
        Assert.IsType<RegistryException>(error);
    }

    [Fact]
    public void Host_replay_with_a_null_site_entry_exits_with_a_message()
    {
        var registry = Path.Combine(_dir, "registry.json");
        var input = Path.Combine(_dir, "input.jsonl");
        File.WriteAllText(registry, """{"sites":[null],"devices":[]}""");
        File.WriteAllText(input, "");
        var stderr = new StringWriter();
        var exit = CommandLine.Run(["replay", "--registry", registry, "--input", input, "--output", Path.Combine(_dir, "out.jsonl")], TextWriter.Null, stderr);
        Assert.Equal(CommandLine.Failed, exit);
        Assert.Contains("registry", stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Host_loader_refuses_a_registry_whose_devices_key_is_misspelt()
    {
        // "device" for "devices": the host loads an empty fleet silently; replay then rejects every reading as an unknown device.
        var json = $$"""{"sites":[{{Site}}],"device":[{{Meter}}]}""";
        var error = Record.Exception(() => RegistryLoader.Parse(json));
        Assert.IsType<RegistryException>(error);
    }

    [Fact]
    public void Host_loader_a_directory_is_a_registry_error()
    {
        // The bridge catches only RegistryException around RegistryLoader.Load.
        var error = Record.Exception(() => RegistryLoader.Load(_dir));
        Assert.IsType<RegistryException>(error);
    }

    [Fact]
    public void Host_loader_a_top_level_array_says_an_object_is_expected()
    {
        var error = Assert.Throws<RegistryException>(() => RegistryLoader.Parse("[]"));
        Assert.DoesNotContain("not valid JSON", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("keys", "list")]
    [InlineData("tokens", "revoke", "--device", "m-1")]
    public void Host_db_that_is_a_directory_exits_with_a_message(params string[] verb)
    {
        var stderr = new StringWriter();
        var exit = CommandLine.Run([.. verb, "--db", _dir], TextWriter.Null, stderr);
        Assert.Equal(CommandLine.Failed, exit);
        Assert.StartsWith("error: ", stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Host_db_that_is_not_a_database_exits_with_a_message()
    {
        var notDb = Path.Combine(_dir, "registry.json");
        File.WriteAllText(notDb, new string('x', 4096));
        var stderr = new StringWriter();
        var exit = CommandLine.Run(["keys", "list", "--db", notDb], TextWriter.Null, stderr);
        Assert.Equal(CommandLine.Failed, exit);
        Assert.StartsWith("error: ", stderr.ToString(), StringComparison.Ordinal);
    }

    public static TheoryData<string, string> NowAgreed => new()
    {
        { "floor 2.5", """{"sites":[{"siteId":"s","name":"S"}],"devices":[{"deviceId":"m-1","siteId":"s","kind":"meter","circuit":"dwelling","ratedCurrentA":40,"location":{"floor":2.5}}]}""" },
        { "no devices key", """{"sites":[{"siteId":"s","name":"S"}]}""" },
        { "reportIntervalS of two hours", """{"sites":[{"siteId":"s","name":"S"}],"devices":[{"deviceId":"m-1","siteId":"s","kind":"meter","circuit":"dwelling","ratedCurrentA":40,"reportIntervalS":7200}]}""" },
        { "site without a name", """{"sites":[{"siteId":"s"}],"devices":[{"deviceId":"m-1","siteId":"s","kind":"meter","circuit":"dwelling","ratedCurrentA":40}]}""" },
        { "pile without a circuit", """{"sites":[{"siteId":"s","name":"S"}],"devices":[{"deviceId":"p-1","siteId":"s","kind":"pile","portCount":4,"portMaxW":400}]}""" },
        { "portCount 4.0", """{"sites":[{"siteId":"s","name":"S"}],"devices":[{"deviceId":"p-1","siteId":"s","kind":"pile","circuit":"pile","portCount":4.0,"portMaxW":400}]}""" },
        { "floor 2.0", """{"sites":[{"siteId":"s","name":"S"}],"devices":[{"deviceId":"m-1","siteId":"s","kind":"meter","circuit":"dwelling","ratedCurrentA":40,"location":{"floor":2.0}}]}""" },
        { "reportIntervalS 10.0", """{"sites":[{"siteId":"s","name":"S"}],"devices":[{"deviceId":"m-1","siteId":"s","kind":"meter","circuit":"dwelling","ratedCurrentA":40,"reportIntervalS":10.0}]}""" },
        { "deviceId with trailing newline", """{"sites":[{"siteId":"s","name":"S"}],"devices":[{"deviceId":"m-1\n","siteId":"s","kind":"meter","circuit":"dwelling","ratedCurrentA":40}]}""" },
    };

    [Theory]
    [MemberData(nameof(NowAgreed))]
    public void Host_and_simulator_loaders_agree(string what, string json)
    {
        var host = Record.Exception(() => RegistryLoader.Parse(json));
        var sim = Record.Exception(() => RegistryFile.Parse(json));
        Assert.True(host is null == sim is null, $"{what}: host {(host is null ? "accepts" : "refuses: " + host.Message)}, simulator {(sim is null ? "accepts" : "refuses: " + sim.Message)}");
    }
}
