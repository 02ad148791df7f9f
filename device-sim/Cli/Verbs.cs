using System.Text.Json;
using SmartPower.DeviceSim.Contract;
using SmartPower.DeviceSim.Simulation;

namespace SmartPower.DeviceSim.Cli;

/// <summary>The simulator's verbs: <c>generate</c>, <c>run</c>, <c>score</c>. Exit codes: 0 done, 1 failed or below thresholds, 2 bad arguments or input files.</summary>
public static class Verbs
{
    private const string VerbUsage = "usage: dotnet run -c Release --project device-sim -- ";

    private const string Usage =
        VerbUsage + "<verb> [options]\n\n" +
        GenerateCommand.Usage + "\n" + RunCommand.Usage + "\n" + ScoreCommand.Usage;

    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        try
        {
            var rest = args.Skip(1).ToList();
            if (rest.Any(a => a is "--help" or "-h"))
            {
                return Help(stdout, args[0]);
            }

            return args.FirstOrDefault() switch
            {
                "generate" => GenerateCommand.Run(rest, stdout),
                "run" => await RunCommand.RunAsync(rest, stdout, time, cancellationToken).ConfigureAwait(false),
                "score" => ScoreCommand.Run(rest, stdout),
                "help" or "--help" or "-h" => Help(stdout),
                null => throw new UsageException("no verb given"),
                var verb => throw new UsageException($"unknown verb \"{verb}\""),
            };
        }
        catch (UsageException e)
        {
            await stderr.WriteLineAsync($"device-sim: {e.Message}\n\n{Usage}").ConfigureAwait(false);
            return 2;
        }
        catch (Exception e) when (e is ScenarioException or RegistryFormatException or InputFileException or FormatException or JsonException
            or IOException or UnauthorizedAccessException)
        {
            await stderr.WriteLineAsync($"device-sim: {e.Message}").ConfigureAwait(false);
            return 2;
        }
    }

    /// <summary>The usage of <paramref name="verb"/> (<c>device-sim run --help</c>), or of every verb.</summary>
    private static int Help(TextWriter stdout, string? verb = null)
    {
        stdout.Write(verb switch
        {
            "generate" => VerbUsage + GenerateCommand.Usage,
            "run" => VerbUsage + RunCommand.Usage,
            "score" => VerbUsage + ScoreCommand.Usage,
            _ => Usage,
        });
        return 0;
    }
}
