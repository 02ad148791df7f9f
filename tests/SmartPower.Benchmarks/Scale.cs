using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using SmartPower.Detection;
using SmartPower.Registry;

namespace SmartPower.Benchmarks;

/// <summary>
/// Issue 7's scale figures on a registry of <c>N</c> devices (sites of 240 dwelling meters and 10 four-port piles):
/// start-up (loading the registry file, restoring detector state from a checkpoint), detector memory per device (the
/// managed heap's growth once every device has been heard from, and where it goes, field by field), and steady
/// throughput of the engine over every device in turn.
/// </summary>
internal static class Scale
{
    private const int PerSite = 250;
    private const int PilesPerSite = 10;
    private const int Ports = 4;
    private static readonly DateTimeOffset Start = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    public static int Run(int deviceCount, int rounds)
    {
        var dir = Directory.CreateTempSubdirectory("smartpower-scale-").FullName;
        try
        {
            var path = Path.Combine(dir, "registry.json");
            var clock = Stopwatch.StartNew();
            WriteRegistry(path, deviceCount);
            Console.WriteLine($"registry: {deviceCount:N0} devices, {new FileInfo(path).Length / 1e6:N1} MB, written in {clock.Elapsed.TotalSeconds:N1} s");

            var heap0 = Heap();
            clock.Restart();
            var registry = RegistryLoader.Load(path);
            var loadSeconds = clock.Elapsed.TotalSeconds;
            var heapRegistry = Heap();
            Console.WriteLine($"start-up: registry loaded in {loadSeconds:N2} s; the registry holds {(heapRegistry - heap0) / (double)deviceCount:N0} B a device");

            var topics = registry.Devices.Select(d => Encoding.UTF8.GetBytes($"smartpower/v1/{d.SiteId}/{(d.Kind == Contract.DeviceKind.Meter ? "meter" : "pile")}/{d.DeviceId}/telemetry")).ToArray();
            var isMeter = registry.Devices.Select(d => d.Kind == Contract.DeviceKind.Meter).ToArray();
            var meters = isMeter.Count(m => m);
            var sink = new CollectingSink();
            var heapBefore = Heap();
            clock.Restart();
            var engine = new DetectionEngine(registry);
            var heapEngine = Heap();
            var accepted = Feed(engine, topics, isMeter, round: 0, sink, onlyMeters: true);
            var heapMeters = Heap();
            accepted += Feed(engine, topics, isMeter, round: 0, sink, onlyMeters: false, onlyPiles: true);
            var heapAll = Heap();
            var firstSeconds = clock.Elapsed.TotalSeconds;
            if (accepted != deviceCount)
            {
                Console.Error.WriteLine($"only {accepted:N0} of {deviceCount:N0} first readings were accepted");
                return 1;
            }

            Console.WriteLine($"an empty engine: {(heapEngine - heapBefore) / (double)deviceCount:N1} B a device (its slot in the state array)");
            Console.WriteLine($"detector memory, every meter heard from once (quiet, one load): {(heapMeters - heapEngine) / (double)meters:N0} B a meter (managed heap growth / meters)");
            Console.WriteLine($"detector memory, piles ({Ports} ports): {(heapAll - heapMeters) / (double)(deviceCount - meters):N0} B a pile");
            Console.WriteLine($"detector memory, whole engine: {(heapAll - heapBefore) / (double)deviceCount:N0} B a device, {(heapAll - heapBefore) / 1e6:N0} MB (target: under 256 B a meter)");
            Breakdown(engine);

            // Steady throughput: every device in turn, one reading each per round (10 s of event time apart).
            var seconds = new List<double>();
            for (var round = 1; round <= rounds; round++)
            {
                clock.Restart();
                accepted = Feed(engine, topics, isMeter, round, sink, onlyMeters: false);
                seconds.Add(clock.Elapsed.TotalSeconds);
                if (accepted != deviceCount)
                {
                    Console.Error.WriteLine($"round {round}: only {accepted:N0} of {deviceCount:N0} readings were accepted");
                    return 1;
                }
            }

            seconds.Sort();
            var median = seconds[seconds.Count / 2];
            Console.WriteLine($"steady throughput: {deviceCount / median:N0} readings/s through parse + validate + detect, one engine, one thread " +
                $"(median of {rounds} rounds of {deviceCount:N0}; first round with allocation {firstSeconds:N2} s)");
            var heapSteady = Heap();
            Console.WriteLine($"detector memory after {rounds + 1} readings a device: {(heapSteady - heapBefore) / (double)deviceCount:N0} B a device");

            var state = new ArrayBufferWriter<byte>(1 << 20);
            clock.Restart();
            engine.SaveState(state);
            var saveSeconds = clock.Elapsed.TotalSeconds;
            clock.Restart();
            var restored = DetectionEngine.Restore(registry, state.WrittenSpan);
            var restoreSeconds = clock.Elapsed.TotalSeconds;
            GC.KeepAlive(restored);
            Console.WriteLine($"checkpoint: {state.WrittenCount / 1e6:N1} MB ({state.WrittenCount / (double)deviceCount:N0} B a device), saved in {saveSeconds:N2} s, restored in {restoreSeconds:N2} s");
            Console.WriteLine($"start-up from a checkpoint (registry + restore): {loadSeconds + restoreSeconds:N2} s");
            GC.KeepAlive(engine);
            return 0;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static long Heap()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    private static int Feed(DetectionEngine engine, byte[][] topics, bool[] isMeter, int round, CollectingSink sink, bool onlyMeters, bool onlyPiles = false)
    {
        var ts = Start.AddSeconds(round * 10).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
        var meter = Encoding.UTF8.GetBytes(
            $"{{\"ts\":\"{ts}\",\"seq\":{round + 1},\"voltageV\":230.1,\"currentA\":0.52,\"powerW\":110.0,\"powerFactor\":0.92,\"energyKWh\":1234.5,\"leakageMa\":3.0,\"tempC\":25.0,\"arcFault\":false}}");
        var ports = string.Join(",", Enumerable.Range(1, Ports).Select(p => $"{{\"port\":{p},\"state\":\"idle\",\"powerW\":0.0}}"));
        var pile = Encoding.UTF8.GetBytes($"{{\"ts\":\"{ts}\",\"seq\":{round + 1},\"voltageV\":230.1,\"tempC\":18.0,\"leakageMa\":0.5,\"ports\":[{ports}]}}");
        var accepted = 0;
        for (var i = 0; i < topics.Length; i++)
        {
            if ((onlyMeters && !isMeter[i]) || (onlyPiles && isMeter[i]))
            {
                continue;
            }

            if (engine.Process(topics[i], isMeter[i] ? meter : pile, sink).Outcome == MessageOutcome.Accepted)
            {
                accepted++;
            }
        }

        sink.Transitions.Clear();
        sink.Commands.Clear();
        return accepted;
    }

    private static void WriteRegistry(string path, int deviceCount)
    {
        using var stream = File.Create(path);
        using var w = new Utf8JsonWriter(stream);
        var sites = (deviceCount + PerSite - 1) / PerSite;
        w.WriteStartObject();
        w.WriteStartArray("sites");
        for (var s = 0; s < sites; s++)
        {
            w.WriteStartObject();
            w.WriteString("siteId", SiteId(s));
            w.WriteString("name", $"Compound {s + 1}");
            w.WriteString("address", $"{s + 1} Scale Rd");
            w.WriteString("fireStation", $"station-{(s / 40) + 1}");
            w.WriteNumber("lat", 30.28);
            w.WriteNumber("lon", 120.12);
            w.WriteString("managerId", $"pm-{(s / 10) + 1}");
            w.WriteString("timeZone", "Asia/Shanghai");
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteStartArray("devices");
        for (var i = 0; i < deviceCount; i++)
        {
            var inSite = i % PerSite;
            var pile = inSite >= PerSite - PilesPerSite;
            w.WriteStartObject();
            w.WriteString("deviceId", pile ? $"p-{i:D7}" : $"m-{i:D7}");
            w.WriteString("siteId", SiteId(i / PerSite));
            w.WriteString("kind", pile ? "pile" : "meter");
            w.WriteString("circuit", pile ? "pile" : "dwelling");
            if (pile)
            {
                w.WriteNumber("portCount", Ports);
                w.WriteNumber("portMaxW", 400);
            }
            else
            {
                w.WriteNumber("ratedCurrentA", 40);
            }

            w.WriteNumber("reportIntervalS", 10);
            w.WriteStartObject("location");
            w.WriteString("building", ((inSite / 40) + 1).ToString(CultureInfo.InvariantCulture));
            w.WriteEndObject();
            w.WriteEndObject();
            if (i % 10_000 == 0)
            {
                w.Flush();
            }
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static string SiteId(int s) => $"site-{s:D5}";

    /// <summary>Where a quiet meter's detector memory goes: each field of its state object, by estimated CLR layout.</summary>
    private static void Breakdown(DetectionEngine engine)
    {
        var states = (Array)typeof(DetectionEngine).GetField("_states", BindingFlags.Instance | BindingFlags.NonPublic)!.GetValue(engine)!;
        var meter = states.Cast<object?>().First(s => s?.GetType().Name == "MeterState")!;
        Console.WriteLine($"a quiet meter's state, estimated from the CLR's layout (object header 16 B, fields 8-byte aligned; the Device is the registry's, not counted):");
        var total = Describe(meter, "  ", depth: 0);
        Console.WriteLine($"  = {total} B estimated for the meter's state objects");
    }

    private static long Describe(object o, string indent, int depth)
    {
        var type = o.GetType();
        var fields = AllFields(type);
        var shallow = ObjectSize(type);
        Console.WriteLine($"{indent}{type.Name}: {shallow} B object ({fields.Count} fields)");
        long total = shallow;
        foreach (var f in fields)
        {
            var size = FieldSize(f.FieldType);
            var value = f.GetValue(o);
            var note = "";
            if (!f.FieldType.IsValueType && value is not null && f.FieldType != typeof(Registry.Device) && depth < 3)
            {
                if (value is Array array)
                {
                    var bytes = ArraySize(array);
                    note = $" -> array of {array.Length}: {bytes} B";
                    total += bytes;
                    foreach (var item in array)
                    {
                        if (item is not null && !item.GetType().IsValueType)
                        {
                            total += Describe(item, indent + "      ", depth + 1);
                        }
                    }
                }
                else if (value is not string)
                {
                    Console.WriteLine($"{indent}  {f.Name,-28} {size,3} B (reference) ->");
                    total += Describe(value, indent + "      ", depth + 1);
                    continue;
                }
            }
            else if (value is null && !f.FieldType.IsValueType)
            {
                note = " (null)";
            }

            Console.WriteLine($"{indent}  {f.Name,-28} {size,3} B {(f.FieldType.IsValueType ? f.FieldType.Name : "reference")}{note}");
        }

        return total;
    }

    private static List<FieldInfo> AllFields(Type type)
    {
        var fields = new List<FieldInfo>();
        for (var t = type; t is not null && t != typeof(object); t = t.BaseType)
        {
            fields.AddRange(t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly));
        }

        return fields;
    }

    private static int FieldSize(Type t) => !t.IsValueType ? IntPtr.Size : (int)typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!.MakeGenericMethod(t).Invoke(null, null)!;

    private static long ObjectSize(Type type)
    {
        var fields = AllFields(type).Sum(f => (long)FieldSize(f.FieldType));
        return Math.Max(24, Align(16 + fields));
    }

    private static long ArraySize(Array array)
    {
        var element = array.GetType().GetElementType()!;
        return Align(24 + ((long)array.Length * FieldSize(element)));
    }

    private static long Align(long bytes) => (bytes + 7) / 8 * 8;
}
