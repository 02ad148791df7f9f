using System.Globalization;
using System.Text;
using System.Text.Json;
using SmartPower.DeviceSim.Contract;
using SmartPower.DeviceSim.Physics;
using SmartPower.DeviceSim.Truth;

namespace SmartPower.DeviceSim.Simulation;

/// <summary>
/// Builds compounds: a fleet of dwelling and common-area meters and e-bike charging piles (generated, or read from
/// a registry), each with its appliances, chargers and planned hazards, ready to step through a night; and
/// generates a labelled night: contract telemetry with injected hazards written as ground truth and ordinary
/// look-alike activity listed separately. The models are physical (appliance and charger behaviour, thermal lag,
/// insulation leakage); nothing here knows how a detector works.
/// <para>Simplifications: loads are evaluated at reading instants only (a reading is an instantaneous
/// short-window RMS, so a sub-second motor inrush shows in the one reading that catches it); reactive power
/// is summed as P tan(acos pf) per load, folding rectifier distortion into an equivalent power factor;
/// single phase per circuit; breakers never trip; a site's UTC offset is taken at the start of the run.</para>
/// </summary>
public static class CompoundNight
{
    /// <summary>The first generated site; further ones are compound-002, compound-003...</summary>
    public const string SiteId = "xihu-wutong";

    /// <summary>The site policy's limit per pile port in a generated registry.</summary>
    public const int PortMaxW = 400;

    public const int PortsPerPile = 10;

    private static readonly string[] CommonRooms = ["stairwell", "corridor", "bike-shed", "lobby", "stairwell", "garage"];

    /// <summary>Generates the night of <paramref name="scenario"/> in memory (registry, lines in arrival order, ground truth).</summary>
    public static LabelledNight Generate(Scenario scenario, RegistryFile? registry = null)
    {
        var fleet = Build(scenario, registry);
        var lines = new List<string>();
        var run = new NightRun(fleet);
        run.ToEnd(m => lines.Add(run.ReplayLine(m)));
        return run.Label(lines);
    }

    /// <summary>
    /// The registry of a generated fleet: per site <see cref="Scenario.Dwellings"/> dwelling meters, then the
    /// common-area meters, numbered m-0001... across sites, and the piles p-0001...
    /// </summary>
    public static RegistryFile GenerateRegistry(Scenario scenario)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        scenario.Validated();
        var sites = new List<Site>();
        var devices = new List<DeviceSpec>();
        var interval = scenario.ReportIntervalS;
        var meterNo = 0;
        var pileNo = 0;
        for (var k = 0; k < scenario.Sites; k++)
        {
            var siteId = k == 0 ? SiteId : string.Create(CultureInfo.InvariantCulture, $"compound-{k + 1:000}");
            sites.Add(k == 0
                ? new Site(siteId, "Wutong Apartments", "88 Wutong Rd, Xihu District", "xihu-3", 30.28, 120.12, "pm-greenleaf", "Asia/Shanghai")
                : new Site(siteId, $"Compound {k + 1}", null, "xihu-3", null, null, "pm-greenleaf", "Asia/Shanghai"));
            for (var i = 0; i < scenario.Dwellings; i++)
            {
                var id = $"m-{++meterNo:0000}";
                var rated = new[] { 32, 40, 63 }[Rng.For(scenario.Seed, $"{id}/device").Weighted(0.25, 0.6, 0.15)];
                var floor = (i % 12 / 2) + 1;
                var loc = new DeviceLocation(Text((i / 24) + 1), Text((i % 24 / 12) + 1), floor, Text((floor * 100) + (i % 2) + 1));
                devices.Add(new DeviceSpec(id, siteId, DeviceKind.Meter, "dwelling", rated, interval, 0, 0, loc));
            }

            var buildings = Math.Max(1, (scenario.Dwellings + 23) / 24);
            for (var j = 0; j < scenario.CommonAreas; j++)
            {
                var id = $"m-{++meterNo:0000}";
                var room = CommonRooms[j % CommonRooms.Length];
                var loc = new DeviceLocation(Text((j % buildings) + 1), Text((j / buildings % 2) + 1), room == "garage" ? -1 : 0, room);
                devices.Add(new DeviceSpec(id, siteId, DeviceKind.Meter, "common-area", 16, interval, 0, 0, loc));
            }

            for (var n = 0; n < scenario.Piles; n++)
            {
                var id = $"p-{++pileNo:0000}";
                var shed = n < 26 ? $"shed-{(char)('A' + n)}" : $"shed-{n + 1}";
                devices.Add(new DeviceSpec(id, siteId, DeviceKind.Pile, "pile", 0, interval, PortsPerPile, PortMaxW, new DeviceLocation(shed, null, null, null)));
            }
        }

