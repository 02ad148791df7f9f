using System.Diagnostics;
using System.Text.Json;
using SmartPower.Alerts;
using SmartPower.Contract;
using SmartPower.Detection;
using SmartPower.Registry;

namespace SmartPower.Replay;

/// <summary>
/// Replays contract JSON Lines (<c>{"topic":"...","payload":{...}}</c>, one MQTT message a line, in arrival
/// order) through a <see cref="DetectionEngine"/> and writes each alert once, in its final state. Reads UTF-8
/// straight from the stream without building strings, so it runs at parse speed. Same input, same output.
/// </summary>
public static class ReplayRunner
{
    /// <summary>A line longer than this cannot hold an 8 KiB payload and its topic: it is refused whole.</summary>
    public const int MaxLineBytes = 64 * 1024;

    public static ReplayReport Run(
        DeviceRegistry registry,
        Stream input,
        Stream output,
        IProgress<ReplayReport>? progress = null,
        ReadingLimits? limits = null)
    {
        var engine = new DetectionEngine(registry, limits);
        var book = new AlertBook();
        var report = new ReplayReport();
        var clock = Stopwatch.StartNew();
        var nextProgress = 1000L;

        foreach (var line in new LineReader(input, MaxLineBytes))
        {
            report.Lines++;
            if (line.IsEmpty)
            {
                report.CountRejected(RejectReason.Oversize);
                continue;
            }

            var result = ProcessLine(engine, line.Span, book);
            switch (result.Outcome)
            {
                case MessageOutcome.Accepted:
                    report.Accepted++;
                    break;
                case MessageOutcome.Status:
                    report.StatusMessages++;
                    break;
                case MessageOutcome.Duplicate:
                    report.Duplicates++;
                    break;
                default:
                    report.CountRejected(result.Failure.Reason);
                    break;
            }

            if (progress is not null && clock.ElapsedMilliseconds >= nextProgress)
            {
                nextProgress = clock.ElapsedMilliseconds + 1000;
                report.Elapsed = clock.Elapsed;
                progress.Report(report);
            }
        }

        report.Elapsed = clock.Elapsed;
        report.Commands = book.Commands.Count;
        using (var writer = new Utf8JsonWriter(output))
        {
            foreach (var alert in book.Ordered())
            {
                report.CountAlert(alert.Type);
                AlertJson.Write(writer, alert);
                writer.Flush();
                output.WriteByte((byte)'\n');
                writer.Reset();
            }
        }

        output.Flush();
        return report;
    }

    /// <summary>Splits one replay line into its topic and raw payload and hands them to the engine.</summary>
    public static ProcessResult ProcessLine(DetectionEngine engine, ReadOnlySpan<byte> line, IDetectionSink sink)
    {
        scoped ReadOnlySpan<byte> topic = default;
        ReadOnlySpan<byte> payload = default;
        bool hasTopic = false, hasPayload = false;
        Span<byte> unescaped = stackalloc byte[256];
        try
        {
            var reader = new Utf8JsonReader(line, new JsonReaderOptions { MaxDepth = 16 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return ProcessResult.Reject(RejectReason.MalformedJson);
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("topic"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.String || hasTopic)
                    {
                        return ProcessResult.Reject(RejectReason.BadTopic);
                    }

                    if (reader.ValueIsEscaped)
                    {
                        if (reader.ValueSpan.Length > unescaped.Length)
                        {
                            return ProcessResult.Reject(RejectReason.BadTopic);
                        }

                        topic = unescaped[..reader.CopyString(unescaped)];
                    }
                    else
                    {
                        topic = reader.ValueSpan;
                    }

                    hasTopic = true;
                }
                else if (reader.ValueTextEquals("payload"u8))
                {
                    reader.Read();
                    var start = (int)reader.TokenStartIndex;
                    reader.Skip();
                    payload = line[start..(int)reader.BytesConsumed];
                    hasPayload = true;
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
        }
        catch (JsonException)
        {
            return ProcessResult.Reject(RejectReason.MalformedJson);
        }

        if (!hasTopic)
        {
            return ProcessResult.Reject(RejectReason.BadTopic);
        }

        return hasPayload ? engine.Process(topic, payload, sink) : ProcessResult.Reject(RejectReason.MalformedJson);
    }
}
