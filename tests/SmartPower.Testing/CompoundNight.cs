using System.Globalization;
using System.Text;
using System.Text.Json;
using SmartPower.Testing.Physics;

namespace SmartPower.Testing;

/// <summary>
/// Generates a labelled night of the Wutong Apartments compound: dwelling and common-area meters and
/// e-bike charging piles reporting contract telemetry, with injected hazards written as ground truth and
/// ordinary look-alike activity listed separately. The models are physical (appliance and charger
/// behaviour, thermal lag, insulation leakage); nothing here knows how a detector works.
/// <para>Simplifications: loads are evaluated at reading instants only (a reading is an instantaneous
/// short-window RMS, so a sub-second motor inrush shows in the one reading that catches it); reactive power
/// is summed as P tan(acos pf) per load, folding rectifier distortion into an equivalent power factor;
/// single phase per circuit; breakers never trip; local time is a fixed UTC+8 (Asia/Shanghai has no DST).</para>
/// </summary>
public static class CompoundNight
{
    public const string SiteId = "xihu-wutong";

    /// <summary>Alarm thresholds used to date sustained-threshold hazards in ground truth.</summary>
    public static class Thresholds
    {
        /// <summary>Overload: current above the breaker rating (1.0x).</summary>
        public const double OverloadRatio = 1.0;

        public const double OverTemperatureC = 70;

        public const double LeakageWarningMa = 100;

        public const double LeakageCriticalMa = 300;

        public const int PortMaxW = 400;
    }

    private static readonly string[] CommonRooms = ["stairwell", "corridor", "bike-shed", "lobby", "stairwell", "garage"];

