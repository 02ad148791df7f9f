using System.Text;
using SmartPower.Contract;
using SmartPower.Detection;

namespace SmartPower.Tests;

/// <summary>A corpus of bad messages, each refused with its reason, none changing detector state.</summary>
public sealed class MalformedMessageTests
{
    private const string Good = """{"ts":"2026-11-26T12:00:00.000Z","seq":500,"voltageV":229.8,"currentA":12.31,"powerW":2790.5}""";
    private const string Meter = "smartpower/v1/xihu-wutong/meter/m-0001/telemetry";
    private const string Pile = "smartpower/v1/xihu-wutong/pile/p-0001/telemetry";

    public static TheoryData<string, string, string, RejectReason> Corpus() => new()
    {
        { "not JSON", Meter, "hello", RejectReason.MalformedJson },
        { "truncated", Meter, Good[..40], RejectReason.MalformedJson },
        { "array, not object", Meter, "[1,2,3]", RejectReason.MalformedJson },
        { "two objects", Meter, Good + Good, RejectReason.MalformedJson },
        { "bare NaN", Meter, Good.Replace("12.31", "NaN", StringComparison.Ordinal), RejectReason.MalformedJson },
        { "deep nesting", Meter, Good.Replace("}", ",\"x\":" + new string('[', 200) + new string(']', 200) + "}", StringComparison.Ordinal), RejectReason.MalformedJson },
        { "empty payload", Meter, "", RejectReason.MalformedJson },
        { "oversize", Meter, Good.Replace("}", ",\"pad\":\"" + new string('x', 8200) + "\"}", StringComparison.Ordinal), RejectReason.Oversize },
        { "wrong prefix", "smartpower/v2/xihu-wutong/meter/m-0001/telemetry", Good, RejectReason.BadTopic },
        { "extra segment", "smartpower/v1/xihu-wutong/meter/m-0001/x/telemetry", Good, RejectReason.BadTopic },
        { "dot-dot path trick", "smartpower/v1/xihu-wutong/meter/../m-0001/telemetry", Good, RejectReason.BadTopic },
        { "dot-dot as id", "smartpower/v1/xihu-wutong/meter/../telemetry", Good, RejectReason.BadTopic },
        { "wildcard plus", "smartpower/v1/+/meter/m-0001/telemetry", Good, RejectReason.BadTopic },
        { "wildcard hash", "smartpower/v1/xihu-wutong/meter/#", Good, RejectReason.BadTopic },
        { "trailing slash", Meter + "/", Good, RejectReason.BadTopic },
        { "empty segment", "smartpower/v1//meter/m-0001/telemetry", Good, RejectReason.BadTopic },
        { "leading slash", "/" + Meter, Good, RejectReason.BadTopic },
        { "encoded slash", "smartpower/v1/xihu-wutong/meter/m%2F0001/telemetry", Good, RejectReason.BadTopic },
        { "unknown kind", "smartpower/v1/xihu-wutong/inverter/m-0001/telemetry", Good, RejectReason.BadTopic },
        { "unknown channel", "smartpower/v1/xihu-wutong/meter/m-0001/debug", Good, RejectReason.BadTopic },
        { "id too long", $"smartpower/v1/xihu-wutong/meter/{new string('a', 65)}/telemetry", Good, RejectReason.BadTopic },
        { "command published by device", "smartpower/v1/xihu-wutong/meter/m-0001/command", Good, RejectReason.WrongDirection },
        { "unknown device", "smartpower/v1/xihu-wutong/meter/m-9999/telemetry", Good, RejectReason.UnknownDevice },
        { "other site", "smartpower/v1/other-site/meter/m-0001/telemetry", Good, RejectReason.SiteMismatch },
        { "kind mismatch", "smartpower/v1/xihu-wutong/pile/m-0001/telemetry", Good, RejectReason.KindMismatch },
        { "payload deviceId differs", Meter, Good.Replace("{", "{\"deviceId\":\"m-0002\",", StringComparison.Ordinal), RejectReason.IdentityMismatch },
        { "payload siteId differs", Meter, Good.Replace("{", "{\"siteId\":\"elsewhere\",", StringComparison.Ordinal), RejectReason.IdentityMismatch },
        { "missing ts", Meter, """{"seq":500,"voltageV":229.8,"currentA":12.31,"powerW":2790.5}""", RejectReason.MissingField },
        { "missing seq", Meter, """{"ts":"2026-11-26T12:00:00.000Z","voltageV":229.8,"currentA":12.31,"powerW":2790.5}""", RejectReason.MissingField },
        { "missing currentA", Meter, """{"ts":"2026-11-26T12:00:00.000Z","seq":500,"voltageV":229.8,"powerW":2790.5}""", RejectReason.MissingField },
        { "null powerW", Meter, Good.Replace("2790.5", "null", StringComparison.Ordinal), RejectReason.MissingField },
        { "pile without ports", Pile, """{"ts":"2026-11-26T12:00:00.000Z","seq":5,"voltageV":230}""", RejectReason.MissingField },
        { "pile with empty ports", Pile, """{"ts":"2026-11-26T12:00:00.000Z","seq":5,"voltageV":230,"ports":[]}""", RejectReason.MissingField },
        { "port without powerW", Pile, """{"ts":"2026-11-26T12:00:00.000Z","seq":5,"voltageV":230,"ports":[{"port":1,"state":"idle"}]}""", RejectReason.MissingField },
        { "string number", Meter, Good.Replace("12.31", "\"12.31\"", StringComparison.Ordinal), RejectReason.InvalidValue },
        { "string NaN", Meter, Good.Replace("12.31", "\"NaN\"", StringComparison.Ordinal), RejectReason.InvalidValue },
        { "overflowing number", Meter, Good.Replace("12.31", "1e400", StringComparison.Ordinal), RejectReason.InvalidValue },
        { "huge seq", Meter, Good.Replace("500", "99999999999999999999999", StringComparison.Ordinal), RejectReason.InvalidValue },
        { "negative seq", Meter, Good.Replace("500", "-1", StringComparison.Ordinal), RejectReason.InvalidValue },
        { "ts not a date", Meter, Good.Replace("2026-11-26T12:00:00.000Z", "yesterday", StringComparison.Ordinal), RejectReason.InvalidValue },
        { "ts a number", Meter, Good.Replace("\"2026-11-26T12:00:00.000Z\"", "1764158400", StringComparison.Ordinal), RejectReason.InvalidValue },
        { "arcFault a string", Meter, Good.Replace("}", ",\"arcFault\":\"yes\"}", StringComparison.Ordinal), RejectReason.InvalidValue },
        { "field given twice", Meter, Good.Replace("}", ",\"currentA\":1}", StringComparison.Ordinal), RejectReason.InvalidValue },
        { "unknown port state", Pile, """{"ts":"2026-11-26T12:00:00.000Z","seq":5,"voltageV":230,"ports":[{"port":1,"state":"boost","powerW":10}]}""", RejectReason.InvalidValue },
        { "duplicate port", Pile, """{"ts":"2026-11-26T12:00:00.000Z","seq":5,"voltageV":230,"ports":[{"port":1,"state":"idle","powerW":0},{"port":1,"state":"idle","powerW":0}]}""", RejectReason.InvalidValue },
        { "port beyond portCount", Pile, """{"ts":"2026-11-26T12:00:00.000Z","seq":5,"voltageV":230,"ports":[{"port":5,"state":"idle","powerW":0}]}""", RejectReason.ImpossibleValue },
        { "negative port power", Pile, """{"ts":"2026-11-26T12:00:00.000Z","seq":5,"voltageV":230,"ports":[{"port":1,"state":"charging","powerW":-5}]}""", RejectReason.ImpossibleValue },
        { "negative power", Meter, Good.Replace("2790.5", "-10", StringComparison.Ordinal), RejectReason.ImpossibleValue },
        { "negative current", Meter, Good.Replace("12.31", "-1", StringComparison.Ordinal), RejectReason.ImpossibleValue },
        { "current far beyond the breaker", Meter, Good.Replace("12.31", "5000", StringComparison.Ordinal), RejectReason.ImpossibleValue },
        { "absurd voltage", Meter, Good.Replace("229.8", "23000", StringComparison.Ordinal), RejectReason.ImpossibleValue },
        { "negative voltage", Meter, Good.Replace("229.8", "-230", StringComparison.Ordinal), RejectReason.ImpossibleValue },
        { "absurd temperature", Meter, Good.Replace("}", ",\"tempC\":1200}", StringComparison.Ordinal), RejectReason.ImpossibleValue },
        { "negative leakage", Meter, Good.Replace("}", ",\"leakageMa\":-3}", StringComparison.Ordinal), RejectReason.ImpossibleValue },
        { "power factor above one", Meter, Good.Replace("}", ",\"powerFactor\":1.7}", StringComparison.Ordinal), RejectReason.ImpossibleValue },
        { "ancient timestamp", Meter, Good.Replace("2026-11-26", "1970-01-01", StringComparison.Ordinal), RejectReason.TimestampOutOfRange },
        { "far future timestamp", Meter, Good.Replace("2026-11-26", "2226-11-26", StringComparison.Ordinal), RejectReason.TimestampOutOfRange },
        { "status without online", "smartpower/v1/xihu-wutong/meter/m-0001/status", """{"ts":"2026-11-26T12:00:00.000Z"}""", RejectReason.MissingField },
    };

