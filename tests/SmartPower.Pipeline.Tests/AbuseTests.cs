using System.Buffers;
using System.Text;
using MQTTnet;
using SmartPower.Alerts;
using SmartPower.Contract;
using SmartPower.Detection;
using SmartPower.Mqtt;
using SmartPower.Pipeline;
using Xunit.Abstractions;

namespace SmartPower.Pipeline.Tests;

/// <summary>
/// The abuse campaign against the embedded broker and ingress, in the middle of a scripted story: a device (authenticated,
/// so past the broker's door) sends a fuzz corpus on its own telemetry topic (random bytes, 8 KiB + 1, deep nesting, NaN
/// and Infinity, wrong types, huge numbers, timestamps in the future and the past), publishes on topics not its own,
/// subscribes to what is not its own, and someone guesses passwords. Each is refused and counted by reason, and the
/// story's alerts and every device's detector state end exactly as in the same story without the abuse.
/// </summary>
public sealed class AbuseTests(ITestOutputHelper output)
{
    private const int RandomPayloads = 300;

    [Fact]
    public async Task Abuse_is_refused_and_counted_and_leaves_detection_exactly_as_a_clean_run_leaves_it()
    {
        var clean = await RunAsync(abuse: false);
        var loggers = new RecordingLoggers();
        var abused = await RunAsync(abuse: true, loggers);

        Assert.Equal(clean.Alerts, abused.Alerts);
        Assert.Equal(clean.States, abused.States);
        Assert.Equal(clean.Accepted, abused.Accepted);
        Assert.Equal(0, clean.Rejected);

        // Every crafted payload was refused for its own reason (checked one by one), every random one refused, none accepted.
        Assert.Equal(Crafted.Length + RandomPayloads, abused.Rejected);
        Assert.Equal(1, abused.Refused.GetValueOrDefault("oversize"));
        Assert.Equal(ForeignTopics.Length, abused.Refused.GetValueOrDefault("topic-not-allowed"));
        Assert.Equal(ForeignFilters.Length, abused.Refused.GetValueOrDefault("subscription-not-allowed"));
        Assert.Equal(5, abused.Refused.GetValueOrDefault("bad-credentials"));
        Assert.Equal(Guesses - 5 + 1, abused.Refused.GetValueOrDefault("auth-throttled")); // and the right token while locked out
        Assert.Equal(2, abused.Refused.GetValueOrDefault("unknown-device"));
        Assert.Contains(loggers.Lines, l => l.Contains("ingress refused auth-throttled", StringComparison.Ordinal));
        Assert.Contains(loggers.Lines, l => l.Contains("ingress refused bad-credentials", StringComparison.Ordinal));

        ReliabilityReport.Record(output, "abuse: fuzz, topics, subscriptions, guessing (embedded broker)", clean.Alerts.Count, abused.Alerts.Count,
            clean.Alerts.Keys.Count(k => !abused.Alerts.ContainsKey(k)), abused.Alerts.Keys.Count(k => !clean.Alerts.ContainsKey(k)),
            "parser rejected " + string.Join(", ", abused.RejectedByReason.Select(r => $"{r.Key} {r.Value}"))
            + "; ingress refused " + string.Join(", ", abused.Refused.Select(r => $"{r.Key} {r.Value}"))
            + $"; detector state of {abused.States.Keys.Count(k => !k.StartsWith("clock", StringComparison.Ordinal))} devices and {abused.States.Keys.Count(k => k.StartsWith("clock", StringComparison.Ordinal))} stream clocks equal to the clean run's (byte for byte)");
    }

    private const int Guesses = 12;

