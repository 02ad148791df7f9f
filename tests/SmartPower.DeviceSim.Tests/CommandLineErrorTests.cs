namespace SmartPower.DeviceSim.Tests;

/// <summary>Bad arguments and unusable files end with exit code 2 and a message that says what is wrong, never a stack trace.</summary>
public sealed class CommandLineErrorTests
{
    private static async Task<string> ExpectExit2Async(params string[] args)
    {
        var (exit, _, err) = await SimCli.RunAsync(args);
        Assert.True(exit == 2, $"exit {exit}: {err}");
        Assert.StartsWith("device-sim: ", err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", err, StringComparison.Ordinal);
        return err;
    }

    [Theory]
    [InlineData(new[] { "frobnicate" }, "unknown verb")]
    [InlineData(new string[0], "no verb")]
    [InlineData(new[] { "generate" }, "--out is required")]
    [InlineData(new[] { "generate", "--out", "x", "--seed", "minus-one" }, "--seed must be a whole number")]
    [InlineData(new[] { "generate", "--out", "x", "--colour", "red" }, "unknown option --colour")]
    [InlineData(new[] { "generate", "--out", "x", "--scenario", "no-such-scenario" }, "compound-night")]
    [InlineData(new[] { "run", "--broker", "localhost" }, "--broker must be HOST:PORT")]
    [InlineData(new[] { "run", "--broker", "localhost:1883", "--max-rate", "--speed", "5" }, "exclude each other")]
    [InlineData(new[] { "score", "--truth", "t.jsonl" }, "--alerts is required")]
    [InlineData(new[] { "score", "--truth", "t", "--alerts", "a", "--min-recall", "2" }, "--min-recall must be a number in 0-1")]
    public async Task Bad_arguments_say_what_is_wrong(string[] args, string expected)
    {
        var err = await ExpectExit2Async(args);
        Assert.Contains(expected, err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_broker_that_cannot_be_reached_is_reported_with_the_reason_not_just_counted()
    {
        var port = FreePorts.Next(); // nothing listens there
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(3));
        var (_, output, _) = await SimCli.RunAsync(stop.Token, "run", "--broker", $"127.0.0.1:{port}", "--password", "pw",
            "--scenario", "quiet-evening", "--hours", "1", "--speed", "60", "--no-progress");
        Assert.Matches(@"connection errors [1-9][0-9,]* \(last: [mp]-\d{4}: .+\)", output);
    }

    [Theory]
    [InlineData("generate", "--scenario NAME|FILE")]
    [InlineData("run", "--broker HOST:PORT")]
    [InlineData("score", "--truth FILE")]
    public async Task A_verb_asked_for_help_prints_its_own_usage_and_succeeds(string verb, string expected)
    {
        var (exit, output, err) = await SimCli.RunAsync(verb, "--help");
        Assert.True(exit == 0, $"exit {exit}: {err}");
        Assert.Contains(expected, output, StringComparison.Ordinal);
        Assert.StartsWith("usage: dotnet run -c Release --project device-sim -- " + verb, output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"fleet\":{\"dwelings\":3}}", "dwelings")]
    [InlineData("{\"durationH\":30}", "durationH: must be (0, 24]")]
    [InlineData("{\"dataFaults\":{\"duplicateRate\":0.9}}", "dataFaults.duplicateRate")]
    [InlineData("{\"start\":\"yesterday\"}", "start: \"yesterday\"")]
    [InlineData("{\"seed\":\"one\"}", "$.seed")]
    [InlineData("not json", "invalid")]
    public async Task A_bad_scenario_file_is_refused_with_the_setting_at_fault(string json, string expected)
    {
        using var dir = new TempDir();
        var err = await ExpectExit2Async("generate", "--out", dir.File("out"), "--scenario", dir.Write("bad.json", json));
        Assert.Contains(expected, err, StringComparison.Ordinal);
        Assert.Contains("bad.json", err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"sites\":[{\"siteId\":\"s\"}],\"devices\":[{\"siteId\":\"s\",\"kind\":\"meter\",\"circuit\":\"dwelling\",\"ratedCurrentA\":40}]}", "devices[0].deviceId: missing")]
    [InlineData("{\"sites\":[{\"siteId\":\"s\"}],\"devices\":[{\"deviceId\":\"m-1\",\"siteId\":\"t\",\"kind\":\"meter\",\"circuit\":\"dwelling\",\"ratedCurrentA\":40}]}", "devices[0].siteId: \"t\" is not one of the registry's sites")]
    [InlineData("{\"sites\":[{\"siteId\":\"s\"}],\"devices\":[{\"deviceId\":\"p-1\",\"siteId\":\"s\",\"kind\":\"pile\",\"circuit\":\"pile\",\"portMaxW\":400}]}", "devices[0].portCount: missing")]
    [InlineData("{\"sites\":[{\"siteId\":\"s\",\"timeZone\":\"Mars/Olympus\"}],\"devices\":[]}", "sites[0].timeZone")]
    [InlineData("[1,2]", "must be a JSON object")]
    public async Task A_bad_registry_is_refused_with_the_entry_and_field_at_fault(string json, string expected)
    {
        using var dir = new TempDir();
        var err = await ExpectExit2Async("generate", "--out", dir.File("out"), "--registry", dir.Write("registry.json", json));
        Assert.Contains(expected, err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_file_is_named()
    {
        var err = await ExpectExit2Async("score", "--truth", "/nonexistent/truth.jsonl", "--alerts", "/nonexistent/alerts.jsonl");
        Assert.Contains("/nonexistent/truth.jsonl", err, StringComparison.Ordinal);
    }

    /// <summary>
    /// A scenario's <c>durationH</c> is turned into a TimeSpan before it is range-checked, so a value beyond TimeSpan's
    /// range escapes as an unhandled OverflowException (stack trace, exit 134) instead of "durationH: must be (0, 24]", exit 2.
    /// </summary>
    [Theory]
    [InlineData("{\"durationH\":1e9}")]
    [InlineData("{\"durationH\":-1e9}")]
    public async Task A_scenario_duration_beyond_timespan_range_is_exit_2_not_a_crash(string json)
    {
        using var dir = new TempDir();
        var (exit, _, err) = await SimCli.RunAsync("generate", "--out", dir.File("out"), "--scenario", dir.Write("huge.json", json));
        Assert.True(exit == 2, $"exit {exit}: {err}");
        Assert.Contains("durationH", err, StringComparison.Ordinal);
    }

    /// <summary>
    /// The README promises that an unusable file ends in exit 2 with "the message names the file, entry and field";
    /// a registry's format errors name the entry and field but not the file (RegistryFile.Load does not add its path).
    /// </summary>
    [Fact]
    public async Task A_bad_registry_error_names_the_registry_file()
    {
        using var dir = new TempDir();
        var path = dir.Write("site-registry.json",
            "{\"sites\":[{\"siteId\":\"s\"}],\"devices\":[{\"siteId\":\"s\",\"kind\":\"meter\",\"circuit\":\"dwelling\",\"ratedCurrentA\":40}]}");
        var (exit, _, err) = await SimCli.RunAsync("generate", "--out", dir.File("out"), "--registry", path);
        Assert.Equal(2, exit);
        Assert.Contains("devices[0].deviceId", err, StringComparison.Ordinal);
        Assert.Contains("site-registry.json", err, StringComparison.Ordinal);
    }
}