    [Theory]
    [MemberData(nameof(Corpus))]
    public void Each_bad_message_is_refused_with_its_reason(string why, string topic, string payload, RejectReason expected)
    {
        var feed = new Feed();
        var result = feed.Send(topic, payload);
        Assert.True(result.Outcome == MessageOutcome.Rejected, $"{why}: expected refusal, got {result.Outcome}");
        Assert.Equal(expected, result.Failure.Reason);
    }

    [Theory]
    [MemberData(nameof(Corpus))]
    public void A_refused_message_never_changes_detector_state(string why, string topic, string payload, RejectReason expected)
    {
        _ = why;
        _ = expected;

        // The same story with and without a bad message in the middle of an overload must give identical alerts.
        static List<string> Story(string? badTopic, string? badPayload)
        {
            var feed = new Feed();
            for (var s = 0; s < 400; s += 10)
            {
                feed.Meter("m-0001", s, s is >= 100 and < 300 ? 47 : 8);
                feed.Meter("m-0002", s + 1, 3);
                if (s == 150 && badTopic is not null)
                {
                    feed.Send(badTopic, badPayload!);
                }
            }

            return [.. feed.Sink.Transitions.Select(t => $"{t.Kind} {SmartPower.Alerts.AlertJson.ToJson(t.Alert)}")];
        }

        Assert.Equal(Story(null, null), Story(topic, payload));
    }

