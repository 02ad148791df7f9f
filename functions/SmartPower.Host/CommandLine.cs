using SmartPower.Registry;
using SmartPower.Replay;

namespace SmartPower.Host;

/// <summary>The operator's command line. A thin shell: it opens files and prints, the core does the work.</summary>
public static class CommandLine
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int Usage = 2;

    private const string Help = """
        SmartPower: electric-safety telemetry pipeline.

        Usage:
          smartpower replay --registry FILE --input FILE --output FILE [--partitions N]
              Runs contract JSON Lines (one MQTT message a line) through the detection engine and
              writes each alert once, in its final state, as JSON Lines. Prints what it read,
              accepted, rejected (by reason) and raised. Use - as --output for standard output;
              an --input ending in .gz is read through gzip.
              Devices are spread over N engines, one thread each (default 2, fixed so that the
              output never depends on the machine).

          smartpower help
        """;

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (args.Length == 0 || args[0] is "help" or "--help" or "-h")
        {
            stdout.WriteLine(Help);
            return args.Length == 0 ? Usage : Ok;
        }

        try
        {
            return args[0] switch
            {
                "replay" => Replay(Options.Parse(args.AsSpan(1), ["--registry", "--input", "--output", "--partitions"]), stdout, stderr),
                _ => throw new UsageException($"unknown command '{args[0]}'"),
            };
        }
        catch (UsageException e)
        {
            stderr.WriteLine($"error: {e.Message}");
            stderr.WriteLine("run 'smartpower help' for usage");
            return Usage;
        }
        catch (RegistryException e)
        {
            stderr.WriteLine($"error: registry: {e.Message}");
            return Failed;
        }
        catch (IOException e)
        {
            stderr.WriteLine($"error: {e.Message}");
            return Failed;
        }
        catch (UnauthorizedAccessException e)
        {
            stderr.WriteLine($"error: {e.Message}");
            return Failed;
        }
    }

    private static int Replay(Options options, TextWriter stdout, TextWriter stderr)
    {
        var registryPath = options.Require("--registry");
        var inputPath = options.Require("--input");
        var outputPath = options.Require("--output");
        var partitions = options.Integer("--partitions", ReplayRunner.DefaultPartitions, 1, 64);
        var registry = RegistryLoader.Load(registryPath);
        if (!File.Exists(inputPath))
        {
            throw new IOException($"input file '{inputPath}' does not exist");
        }

        using var file = new FileStream(inputPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        using Stream input = inputPath.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)
            ? new System.IO.Compression.GZipStream(file, System.IO.Compression.CompressionMode.Decompress)
            : file;
        var toStdout = outputPath == "-";
        using var output = toStdout ? Console.OpenStandardOutput() : new FileStream(outputPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        var progress = new SynchronousProgress(r => stderr.WriteLine($"  ... {r.Lines:N0} lines, {r.ReadingsPerSecond:N0} readings/s"));
        var report = ReplayRunner.Run(registry, input, output, progress, partitions: partitions);
        (toStdout ? stderr : stdout).WriteLine(report.ToString());
        if (!toStdout)
        {
            stdout.WriteLine($"alerts written to {outputPath}");
        }

        return Ok;
    }

    /// <summary>Reports on the caller's thread, in order (Progress&lt;T&gt; would post to the thread pool).</summary>
    private sealed class SynchronousProgress(Action<ReplayReport> report) : IProgress<ReplayReport>
    {
        public void Report(ReplayReport value) => report(value);
    }
}

/// <summary>A mistake in how the command was called.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary><c>--name value</c> pairs, checked against the names a command knows.</summary>
internal sealed class Options
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

    public static Options Parse(ReadOnlySpan<string> args, string[] known)
    {
        var options = new Options();
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i];
            if (Array.IndexOf(known, name) < 0)
            {
                throw new UsageException($"unknown option '{name}' (expected {string.Join(", ", known)})");
            }

            if (i + 1 >= args.Length || (args[i + 1].StartsWith("--", StringComparison.Ordinal) && args[i + 1].Length > 2))
            {
                throw new UsageException($"option '{name}' needs a value");
            }

            if (!options._values.TryAdd(name, args[++i]))
            {
                throw new UsageException($"option '{name}' is given twice");
            }
        }

        return options;
    }

    public int Integer(string name, int fallback, int min, int max)
    {
        if (!_values.TryGetValue(name, out var text))
        {
            return fallback;
        }

        return int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw new UsageException($"option '{name}' must be a whole number from {min} to {max}, not '{text}'");
    }

    public string Require(string name) =>
        _values.TryGetValue(name, out var value) ? value : throw new UsageException($"missing required option '{name}'");
}
