using System.Diagnostics;
using System.Globalization;
using SmartPower.DeviceSim.Simulation;
using SmartPower.DeviceSim.Truth;
using SmartPower.Registry;
using SmartPower.Replay;

namespace SmartPower.Benchmarks;

/// <summary>
/// Replays a 300,000-line compound night and times Python's <c>json.loads</c> on every line of the same
/// file, alternating runs in the same process lifetime so both see the same machine load. Reports medians
/// and the ratio; the goal is replay in under a quarter of Python's parse time.
/// </summary>
internal static class ReplayVersusPython
{
    private const string PythonTimer = """
        import json, sys, time
        with open(sys.argv[1], 'rb') as f:
            data = f.read().splitlines()
        start = time.perf_counter()
        for line in data:
            json.loads(line)
        print(time.perf_counter() - start)
        """;

    public static int Run(int targetLines, int rounds)
    {
        var dir = Directory.CreateTempSubdirectory("smartpower-bench-").FullName;
        try
        {
            var hours = 12.0;
            var options = new Scenario { Duration = TimeSpan.FromHours(hours) };
            var night = CompoundNight.Generate(options);
            var dwellings = (int)Math.Ceiling(options.Dwellings * (double)targetLines / night.Lines.Count);
            night = CompoundNight.Generate(options with { Dwellings = Math.Max(1, dwellings) });
            var lines = night.Lines.Take(targetLines).ToList();
            var input = Path.Combine(dir, "night.jsonl");
            var script = Path.Combine(dir, "parse.py");
            File.WriteAllLines(input, lines);
            File.WriteAllText(script, PythonTimer);
            var registry = RegistryLoader.Parse(night.RegistryJson);
            var bytes = new FileInfo(input).Length;
            Console.WriteLine($"input: {lines.Count:N0} lines, {bytes / 1e6:N1} MB, {registry.DeviceCount} devices; {rounds} alternating rounds");

            var replay = new List<double>();
            var python = new List<double>();
            ReplayReport? report = null;
            for (var round = 0; round <= rounds; round++)
            {
                var clock = Stopwatch.StartNew();
                using (var stream = new FileStream(input, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16))
                {
                    report = ReplayRunner.Run(registry, stream, Stream.Null);
                }

                var replaySeconds = clock.Elapsed.TotalSeconds;
                var pythonSeconds = TimePython(script, input);
                if (round == 0)
                {
                    Console.WriteLine($"warm-up round: replay {replaySeconds * 1000:N0} ms (includes JIT), python {pythonSeconds * 1000:N0} ms");
                    continue;
                }

                replay.Add(replaySeconds);
                python.Add(pythonSeconds);
            }

            var replayMedian = Median(replay);
            var pythonMedian = Median(python);
            Console.WriteLine(report);
            Console.WriteLine();
            Console.WriteLine($"replay (parse + validate + detect + write alerts), median  {replayMedian * 1000,8:N0} ms   {lines.Count / replayMedian,12:N0} lines/s");
            Console.WriteLine($"python json.loads per line (parse only), median           {pythonMedian * 1000,8:N0} ms   {lines.Count / pythonMedian,12:N0} lines/s");
            Console.WriteLine($"replay / python = {replayMedian / pythonMedian:N3} (goal: below 0.250)");
            return replayMedian / pythonMedian < 0.25 ? 0 : 1;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static double TimePython(string script, string input)
    {
        var start = new ProcessStartInfo("python3") { RedirectStandardOutput = true, UseShellExecute = false };
        start.ArgumentList.Add(script);
        start.ArgumentList.Add(input);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start python3");
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"python3 failed with exit code {process.ExitCode}");
        }

        return double.Parse(output.Trim(), CultureInfo.InvariantCulture);
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }
}
