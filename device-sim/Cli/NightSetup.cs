using SmartPower.DeviceSim.Contract;
using SmartPower.DeviceSim.Simulation;

namespace SmartPower.DeviceSim.Cli;

/// <summary>
/// The options <c>generate</c> and <c>run</c> share: which scenario, which seed, and which fleet: a registry file,
/// or one generated from <c>--sites/--dwellings/--common-areas/--piles</c> (else the scenario's own fleet).
/// </summary>
internal static class NightSetup
{
    public static readonly string[] Options = ["scenario", "seed", "registry", "sites", "dwellings", "common-areas", "piles", "hours", "start"];

    public const string Usage =
        "  --scenario NAME|FILE   a shipped scenario or a scenario JSON file (default compound-night)\n" +
        "  --seed N               random seed (default: the scenario's); the same seed gives the same output\n" +
        "  --registry FILE        the fleet of a contract registry file, or else a generated fleet:\n" +
        "  --sites N --dwellings N --common-areas N --piles N   (per site; each defaults to the scenario's)\n" +
        "  --hours H              simulated duration (default: the scenario's)\n" +
        "  --start TIME           simulated start, RFC 3339 (default: the scenario's)\n";

    public static (Scenario Scenario, RegistryFile Registry, bool Generated) Resolve(Arguments args)
    {
        var scenario = ScenarioFile.Load(args.String("scenario") ?? "compound-night");
        scenario = scenario with
        {
            Seed = args.Int("seed", 0, int.MaxValue) ?? scenario.Seed,
            Duration = args.Double("hours", 0.01, 24) is { } h ? TimeSpan.FromHours(h) : scenario.Duration,
            Start = args.Time("start") ?? scenario.Start,
            Sites = args.Int("sites", 1, 1000) ?? scenario.Sites,
            Dwellings = args.Int("dwellings", 0, 100_000) ?? scenario.Dwellings,
            CommonAreas = args.Int("common-areas", 0, 10_000) ?? scenario.CommonAreas,
            Piles = args.Int("piles", 0, 10_000) ?? scenario.Piles,
        };
        if (args.String("registry") is not { } path)
        {
            return (scenario.Validated(), CompoundNight.GenerateRegistry(scenario), true);
        }

        if (args.Has("sites") || args.Has("dwellings") || args.Has("common-areas") || args.Has("piles"))
        {
            throw new UsageException("--registry gives the fleet: it cannot be combined with --sites, --dwellings, --common-areas or --piles");
        }

        var registry = RegistryFile.Load(path);
        if (registry.Devices.Count == 0)
        {
            throw new RegistryFormatException($"{path}: the registry has no devices");
        }

        return (scenario.Validated(), registry, false);
    }
}
