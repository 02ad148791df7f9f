using BenchmarkDotNet.Running;
using SmartPower.Benchmarks;

// replay-vs-python [lines] [rounds]: the replay goal, measured against Python in the same run.
// Anything else goes to BenchmarkDotNet (e.g. --filter '*').
if (args.Length > 0 && args[0] == "replay-vs-python")
{
    var lines = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 300_000;
    var rounds = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 5;
    return ReplayVersusPython.Run(lines, rounds);
}

// scale [devices] [rounds]: start-up, detector memory per device and steady throughput on a registry of that size.
if (args.Length > 0 && args[0] == "scale")
{
    var devices = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 1_000_000;
    var rounds = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 5;
    return Scale.Run(devices, rounds);
}

BenchmarkSwitcher.FromAssembly(typeof(EngineBenchmarks).Assembly).Run(args);
return 0;