    [Fact]
    public void Unknown_fields_are_ignored_and_a_valid_status_is_accepted()
    {
        var feed = new Feed();
        var reading = feed.Send(Meter, Good.Replace("}", ",\"firmware\":{\"nested\":[1,2,{\"x\":null}]},\"note\":\"hi\"}", StringComparison.Ordinal));
        Assert.Equal(MessageOutcome.Accepted, reading.Outcome);
        var status = feed.Send("smartpower/v1/xihu-wutong/meter/m-0001/status", """{"online":false,"ts":"2026-11-26T12:00:00.000Z","fw":"1.4.2"}""");
        Assert.Equal(MessageOutcome.Status, status.Outcome);
    }

    [Fact]
    public void Escaped_field_names_are_read_as_their_unescaped_selves()
    {
        var feed = new Feed();
        var escaped = Good.Replace("\"currentA\"", "\"\\u0063urrentA\"", StringComparison.Ordinal)
            .Replace("}", ",\"\\u0078" + string.Concat(Enumerable.Repeat("\\u0079", 40)) + "\":1}", StringComparison.Ordinal);
        Assert.Equal(MessageOutcome.Accepted, feed.Send(Meter, escaped).Outcome);
    }

    [Fact]
    public void A_payload_of_exactly_8_KiB_is_accepted_and_one_byte_more_is_not()
    {
        var feed = new Feed();
        var padding = 8192 - Good.Length - ",\"pad\":\"\"".Length;
        var exact = Good.Replace("}", ",\"pad\":\"" + new string('x', padding) + "\"}", StringComparison.Ordinal);
        Assert.Equal(8192, Encoding.UTF8.GetByteCount(exact));
        Assert.Equal(MessageOutcome.Accepted, feed.Send(Meter, exact).Outcome);
        var over = exact.Replace("\"pad\":\"", "\"pad\":\"x", StringComparison.Ordinal).Replace("500", "501", StringComparison.Ordinal);
        Assert.Equal(RejectReason.Oversize, feed.Send(Meter, over).Failure.Reason);
    }