        return new RegistryFile(sites, devices);
    }

    /// <summary>
    /// Builds the fleet of <paramref name="registry"/> (generated from the scenario when null) with its appliances,
    /// chargers and planned hazards, each device ready to <see cref="DeviceBase.Tick"/>.
    /// </summary>
    internal static Fleet Build(Scenario scenario, RegistryFile? registry = null)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        scenario.Validated();
        registry ??= GenerateRegistry(scenario);
        var seed = scenario.Seed;
        var devices = new List<DeviceBase>();
        var firstSite = true;
        foreach (var site in registry.Sites)
        {
            var clock = NightClock.For(site.TimeZone, scenario.Start, scenario.Duration);

            // The first site keeps the stream names it always had, so a one-site night stays what it was.
            var suffix = firstSite ? "" : "/" + site.SiteId;
            firstSite = false;
            var voltage = new SiteVoltage(Rng.For(seed, "site-voltage" + suffix), clock);
            var specs = registry.Devices.Where(d => d.SiteId == site.SiteId).ToList();
            var dwellings = new List<MeterDevice>();
            var commons = new List<MeterDevice>();
            var piles = new List<PileDevice>();
            foreach (var spec in specs.Where(d => d.IsDwelling))
            {
                var r = Rng.For(seed, $"{spec.DeviceId}/device");
                r.Weighted(0.25, 0.6, 0.15); // the breaker rating's draw: the registry gives the rating, the stream keeps its place
                var m = new MeterDevice(spec, r);
                SetupMeter(m, r, dwelling: true);
                Households.Dwelling(m, seed, clock, scenario.IncludeLookAlikes);
                dwellings.Add(m);
            }

            var commonNo = 0;
            foreach (var spec in specs.Where(d => d.Circuit == "common-area"))
            {
                var r = Rng.For(seed, $"{spec.DeviceId}/device");
                var m = new MeterDevice(spec, r);
                SetupMeter(m, r, dwelling: false);
                Households.CommonArea(m, spec.Location.Room ?? CommonRooms[commonNo % CommonRooms.Length], seed, clock, scenario.IncludeLookAlikes);
                commonNo++;
                commons.Add(m);
            }

            var pileNo = 0;
            foreach (var spec in specs.Where(d => d.Kind == DeviceKind.Pile))
            {
                var r = Rng.For(seed, $"{spec.DeviceId}/device");
                var p = new PileDevice(spec, r);
                SetupPile(p, r);
                Households.Pile(p, ++pileNo, seed, clock);
                piles.Add(p);
            }

            var plan = new IncidentPlan(seed, "scenario" + suffix, clock, scenario.Start, scenario.IncludeLookAlikes, scenario.IncidentCounts, dwellings, commons, piles);
            if (scenario.InjectIncidents)
            {
                plan.InjectIncidents();
            }

            if (scenario.IncludeLookAlikes)
            {
                plan.AddSpecialLookAlikes();
            }

            AddNaturalScanners(dwellings.Concat(commons), piles);
            IEnumerable<DeviceBase> siteDevices = [.. dwellings, .. commons, .. piles];
            foreach (var d in siteDevices)
            {
                d.Begin(voltage, clock, scenario.Start);
            }

            devices.AddRange(siteDevices);
        }

        return new Fleet(scenario, registry, devices);
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

    private static void SetupMeter(MeterDevice m, Rng r, bool dwelling)
    {
        m.PhaseMs = r.Int(0, m.Spec.ReportIntervalS * 1000);
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

    private static void SetupPile(PileDevice p, Rng r)
    {
        p.PhaseMs = r.Int(0, p.Spec.ReportIntervalS * 1000);
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

    private static void AddNaturalScanners(IEnumerable<MeterDevice> meters, List<PileDevice> piles)
    {
        foreach (var m in meters)
        {
            var rated = m.RatedA;
            m.Scanners.Add(new RunScanner("overload", null, r => r.CurrentA > rated, 3, m.InjectedFor("overload")));
            m.Scanners.Add(new RunScanner("overtemperature", null, r => r.TempC > HazardThresholds.OverTemperatureC, 3, m.InjectedFor("overtemperature")));
            m.Scanners.Add(new RunScanner("leakage", null, r => r.LeakMa >= HazardThresholds.LeakageWarningMa, 2, m.InjectedFor("leakage")));
        }

        foreach (var p in piles)
        {
            for (var j = 0; j < p.PortCount; j++)
            {
                var port = j;
                var max = p.PortMaxW;
                p.Scanners.Add(new RunScanner("port-overpower", port + 1, r => r.PortW[port] > max, 2, p.InjectedFor($"port-overpower/{port + 1}")));
            }

            p.Scanners.Add(new RunScanner("overtemperature", null, r => r.TempC > HazardThresholds.OverTemperatureC, 3, p.InjectedFor("overtemperature")));
            p.Scanners.Add(new RunScanner("leakage", null, r => r.LeakMa >= HazardThresholds.LeakageWarningMa, 2, p.InjectedFor("leakage")));
        }
    }

    private static string Text(int n) => n.ToString(CultureInfo.InvariantCulture);
}
