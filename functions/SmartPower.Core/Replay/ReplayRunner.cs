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

    /// <summary>Partitions a replay uses unless told otherwise: fixed, so that output never depends on the machine.</summary>
    public const int DefaultPartitions = 2;

    private const int BatchLines = 2048;

    /// <summary>
    /// Replays <paramref name="input"/> and writes each alert once, in its final state, to <paramref name="output"/>.
    /// Devices are spread over <paramref name="partitions"/> engines by a stable hash of their id, as Event Hubs
    /// partitions by device: each device's readings stay in order on one engine, and each engine runs on its own
    /// thread. The same input and partition count always give the same output.
    /// </summary>
    public static ReplayReport Run(
        DeviceRegistry registry,
        Stream input,
        Stream output,
        IProgress<ReplayReport>? progress = null,
        ReadingLimits? limits = null,
        int partitions = DefaultPartitions)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(partitions, 1);
        var clock = Stopwatch.StartNew();
        var workers = new Partition[partitions];
        for (var p = 0; p < partitions; p++)
        {
            workers[p] = new Partition(new DetectionEngine(registry, limits));
        }

        var lines = 0L;
        var oversize = 0L;
        var nextProgress = 1000L;
        foreach (var line in new LineReader(input, MaxLineBytes))
        {
            lines++;
            if (line.IsEmpty)
            {
                oversize++;
                continue;
            }

            workers[PartitionOf(line.Span, partitions)].Add(line.Span);
            if (progress is not null && clock.ElapsedMilliseconds >= nextProgress)
            {
                nextProgress = clock.ElapsedMilliseconds + 1000;
                progress.Report(Merge(workers, lines, oversize, clock.Elapsed));
            }
        }

        foreach (var worker in workers)
        {
            worker.Complete();
        }

        var report = Merge(workers, lines, oversize, clock.Elapsed);
        var alerts = workers.SelectMany(w => w.Book.Alerts).OrderBy(a => a.OpenedAt).ThenBy(a => a.AlertId, StringComparer.Ordinal);
        using (var writer = new Utf8JsonWriter(output))
        {
            foreach (var alert in alerts)
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

    /// <summary>The partition of a line's device (see <see cref="Pipeline.DevicePartitioner"/>); lines without a readable topic go to 0.</summary>
    internal static int PartitionOf(ReadOnlySpan<byte> line, int partitions)
    {
        if (partitions == 1)
        {
            return 0;
        }

        Span<byte> scratch = stackalloc byte[256];
        scoped ReadOnlySpan<byte> topic;
        if ((!TrySplitFast(line, out topic, out _) && SplitGeneral(line, scratch, out topic, out _) != RejectReason.None)
            || !Topic.TryParse(topic, out var parsed))
        {
            return 0;
        }

        return Pipeline.DevicePartitioner.Of(parsed.DeviceId, partitions);
    }

    private static ReplayReport Merge(Partition[] workers, long lines, long oversize, TimeSpan elapsed)
    {
        var report = new ReplayReport { Lines = lines, Elapsed = elapsed };
        report.Add(RejectReason.Oversize, oversize);
        foreach (var worker in workers)
        {
            report.Absorb(worker.Counts);
            report.Commands += worker.Book.Commands.Count;
        }

        return report;
    }

    /// <summary>Splits one replay line into its topic and raw payload and hands them to the engine.</summary>
    public static ProcessResult ProcessLine(DetectionEngine engine, ReadOnlySpan<byte> line, IDetectionSink sink)
    {
        if (TrySplitFast(line, out var topic, out var payload))
        {
            var result = engine.Process(topic, payload, sink);
            if (result.Outcome != MessageOutcome.Rejected)
            {
                return result;
            }

            // A refusal changes nothing, so the line can safely be read again below, as JSON: the slice is only sure to
            // be the payload when the engine read it as one complete object, and the general reader says what is wrong
            // with a line in any other form (a payload followed by more fields, say), as it always has.
        }

        return ProcessGeneralLine(engine, line, sink);
    }

    /// <summary>
    /// The form replay files are written in, <c>{"topic":"...","payload":{...}}</c>, sliced without a JSON pass of its
    /// own (the engine's parser checks that the payload is one complete object). Every compact line must take this
    /// path: the general reader is a second JSON pass over the whole payload.
    /// </summary>
    internal static bool TrySplitFast(ReadOnlySpan<byte> line, out ReadOnlySpan<byte> topic, out ReadOnlySpan<byte> payload)
    {
        topic = payload = default;
        if (!line.StartsWith("{\"topic\":\""u8) || line[^1] != '}')
        {
            return false;
        }

        var rest = line["{\"topic\":\""u8.Length..];
        var quote = rest.IndexOfAny((byte)'"', (byte)'\\');
        if (quote < 0 || !rest[quote..].StartsWith("\",\"payload\":"u8))
        {
            return false;
        }

        topic = rest[..quote];
        payload = rest[(quote + "\",\"payload\":"u8.Length)..^1];
        return true;
    }

    private static ProcessResult ProcessGeneralLine(DetectionEngine engine, ReadOnlySpan<byte> line, IDetectionSink sink)
    {
        Span<byte> scratch = stackalloc byte[256];
        var failure = SplitGeneral(line, scratch, out var topic, out var payload);
        return failure == RejectReason.None ? engine.Process(topic, payload, sink) : ProcessResult.Reject(failure);
    }

    /// <summary>
    /// Reads a line's envelope as JSON, in any field order and with escapes: its topic (unescaped into
    /// <paramref name="scratch"/> if need be) and its raw payload.
    /// </summary>
    private static RejectReason SplitGeneral(ReadOnlySpan<byte> line, Span<byte> scratch, out ReadOnlySpan<byte> topic, out ReadOnlySpan<byte> payload)
    {
        topic = payload = default;
        bool hasTopic = false, hasPayload = false;
        try
        {
            var reader = new Utf8JsonReader(line, new JsonReaderOptions { MaxDepth = 16 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return RejectReason.MalformedJson;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("topic"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.String || hasTopic || (reader.ValueIsEscaped && reader.ValueSpan.Length > scratch.Length))
                    {
                        return RejectReason.BadTopic;
                    }

                    topic = reader.ValueIsEscaped ? scratch[..reader.CopyString(scratch)] : reader.ValueSpan;
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
            return RejectReason.MalformedJson;
        }

        return !hasTopic ? RejectReason.BadTopic : hasPayload ? RejectReason.None : RejectReason.MalformedJson;
    }

    /// <summary>
    /// One engine and the thread that feeds it batches of lines, in order, through a bounded queue. Batches go back to
    /// the reader once read, so that a replay reuses a few buffers rather than allocating one on the large object heap
    /// every 2,048 lines (100 MB for a 300,000-line night, and the full collections that go with it).
    /// </summary>
    private sealed class Partition
    {
        private readonly DetectionEngine _engine;
        private readonly System.Collections.Concurrent.BlockingCollection<Batch> _queue = new(boundedCapacity: 4);
        private readonly System.Collections.Concurrent.ConcurrentQueue<Batch> _free = new();
        private readonly Thread _thread;
        private Batch _filling = new();

        public Partition(DetectionEngine engine)
        {
            _engine = engine;
            _thread = new Thread(Work) { IsBackground = true, Name = "replay partition" };
            _thread.Start();
        }

        public AlertBook Book { get; } = new();

        /// <summary>What this partition's messages became; read by the reader thread for progress, racily, as counters that only grow.</summary>
        public ReplayReport Counts { get; } = new();

        public void Add(ReadOnlySpan<byte> line)
        {
            _filling.Add(line);
            if (_filling.Count >= BatchLines)
            {
                _queue.Add(_filling);
                _filling = _free.TryDequeue(out var batch) ? batch : new Batch();
            }
        }

        public void Complete()
        {
            _queue.Add(_filling);
            _queue.CompleteAdding();
            _thread.Join();
        }

        private void Work()
        {
            foreach (var batch in _queue.GetConsumingEnumerable())
            {
                for (var i = 0; i < batch.Count; i++)
                {
                    Counts.Count(ProcessLine(_engine, batch[i], Book));
                }

                batch.Clear();
                _free.Enqueue(batch);
            }
        }
    }

    /// <summary>Lines copied into one buffer, handed from the reader to a partition's thread.</summary>
    private sealed class Batch
    {
        private readonly List<int> _ends = new(BatchLines);
        private byte[] _bytes = new byte[BatchLines * 320];
        private int _length;

        public int Count => _ends.Count;

        public ReadOnlySpan<byte> this[int i] => _bytes.AsSpan(i == 0 ? 0 : _ends[i - 1], _ends[i] - (i == 0 ? 0 : _ends[i - 1]));

        public void Add(ReadOnlySpan<byte> line)
        {
            if (_length + line.Length > _bytes.Length)
            {
                Array.Resize(ref _bytes, Math.Max(_bytes.Length * 2, _length + line.Length));
            }

            line.CopyTo(_bytes.AsSpan(_length));
            _length += line.Length;
            _ends.Add(_length);
        }

        public void Clear()
        {
            _ends.Clear();
            _length = 0;
        }
    }
}