    [Fact]
    public void Numbers_read_as_the_same_doubles_as_the_json_reader_gives()
    {
        // The parser's short-decimal path against Utf8JsonReader.TryGetDouble: signs, zeros, every point position up to
        // 15 digits, and what goes to the reader (exponents, 16 and more digits).
        var random = new Random(7);
        var numbers = new List<string> { "0", "-0", "0.0", "-0.0", "1", "0.1", "0.3", "230.8", "28015.107", "999999999999999", "0.000000000000001", "1e3", "1.5E-2", "-2e+2", "1234567890123456", "0.1234567890123456789", "12345678901234567890", "0.05", "-0.007", "100.00", "0.00000000000001" };
        for (var i = 0; i < 20_000; i++)
        {
            var digits = string.Concat(Enumerable.Range(0, random.Next(1, 18)).Select(_ => (char)('0' + random.Next(10)))).TrimStart('0');
            digits = digits.Length == 0 ? "0" : digits;
            var point = random.Next(digits.Length);
            var text = random.Next(3) == 0 ? $"0.{new string('0', random.Next(4))}{digits}" : point == 0 ? digits : $"{digits[..point]}.{digits[point..]}";
            numbers.Add(random.Next(4) == 0 ? "-" + text : text);
        }

        foreach (var number in numbers)
        {
            var reader = new System.Text.Json.Utf8JsonReader(Encoding.UTF8.GetBytes(number));
            Assert.True(reader.Read());
            Assert.True(reader.TryGetDouble(out var expected));
            Assert.True(ReadingParser.TryGetDouble(ref reader, out var actual));
            Assert.True(BitConverter.DoubleToInt64Bits(expected) == BitConverter.DoubleToInt64Bits(actual), $"{number}: {actual:R}, the reader {expected:R}");
        }
    }

    [Fact]
    public void Duplicates_and_older_seq_are_dropped_and_a_restarted_counter_is_not()
    {
        var feed = new Feed();
        Assert.Equal(MessageOutcome.Accepted, feed.Send(Meter, Feed.MeterPayload(0, 5000, 5)).Outcome);
        Assert.Equal(MessageOutcome.Duplicate, feed.Send(Meter, Feed.MeterPayload(0, 5000, 5)).Outcome);
        Assert.Equal(MessageOutcome.Accepted, feed.Send(Meter, Feed.MeterPayload(10, 5001, 5)).Outcome);
        Assert.Equal(MessageOutcome.Duplicate, feed.Send(Meter, Feed.MeterPayload(5, 4999, 5)).Outcome);
        Assert.Equal(MessageOutcome.Duplicate, feed.Send(Meter, Feed.MeterPayload(20, 5001, 5)).Outcome);
        Assert.Equal(RejectReason.TimestampOutOfRange, feed.Send(Meter, Feed.MeterPayload(5, 5002, 5)).Failure.Reason);

        // A device that rebooted starts counting again, with a newer timestamp: its readings still count.
        Assert.Equal(MessageOutcome.Accepted, feed.Send(Meter, Feed.MeterPayload(120, 1, 5)).Outcome);
        Assert.Equal(MessageOutcome.Accepted, feed.Send(Meter, Feed.MeterPayload(130, 2, 5)).Outcome);
        Assert.Equal(MessageOutcome.Duplicate, feed.Send(Meter, Feed.MeterPayload(130, 2, 5)).Outcome);
    }
}