    private static readonly string[] ForeignTopics =
    [
        Feed.Topic("m-0002"), // another device's telemetry
        Feed.Topic("m-0002", channel: "status"),
        Feed.Topic("m-0001", channel: "command"), // its own command topic: cloud -> device only
        Feed.Topic("p-0001", "pile", "command"), // another's commands
        "smartpower/v1/other-site/meter/m-0001/telemetry",
        "smartpower/v1/xihu-wutong/pile/m-0001/telemetry", // wrong kind
        "smartpower/v1/xihu-wutong/meter/m-0001/telemetry/extra",
        "smartpower/v1/xihu-wutong/meter/m-0001/../m-0002/telemetry",
        "smartpower/v1/xihu-wutong/meter/m-0001%2F..%2Fm-0002/telemetry",
        "smartpower/v2/xihu-wutong/meter/m-0001/telemetry",
        "smartpower/v1/xihu-wutong/meter/m-0001/telemetry/",
        "/smartpower/v1/xihu-wutong/meter/m-0001/telemetry",
        "$SYS/broker/uptime",
        "smartpower/v1/xihu-wutong/meter/m-0001\u0000/telemetry",
        "smartpower/v1/xihu-wutong/meter/" + new string('m', 300) + "/telemetry",
        "smartpower/v1/xihu-wutong/meter/m-\u00e9\u00e9/telemetry",
    ];

    private static readonly string[] ForeignFilters =
    [
        Feed.Topic("m-0002", channel: "command"),
        Feed.Topic("m-0001"), // its own telemetry: nobody reads telemetry from the broker
        "#",
        "smartpower/#",
        "smartpower/v1/+/+/+/telemetry",
        "$SYS/#",
        "smartpower/v1/xihu-wutong/+/+/command",
    ];

    /// <summary>Payloads with one defect each, on m-0001's telemetry in the middle of its leakage incident (seq and time of its next reading).</summary>
    private static readonly (string Name, byte[] Payload, RejectReason Reason)[] Crafted =
    [
        .. Craft().Select(c => (c.Name, Encoding.UTF8.GetBytes(c.Payload), c.Reason)),
        ("invalid UTF-8 in a value", [.. "{\"ts\":\""u8, 0xC3, 0x28, .. "\"}"u8], RejectReason.InvalidValue),
    ];

    private static (string Name, string Payload, RejectReason Reason)[] Craft()
    {
        var ts = $"\"{Feed.Ts(300)}\"";
        string M(string fields) => "{" + fields + "}";
        var ok = $"\"ts\":{ts},\"seq\":1030,\"voltageV\":230,\"currentA\":6,\"powerW\":1380,\"leakageMa\":350";
        string With(string field, string value) => M(ok.Replace(Field(field), $"\"{field}\":{value}", StringComparison.Ordinal));
        string Field(string field) => ok.Split(',').Single(f => f.StartsWith($"\"{field}\":", StringComparison.Ordinal));
        string Without(string field) => M(string.Join(',', ok.Split(',').Where(f => !f.StartsWith($"\"{field}\":", StringComparison.Ordinal))));
        return
        [
            ("bare NaN", With("voltageV", "NaN"), RejectReason.MalformedJson),
            ("bare Infinity", With("currentA", "Infinity"), RejectReason.MalformedJson),
            ("bare -Infinity", With("powerW", "-Infinity"), RejectReason.MalformedJson),
            ("NaN as text", With("voltageV", "\"NaN\""), RejectReason.InvalidValue),
            ("number overflowing to infinity", With("currentA", "1e400"), RejectReason.InvalidValue),
            ("huge current", With("currentA", "1e300"), RejectReason.ImpossibleValue),
            ("huge leakage", With("leakageMa", "1e15"), RejectReason.ImpossibleValue),
            ("voltage 600 V", With("voltageV", "600"), RejectReason.ImpossibleValue),
            ("negative power", With("powerW", "-5"), RejectReason.ImpossibleValue),
            ("huge seq", With("seq", "1e30"), RejectReason.InvalidValue),
            ("seq beyond long", With("seq", "99999999999999999999999"), RejectReason.InvalidValue),
            ("negative seq", With("seq", "-1"), RejectReason.InvalidValue),
            ("fractional seq", With("seq", "1030.5"), RejectReason.InvalidValue),
            ("seq as text", With("seq", "\"1030\""), RejectReason.InvalidValue),
            ("ts as number", With("ts", "1795796185"), RejectReason.InvalidValue),
            ("voltage as object", With("voltageV", "{\"v\":230}"), RejectReason.InvalidValue),
            ("current as array", With("currentA", "[6]"), RejectReason.InvalidValue),
            ("power as bool", With("powerW", "true"), RejectReason.InvalidValue),
            ("field given twice", M(ok + ",\"seq\":1031"), RejectReason.InvalidValue),
            ("missing powerW", Without("powerW"), RejectReason.MissingField),
            ("null currentA", With("currentA", "null"), RejectReason.MissingField),
            ("future ts, year 2101", With("ts", "\"2101-01-01T00:00:00.000Z\""), RejectReason.TimestampOutOfRange),
            ("future ts, a day ahead", With("ts", $"\"{Feed.Ts(300 + 86_400)}\""), RejectReason.TimestampOutOfRange),
            ("ancient ts, 1970", With("ts", "\"1970-01-01T00:00:00.000Z\""), RejectReason.TimestampOutOfRange),
            ("ancient ts, 2019", With("ts", "\"2019-12-31T23:59:59.999Z\""), RejectReason.TimestampOutOfRange),
            ("ts seven hours behind", With("ts", $"\"{Feed.Ts(300 - (7 * 3600))}\""), RejectReason.TimestampOutOfRange),
            ("another device's id inside", M(ok + ",\"deviceId\":\"m-0002\""), RejectReason.IdentityMismatch),
            ("nesting of 17", M(ok + ",\"x\":" + new string('[', 16) + new string(']', 16)), RejectReason.MalformedJson),
            ("nesting of 4,000 (just under 8 KiB)", new string('[', 4000) + new string(']', 4000), RejectReason.MalformedJson),
            ("two objects", M(ok) + M(ok), RejectReason.MalformedJson),
            ("not an object", "[1,2,3]", RejectReason.MalformedJson),
            ("truncated", M(ok)[..40], RejectReason.MalformedJson),
            ("empty", "", RejectReason.MalformedJson),
        ];
    }

