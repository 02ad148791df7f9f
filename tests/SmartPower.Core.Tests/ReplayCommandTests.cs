using System.Text;
using SmartPower.Alerts;
using SmartPower.Detection;
using SmartPower.Host;

namespace SmartPower.Tests;

/// <summary>The replay command as an operator runs it: files in, alert lines out, a report printed.</summary>
public sealed class ReplayCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("smartpower-replay-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static IEnumerable<string> Story()
    {
        for (var s = 0; s < 600; s += 10)
        {
            var seq = 1000 + (s / 10);
            yield return Line("m-0001", Feed.MeterPayload(s, seq, s is >= 60 and < 400 ? 52.3 : 9, leakageMa: 3));
            yield return Line("m-0002", Feed.MeterPayload(s + 2, seq, 4));
        }
    }

    private static string Line(string deviceId, string payload) => $"{{\"topic\":\"{Feed.Topic(deviceId)}\",\"payload\":{payload}}}";

    private (int Exit, string Out, string Err, string Alerts) Replay(IEnumerable<string> lines)
    {
        var registry = Path.Combine(_dir, "registry.json");
        var input = Path.Combine(_dir, "input.jsonl");
        var output = Path.Combine(_dir, "alerts.jsonl");
        File.WriteAllText(registry, Feed.RegistryJson);
        File.WriteAllLines(input, lines);
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var exit = CommandLine.Run(["replay", "--registry", registry, "--input", input, "--output", output], stdout, stderr);
        return (exit, stdout.ToString(), stderr.ToString(), File.Exists(output) ? File.ReadAllText(output) : "");
    }

    [Fact]
    public void Replay_writes_each_alert_once_in_its_final_state_and_reports_what_it_saw()
    {
        var lines = Story().ToList();
        lines.Insert(10, "{ broken");
        lines.Insert(20, lines[5]); // a duplicate delivery
        var (exit, stdout, _, alerts) = Replay(lines);

        Assert.Equal(0, exit);
        var alert = AlertJson.Parse(Assert.Single(alerts.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        Assert.Equal((AlertType.Overload, Severity.Warning, AlertState.Cleared), (alert.Type, alert.Severity, alert.State)); // 52.3 A is 1.31 x 40 A
        Assert.Matches(@"lines read\s+122", stdout);
        Assert.Matches(@"accepted\s+120", stdout);
        Assert.Matches(@"duplicates\s+1", stdout);
        Assert.Matches(@"MalformedJson\s+1", stdout);
        Assert.Matches(@"overload\s+1", stdout);
        Assert.Contains("readings/s", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Envelopes_in_any_json_form_replay_like_the_compact_one()
    {
        // Fields reordered, the topic escaped, spacing, an extra envelope field: the general path must agree.
        static string General(string line)
        {
            using var doc = System.Text.Json.JsonDocument.Parse(line);
            var topic = doc.RootElement.GetProperty("topic").GetString()!.Replace("/", "\\u002f", StringComparison.Ordinal);
            return $"{{ \"receivedBy\": \"bridge-1\", \"payload\": {doc.RootElement.GetProperty("payload").GetRawText()}, \"topic\": \"{topic}\" }}";
        }

        var compact = Replay(Story());
        Assert.NotEmpty(compact.Alerts);
        Assert.Equal(compact.Alerts, Replay(Story().Select(General)).Alerts);
        Assert.Equal(compact.Alerts, Replay(Story().Select((l, i) => i % 2 == 0 ? General(l) : l)).Alerts);
    }

    [Fact]
    public void The_compact_envelope_is_sliced_without_a_json_pass()
    {
        var payload = Feed.MeterPayload(0, 1, 9);
        Assert.True(SmartPower.Replay.ReplayRunner.TrySplitFast(Encoding.UTF8.GetBytes(Line("m-0001", payload)), out var topic, out var sliced));
        Assert.Equal(Feed.Topic("m-0001"), Encoding.UTF8.GetString(topic));
        Assert.Equal(payload, Encoding.UTF8.GetString(sliced));
    }

    [Fact]
    public void A_compact_line_whose_slice_is_not_its_payload_is_judged_as_json()
    {
        // The slice runs to the line's last brace; when more follows the payload, the general reader decides: here
        // the last of two payloads (JSON's rule), and a payload under 8 KiB beside a long extra field.
        var good = Feed.MeterPayload(0, 1, 9);
        var twoPayloads = $"{{\"topic\":\"{Feed.Topic("m-0001")}\",\"payload\":{{\"ts\":\"not a time\"}},\"payload\":{good}}}";
        var longExtra = $"{{\"topic\":\"{Feed.Topic("m-0002")}\",\"payload\":{good},\"note\":\"{new string('x', 9000)}\"}}";
        var feed = new Feed();
        foreach (var line in new[] { twoPayloads, longExtra })
        {
            var result = SmartPower.Replay.ReplayRunner.ProcessLine(feed.Engine, Encoding.UTF8.GetBytes(line), feed.Sink);
            Assert.Equal(MessageOutcome.Accepted, result.Outcome);
        }
    }

    [Fact]
    public void Partitions_spread_devices_but_each_device_stays_on_one_engine()
    {
        var lines = Story().Select(l => System.Text.Encoding.UTF8.GetBytes(l)).ToList();
        foreach (var partitions in new[] { 1, 2, 3, 8 })
        {
            var byDevice = lines.GroupBy(l => System.Text.Encoding.UTF8.GetString(l).Split('/')[4])
                .ToDictionary(g => g.Key, g => g.Select(l => SmartPower.Replay.ReplayRunner.PartitionOf(l, partitions)).Distinct().Single());
            Assert.All(byDevice.Values, p => Assert.InRange(p, 0, partitions - 1));
        }

        var escaped = System.Text.Encoding.UTF8.GetBytes($"{{\"payload\":{{}},\"topic\":\"{Feed.Topic("m-0002").Replace("/", "\\u002f", StringComparison.Ordinal)}\"}}");
        var plain = System.Text.Encoding.UTF8.GetBytes(Line("m-0002", "{}"));
        Assert.Equal(SmartPower.Replay.ReplayRunner.PartitionOf(plain, 7), SmartPower.Replay.ReplayRunner.PartitionOf(escaped, 7));
    }

    [Fact]
    public void Same_input_gives_byte_identical_output_and_replaying_twice_adds_nothing()
    {
        var once = Replay(Story()).Alerts;
        Assert.Equal(once, Replay(Story()).Alerts);
        Assert.Equal(once, Replay(Story().Concat(Story())).Alerts);
    }

    [Fact]
    public void Bad_invocations_fail_with_a_clear_message()
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        Assert.Equal(CommandLine.Usage, CommandLine.Run(["replay", "--registry", "x.json"], stdout, stderr));
        Assert.Contains("missing required option '--input'", stderr.ToString(), StringComparison.Ordinal);
        Assert.Equal(CommandLine.Usage, CommandLine.Run(["replay", "--speed", "9"], stdout, stderr));
        Assert.Contains("unknown option '--speed'", stderr.ToString(), StringComparison.Ordinal);
        Assert.Equal(CommandLine.Usage, CommandLine.Run(["replay", "--registry", "r", "--input", "i", "--output", "o", "--partitions", "0"], stdout, stderr));
        Assert.Contains("'--partitions' must be a whole number from 1 to 64", stderr.ToString(), StringComparison.Ordinal);
        Assert.Equal(CommandLine.Failed, CommandLine.Run(["replay", "--registry", Path.Combine(_dir, "none.json"), "--input", "i", "--output", "o"], stdout, stderr));
        Assert.Contains("cannot read registry", stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Alert_json_has_the_contract_shape_and_round_trips()
    {
        var alert = new Alert("abc", AlertType.IllegalCharging, Severity.Critical, "m-0100", "xihu-wutong", null,
            Feed.T0, null, AlertState.Open, new Evidence(new EvidenceItem("stepW", 182.46)));
        var json = AlertJson.ToJson(alert);
        Assert.Equal("""{"alertId":"abc","type":"illegal-charging","severity":"critical","deviceId":"m-0100","siteId":"xihu-wutong","port":null,"openedAt":"2026-11-26T12:00:00.000Z","clearedAt":null,"state":"open","evidence":{"stepW":182.46}}""", json);
        Assert.Equal(alert, AlertJson.Parse(json));
        Assert.Equal(Encoding.UTF8.GetByteCount(json), json.Length);
    }
}