    public static LabelledNight Generate(CompoundNightOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Dwellings < 0 || options.CommonAreas < 0 || options.Piles < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "device counts must be non-negative");
        }

        if (options.ReportIntervalS < 1 || options.Duration <= TimeSpan.Zero || options.Duration > TimeSpan.FromHours(24))
        {
            throw new ArgumentOutOfRangeException(nameof(options), "ReportIntervalS must be >= 1 and Duration in (0, 24 h]");
        }

        var seed = options.Seed;
        var clock = new NightClock(options.Start, options.Duration);
        var site = new SiteVoltage(Rng.For(seed, "site-voltage"), clock);
        var meters = new List<MeterDevice>();
        var dwellings = new List<MeterDevice>();
        var commons = new List<MeterDevice>();
        var piles = new List<PileDevice>();
        var registry = new List<Action<Utf8JsonWriter>>();

        for (var i = 0; i < options.Dwellings; i++)
        {
            var id = $"m-{i + 1:0000}";
            var r = Rng.For(seed, $"{id}/device");
            var rated = new[] { 32, 40, 63 }[r.Weighted(0.25, 0.6, 0.15)];
            var m = new MeterDevice(id, SiteId, r, rated);
            SetupMeter(m, r, options, dwelling: true);
            var floor = (i % 12 / 2) + 1;
            var loc = (Building: ((i / 24) + 1).ToString(CultureInfo.InvariantCulture), Unit: ((i % 24 / 12) + 1).ToString(CultureInfo.InvariantCulture),
                Floor: floor, Room: ((floor * 100) + (i % 2) + 1).ToString(CultureInfo.InvariantCulture));
            registry.Add(w => WriteDevice(w, id, "meter", "dwelling", rated, options.ReportIntervalS, loc));
            Households.Dwelling(m, seed, clock, options.IncludeLookAlikes);
            meters.Add(m);
            dwellings.Add(m);
        }

        var buildings = Math.Max(1, (options.Dwellings + 23) / 24);
        for (var j = 0; j < options.CommonAreas; j++)
        {
            var id = $"m-{options.Dwellings + j + 1:0000}";
            var r = Rng.For(seed, $"{id}/device");
            var m = new MeterDevice(id, SiteId, r, 16);
            SetupMeter(m, r, options, dwelling: false);
            var room = CommonRooms[j % CommonRooms.Length];
            var loc = (Building: ((j % buildings) + 1).ToString(CultureInfo.InvariantCulture), Unit: ((j / buildings % 2) + 1).ToString(CultureInfo.InvariantCulture),
                Floor: room == "garage" ? -1 : 0, Room: room);
            registry.Add(w => WriteDevice(w, id, "meter", "common-area", 16, options.ReportIntervalS, loc));
            Households.CommonArea(m, room, seed, clock, options.IncludeLookAlikes);
            meters.Add(m);
            commons.Add(m);
        }

        for (var k = 0; k < options.Piles; k++)
        {
            var id = $"p-{k + 1:0000}";
            var r = Rng.For(seed, $"{id}/device");
            var p = new PileDevice(id, SiteId, r) { PortMaxW = Thresholds.PortMaxW };
            SetupPile(p, r, options);
            var shed = k < 26 ? $"shed-{(char)('A' + k)}" : $"shed-{k + 1}";
            registry.Add(w => WritePile(w, id, options.ReportIntervalS, shed));
            Households.Pile(p, k + 1, seed, clock);
            piles.Add(p);
        }

        var planner = new Scenario(seed, clock, options, dwellings, commons, piles);
        if (options.InjectIncidents)
        {
            planner.InjectIncidents();
        }

        if (options.IncludeLookAlikes)
        {
            planner.AddSpecialLookAlikes();
        }

        AddNaturalScanners(meters, piles);

        // Devices are independent (own random streams), so they can be simulated in parallel deterministically.
        var devices = meters.Cast<DeviceBase>().Concat(piles).ToArray();
        var outputs = new DeviceOutput[devices.Length];
        Parallel.For(0, devices.Length, i =>
        {
            outputs[i] = devices[i] switch
            {
                MeterDevice m => m.Run(site, clock, options.Start, options.ReportIntervalS),
                PileDevice p => p.Run(site, clock, options.Start, options.ReportIntervalS),
                _ => throw new InvalidOperationException(),
            };
        });

        var order = devices.Select((d, i) => (d.DeviceId, i)).OrderBy(x => x.DeviceId, StringComparer.Ordinal)
            .Select((x, rank) => (x.i, rank)).ToDictionary(x => x.i, x => x.rank);
        var total = outputs.Sum(o => o.Lines.Count);
        var all = new (long TMs, int Rank, string Line)[total];
        var n = 0;
        for (var i = 0; i < outputs.Length; i++)
        {
            foreach (var (tMs, line) in outputs[i].Lines)
            {
                all[n++] = (tMs, order[i], line);
            }
        }

        Array.Sort(all, (a, b) => a.TMs != b.TMs ? a.TMs.CompareTo(b.TMs) : a.Rank.CompareTo(b.Rank));

        var incidents = outputs.SelectMany(o => o.Incidents)
            .OrderBy(x => x.Start).ThenBy(x => x.DeviceId, StringComparer.Ordinal).ThenBy(x => x.Type, StringComparer.Ordinal).ThenBy(x => x.Port)
            .ToArray();
        var lookAlikes = outputs.SelectMany(o => o.LookAlikes)
            .OrderBy(x => x.Start).ThenBy(x => x.DeviceId, StringComparer.Ordinal).ThenBy(x => x.Appliance, StringComparer.Ordinal).ThenBy(x => x.Port)
            .ToArray();

        return new LabelledNight(RegistryJson(registry), all.Select(x => x.Line).ToArray(), incidents)
        {
            LookAlikes = lookAlikes,
            Diagnostics = outputs.SelectMany(o => o.Diagnostics).ToArray(),
        };
    }

    /// <summary>Self-check summary: devices, lines, incidents per type (natural ones flagged), look-alikes per appliance, diagnostics.</summary>
    public static string Describe(LabelledNight night)
    {
        ArgumentNullException.ThrowIfNull(night);
        var sb = new StringBuilder();
        using (var doc = JsonDocument.Parse(night.RegistryJson))
        {
            var devices = doc.RootElement.GetProperty("devices").EnumerateArray().ToArray();
            sb.Append(CultureInfo.InvariantCulture, $"devices: {devices.Length} (")
                .Append(string.Join(", ", devices.GroupBy(d => d.GetProperty("circuit").GetString()).Select(g => $"{g.Key} {g.Count()}")))
                .Append(")\n");
        }

        sb.Append(CultureInfo.InvariantCulture, $"lines: {night.Lines.Count}\n");
        sb.Append(CultureInfo.InvariantCulture, $"incidents: {night.Incidents.Count}\n");
        foreach (var g in night.Incidents.GroupBy(i => i.Type).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var natural = g.Count(i => i.Note?.StartsWith("natural", StringComparison.Ordinal) == true);
            var durations = g.Select(i => (i.End - i.Start).TotalMinutes).OrderBy(x => x).ToArray();
            sb.Append(CultureInfo.InvariantCulture, $"  {g.Key,-18} {g.Count(),3}")
                .Append(natural > 0 ? $" ({natural} natural)" : "")
                .Append(CultureInfo.InvariantCulture, $"  duration {durations[0]:F1}-{durations[^1]:F1} min\n");
        }

        foreach (var i in night.Incidents)
        {
            sb.Append(CultureInfo.InvariantCulture, $"    {i.Type,-18} {i.DeviceId}{(i.Port is { } p ? $"#{p}" : ""),-4} {Format.Ts(i.Start)} -> {Format.Ts(i.End)}  {i.Note}\n");
        }

        var illegal = night.Incidents.Where(i => i.Type == "illegal-charging").ToArray();
        if (illegal.Length > 0)
        {
            var overlapping = illegal.Select(i => night.LookAlikes
                    .Where(l => l.DeviceId == i.DeviceId && l.Start < i.End && i.Start < l.End && l.Appliance != "fridge")
                    .Select(l => l.Appliance).Distinct().ToArray())
                .ToArray();
            sb.Append(CultureInfo.InvariantCulture, $"illegal-charging overlapping other appliances (besides fridges): {overlapping.Count(o => o.Length > 0)} of {illegal.Length}\n");
        }

        sb.Append(CultureInfo.InvariantCulture, $"look-alikes: {night.LookAlikes.Count}\n");
        foreach (var g in night.LookAlikes.GroupBy(l => l.Appliance).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            sb.Append(CultureInfo.InvariantCulture, $"  {g.Key,-22} {g.Count(),4} on {g.Select(l => l.DeviceId).Distinct().Count()} devices\n");
        }

        foreach (var d in night.Diagnostics)
        {
            sb.Append("diagnostic: ").Append(d).Append('\n');
        }

        return sb.ToString();
    }

    private static void SetupMeter(MeterDevice m, Rng r, CompoundNightOptions o, bool dwelling)
    {
        m.PhaseMs = r.Int(0, o.ReportIntervalS * 1000);
        m.SeqStart = r.Int(1, 90000);
        m.VoltOffset = r.NormalClamped(0, 0.8, -2, 1.5);
        m.LineOhm = r.Uniform(0.02, 0.06);

        // Meter boxes of dwellings sit indoors (21-27 C, cooling 1-3 K after heating goes off);
        // stairwell/corridor boxes are unheated (15-20 C in late November).
        m.AmbientC = dwelling ? r.Uniform(21, 27) : r.Uniform(15, 20);
        m.AmbientNightDropK = dwelling ? r.Uniform(1, 3) : r.Uniform(1, 2);
        m.SelfHeatK = r.Uniform(2, 5);
        m.RthKPerW = r.Uniform(30, 50);
        m.ContactOhm = r.Uniform(0.08e-3, 0.2e-3);
        m.ThermalTauS = r.Uniform(360, 720);
        m.LeakBaseMa = r.Uniform(0.5, 3.5);
        m.SigmaW = r.Uniform(0.3, 1.0);
        m.EnergyStartKWh = dwelling ? r.Uniform(2000, 30000) : r.Uniform(500, 8000);
    }

    private static void SetupPile(PileDevice p, Rng r, CompoundNightOptions o)
    {
        p.PhaseMs = r.Int(0, o.ReportIntervalS * 1000);
        p.SeqStart = r.Int(1, 20000);
        p.VoltOffset = r.NormalClamped(-0.5, 0.8, -2, 1);
        p.LineOhm = r.Uniform(0.05, 0.12);

        // Open-sided shed: outdoor-ish ambient of a Hangzhou November night.
        p.AmbientC = r.Uniform(10, 15);
        p.AmbientNightDropK = r.Uniform(1, 2.5);
        p.SelfHeatK = r.Uniform(3, 6);
        p.RthKPerW = r.Uniform(25, 35);
        p.ContactOhm = r.Uniform(3e-3, 6e-3);
        p.ThermalTauS = r.Uniform(600, 900);
        p.LeakBaseMa = r.Uniform(1, 3);
    }

    private static void AddNaturalScanners(List<MeterDevice> meters, List<PileDevice> piles)
    {
        foreach (var m in meters)
        {
            var rated = m.RatedA;
            m.Scanners.Add(new RunScanner("overload", null, r => r.CurrentA > rated, 3, m.InjectedFor("overload")));
            m.Scanners.Add(new RunScanner("overtemperature", null, r => r.TempC > Thresholds.OverTemperatureC, 3, m.InjectedFor("overtemperature")));
            m.Scanners.Add(new RunScanner("leakage", null, r => r.LeakMa >= Thresholds.LeakageWarningMa, 2, m.InjectedFor("leakage")));
        }

        foreach (var p in piles)
        {
            for (var j = 0; j < PileDevice.PortCount; j++)
            {
                var port = j;
                var max = p.PortMaxW;
                p.Scanners.Add(new RunScanner("port-overpower", port + 1, r => r.PortW[port] > max, 2, p.InjectedFor($"port-overpower/{port + 1}")));
            }

            p.Scanners.Add(new RunScanner("overtemperature", null, r => r.TempC > Thresholds.OverTemperatureC, 3, p.InjectedFor("overtemperature")));
            p.Scanners.Add(new RunScanner("leakage", null, r => r.LeakMa >= Thresholds.LeakageWarningMa, 2, p.InjectedFor("leakage")));
        }
    }

    private static string RegistryJson(List<Action<Utf8JsonWriter>> devices)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true, NewLine = "\n" }))
        {
            w.WriteStartObject();
            w.WriteStartArray("sites");
            w.WriteStartObject();
            w.WriteString("siteId", SiteId);
            w.WriteString("name", "Wutong Apartments");
            w.WriteString("address", "88 Wutong Rd, Xihu District");
            w.WriteString("fireStation", "xihu-3");
            w.WriteNumber("lat", 30.28);
            w.WriteNumber("lon", 120.12);
            w.WriteString("managerId", "pm-greenleaf");
            w.WriteString("timeZone", "Asia/Shanghai");
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteStartArray("devices");
            foreach (var d in devices)
            {
                d(w);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(ms.ToArray());
    }

    private static void WriteDevice(Utf8JsonWriter w, string id, string kind, string circuit, int rated, int interval, (string Building, string Unit, int Floor, string Room) loc)
    {
        w.WriteStartObject();
        w.WriteString("deviceId", id);
        w.WriteString("siteId", SiteId);
        w.WriteString("kind", kind);
        w.WriteString("circuit", circuit);
        w.WriteNumber("ratedCurrentA", rated);
        w.WriteNumber("reportIntervalS", interval);
        w.WriteStartObject("location");
        w.WriteString("building", loc.Building);
        w.WriteString("unit", loc.Unit);
        w.WriteNumber("floor", loc.Floor);
        w.WriteString("room", loc.Room);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WritePile(Utf8JsonWriter w, string id, int interval, string shed)
    {
        w.WriteStartObject();
        w.WriteString("deviceId", id);
        w.WriteString("siteId", SiteId);
        w.WriteString("kind", "pile");
        w.WriteString("circuit", "pile");
        w.WriteNumber("portCount", PileDevice.PortCount);
        w.WriteNumber("portMaxW", Thresholds.PortMaxW);
        w.WriteNumber("reportIntervalS", interval);
        w.WriteStartObject("location");
        w.WriteString("building", shed);
        w.WriteEndObject();
        w.WriteEndObject();
    }
}
