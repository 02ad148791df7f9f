using System.Diagnostics;
using System.Globalization;
using System.Text;
using SmartPower.DeviceSim.Simulation;
using SmartPower.DeviceSim.Truth;

namespace SmartPower.DeviceSim.Cli;

/// <summary><c>generate</c>: simulate a night as fast as possible and write the registry, the readings and the ground truth.</summary>
internal static class GenerateCommand
{
    public const string Usage =
        "generate --out DIR [options]\n" +
        "  writes DIR/registry.json, DIR/readings.jsonl (contract replay lines, in arrival order) and DIR/truth.jsonl\n" +
        NightSetup.Usage;

    public static int Run(IReadOnlyList<string> argv, TextWriter stdout)
    {
        var args = Arguments.Parse(argv, [.. NightSetup.Options, "out"], []);
        var outDir = args.Required("out");
        var (scenario, registry, _) = NightSetup.Resolve(args);
        var clock = Stopwatch.StartNew();
        Directory.CreateDirectory(outDir);
        var night = new NightRun(CompoundNight.Build(scenario, registry));
        var utf8 = new UTF8Encoding(false);
        long messages = 0;
        using (var readings = new StreamWriter(Path.Combine(outDir, "readings.jsonl"), false, utf8, 1 << 16))
        {
            night.ToEnd(m =>
            {
                readings.Write(night.ReplayLine(m));
                readings.Write('\n');
                messages++;
            });
        }

        var labels = night.Label([]);
        File.WriteAllText(Path.Combine(outDir, "registry.json"), labels.RegistryJson, utf8);
        using (var truth = File.Create(Path.Combine(outDir, "truth.jsonl")))
        {
            labels.WriteGroundTruth(truth);
        }

        var seconds = clock.Elapsed.TotalSeconds;
        var faults = night.Faults;
        var report = new StringBuilder();
        report.Append(CultureInfo.InvariantCulture, $"scenario   {scenario.Name}, seed {scenario.Seed}, {scenario.Start:yyyy-MM-dd HH:mm}Z for {scenario.Duration.TotalHours:0.##} h\n");
        report.Append(CultureInfo.InvariantCulture, $"devices    {registry.Devices.Count:N0} on {registry.Sites.Count} site(s)\n");
        report.Append(CultureInfo.InvariantCulture, $"messages   {messages:N0} in {seconds:F1} s ({messages / Math.Max(seconds, 1e-3):N0}/s)\n");
        report.Append(CultureInfo.InvariantCulture, $"incidents  {labels.Incidents.Count}: ")
            .Append(string.Join(", ", Scoring.AlertTypes.Select(t => $"{t} {labels.Incidents.Count(i => i.Type == t)}"))).Append('\n');
        report.Append(CultureInfo.InvariantCulture, $"look-alikes {labels.LookAlikes.Count}: ")
            .Append(string.Join(", ", labels.LookAlikes.GroupBy(l => l.Appliance).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key} {g.Count()}"))).Append('\n');
        report.Append(CultureInfo.InvariantCulture,
            $"data faults duplicates {faults.Duplicated}, malformed {faults.MalformedSent}, skewed clocks {faults.SkewedClocks}, held back {faults.HeldBack}, connection drops {faults.Drops}\n");
        foreach (var d in labels.Diagnostics)
        {
            report.Append("note: ").Append(d).Append('\n');
        }

        report.Append(CultureInfo.InvariantCulture, $"wrote      {Path.Combine(outDir, "registry.json")}, readings.jsonl, truth.jsonl\n");
        stdout.Write(report.ToString());
        return 0;
    }
}