    private async Task<RunResult> RunAsync(bool abuse, RecordingLoggers? loggers = null)
    {
        await using var harness = await PipelineHarness.StartAsync(configure: o =>
        {
            o.Ingress.RatePerSecond = 10_000; // the fuzz corpus comes from one device at once; flooding is SecurityTests'
            o.Ingress.RateBurst = 10_000;
            o.Partitions = 1; // the story's four devices on one clock: three make it a judge of timestamps (StreamClock.Quorum)
        }, loggers: loggers);
        var devices = new Dictionary<string, TestDevice>();
        foreach (var id in Story.Devices)
        {
            devices[id] = await harness.ConnectAsync(id);
        }

        var messages = Story.Messages();
        var half = messages.Count / 2;
        await PlayInOrderAsync(messages.Take(half), devices);
        if (abuse)
        {
            await AbuseAsync(harness, devices["m-0001"]);
        }

        await PlayInOrderAsync(messages.Skip(half), devices);
        if (abuse)
        {
            await GuessPasswordsAsync(harness);
        }

        await harness.WaitCaughtUpAsync();
        foreach (var device in devices.Values)
        {
            await device.DisposeAsync();
        }

        var metrics = harness.Pipeline.Metrics;
        var alerts = (await harness.Pipeline.Store.GetAlertsAsync()).ToDictionary(s => s.Alert.AlertId, s => AlertJson.ToJson(s.Alert));
        await harness.Pipeline.StopAsync(); // drains and checkpoints every partition's engine
        var states = new SortedDictionary<string, string>(StringComparer.Ordinal);
        for (var p = 0; p < harness.Pipeline.Consumers.Count; p++)
        {
            var checkpoint = await harness.Pipeline.Store.LoadCheckpointAsync(p, CancellationToken.None);
            var engine = DetectionEngine.Restore(harness.Pipeline.Registry, checkpoint!.EngineState.Span);
            var clock = new ArrayBufferWriter<byte>();
            engine.SaveStreamClock(clock);
            states[$"clock of partition {p}"] = Convert.ToBase64String(clock.WrittenSpan);
            foreach (var id in Story.Devices)
            {
                var state = new ArrayBufferWriter<byte>();
                if (engine.TrySaveDevice(id, state))
                {
                    states[id] = Convert.ToBase64String(state.WrittenSpan);
                }
            }
        }

        Assert.Equal(Story.Devices.Length + harness.Pipeline.Consumers.Count, states.Count);
        return new RunResult(alerts, states, metrics.Accepted, metrics.Rejected, metrics.RejectedByReason(), harness.Pipeline.Ingress.RefusedByReason());
    }

