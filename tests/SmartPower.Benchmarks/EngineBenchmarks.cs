using System.Text;
using BenchmarkDotNet.Attributes;
using SmartPower.Contract;
using SmartPower.Detection;
using SmartPower.DeviceSim.Simulation;
using SmartPower.DeviceSim.Truth;
using SmartPower.Registry;
using SmartPower.Replay;

namespace SmartPower.Benchmarks;

/// <summary>
/// Parse and detect on the lines of a labelled compound night. Each benchmark reports the cost of one
/// reading (OperationsPerInvoke), with allocated bytes per reading from the memory diagnoser. The
/// <c>PlainJsonParse</c> baseline is System.Text.Json walking the same lines without validating or detecting.
/// </summary>
[MemoryDiagnoser]
public class EngineBenchmarks
{
    private const int Lines = 20_000;
    private byte[][] _lines = [];
    private byte[][] _topics = [];
    private byte[][] _payloads = [];
    private DeviceRegistry _registry = null!;
    private Device[] _devices = [];

    [GlobalSetup]
    public void Setup()
    {
        var night = CompoundNight.Generate(new Scenario { Duration = TimeSpan.FromHours(1) });
        _registry = RegistryLoader.Parse(night.RegistryJson);
        var lines = night.Lines.Take(Lines).ToArray();
        _lines = [.. lines.Select(Encoding.UTF8.GetBytes)];
        _topics = new byte[_lines.Length][];
        _payloads = new byte[_lines.Length][];
        _devices = new Device[_lines.Length];
        for (var i = 0; i < _lines.Length; i++)
        {
            using var doc = System.Text.Json.JsonDocument.Parse(_lines[i]);
            var topic = doc.RootElement.GetProperty("topic").GetString()!;
            _topics[i] = Encoding.UTF8.GetBytes(topic);
            _payloads[i] = Encoding.UTF8.GetBytes(doc.RootElement.GetProperty("payload").GetRawText());
            _registry.TryGetDevice(topic.Split('/')[4], out _devices[i]);
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Lines)]
    public long PlainJsonParse()
    {
        long tokens = 0;
        foreach (var line in _lines)
        {
            var reader = new System.Text.Json.Utf8JsonReader(line);
            while (reader.Read())
            {
                tokens++;
            }
        }

        return tokens;
    }

    [Benchmark(OperationsPerInvoke = Lines)]
    public long ParseReading()
    {
        long seq = 0;
        for (var i = 0; i < _payloads.Length; i++)
        {
            if (!ReadingParser.TryParseReading(_payloads[i], _devices[i], ReadingLimits.Default, out var reading).IsFailure)
            {
                seq += reading.Seq;
            }
        }

        return seq;
    }

    [Benchmark(OperationsPerInvoke = Lines)]
    public int ParseAndDetect()
    {
        var engine = new DetectionEngine(_registry);
        var sink = new CollectingSink();
        for (var i = 0; i < _topics.Length; i++)
        {
            engine.Process(_topics[i], _payloads[i], sink);
        }

        return sink.Transitions.Count;
    }

    [Benchmark(OperationsPerInvoke = Lines)]
    public int ReplayLines()
    {
        var engine = new DetectionEngine(_registry);
        var sink = new CollectingSink();
        foreach (var line in _lines)
        {
            ReplayRunner.ProcessLine(engine, line, sink);
        }

        return sink.Transitions.Count;
    }
}