    /// <summary>One message at a time, so that both runs put the same records in the same order on each partition.</summary>
    private static async Task PlayInOrderAsync(IEnumerable<(string DeviceId, string Topic, string Payload)> messages, Dictionary<string, TestDevice> devices)
    {
        foreach (var (id, topic, payload) in messages)
        {
            await devices[id].PublishReliablyAsync(topic, payload, CancellationToken.None);
        }
    }

    private async Task AbuseAsync(PipelineHarness harness, TestDevice attacker)
    {
        var topic = Feed.Topic("m-0001");
        foreach (var (name, payload, reason) in Crafted)
        {
            var before = harness.Pipeline.Metrics.RejectedFor(reason);
            Assert.Equal(MqttClientPublishReasonCode.Success, (await attacker.PublishBytesAsync(topic, payload)).ReasonCode); // durable in the log
            await harness.WaitCaughtUpAsync();
            Assert.True(before + 1 == harness.Pipeline.Metrics.RejectedFor(reason), $"{name}: not rejected as {reason}; rejected so far: "
                + string.Join(", ", harness.Pipeline.Metrics.RejectedByReason().Select(r => $"{r.Key} {r.Value}")));
        }

        var random = new Random(7);
        for (var i = 0; i < RandomPayloads; i++)
        {
            var bytes = new byte[random.Next(1, 600)];
            random.NextBytes(bytes);
            if (i % 3 == 0)
            {
                bytes[0] = (byte)'{'; // half-way plausible: an object that goes wrong
            }

            await attacker.PublishBytesAsync(topic, bytes);
        }

        var oversize = await attacker.PublishAsync(topic, "{\"pad\":\"" + new string('x', ReadingLimits.Default.MaxPayloadBytes + 1 - 10) + "\"}");
        Assert.Equal(MqttClientPublishReasonCode.PayloadFormatInvalid, oversize.ReasonCode);

        foreach (var foreign in ForeignTopics)
        {
            var result = await attacker.PublishAsync(foreign, Feed.MeterPayload(300, 5000, 60, leakageMa: 900, arc: true));
            Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, result.ReasonCode);
        }

        foreach (var filter in ForeignFilters)
        {
            var result = await attacker.SubscribeAsync(filter);
            Assert.Equal(MqttClientSubscribeResultCode.NotAuthorized, result.Items.Single().ResultCode);
        }

        // A shared subscription is refused by the broker library itself, before the ingress is asked (so not counted there).
        var shared = await attacker.SubscribeAsync("$share/g/smartpower/v1/+/+/+/telemetry");
        Assert.Equal(MqttClientSubscribeResultCode.SharedSubscriptionsNotSupported, shared.Items.Single().ResultCode);

        await harness.WaitCaughtUpAsync();
    }

    /// <summary>Guesses m-0002's password (its own connection stays up), then tries two device ids that do not exist.</summary>
    private static async Task GuessPasswordsAsync(PipelineHarness harness)
    {
        for (var i = 0; i < Guesses; i++)
        {
            await using var guess = new TestDevice("m-0002", $"guess-{i}", harness.MqttPort);
            var code = (await guess.ConnectAsync()).ResultCode;
            Assert.Equal(i < 5 ? MqttClientConnectResultCode.BadUserNameOrPassword : MqttClientConnectResultCode.ConnectionRateExceeded, code);
        }

        await using (var right = new TestDevice("m-0002", harness.Tokens["m-0002"], harness.MqttPort))
        {
            Assert.Equal(MqttClientConnectResultCode.ConnectionRateExceeded, (await right.ConnectAsync()).ResultCode); // locked out for a minute
        }

        foreach (var unknown in new[] { "m-9999", "admin" })
        {
            await using var nobody = new TestDevice(unknown, "password", harness.MqttPort);
            Assert.Equal(MqttClientConnectResultCode.BadUserNameOrPassword, (await nobody.ConnectAsync()).ResultCode);
        }
    }

    private sealed record RunResult(
        IReadOnlyDictionary<string, string> Alerts,
        IReadOnlyDictionary<string, string> States,
        long Accepted,
        long Rejected,
        IReadOnlyDictionary<string, long> RejectedByReason,
        IReadOnlyDictionary<string, long> Refused);
}
