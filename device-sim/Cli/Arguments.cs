using System.Globalization;

namespace SmartPower.DeviceSim.Cli;

/// <summary>The command line is wrong; exit code 2 with this message and the usage.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>
/// A verb's <c>--name value</c> options and <c>--flag</c> switches. Every name must be one the verb knows,
/// and every value is checked when it is read, so a mistake is reported rather than ignored.
/// </summary>
internal sealed class Arguments
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _flags = new(StringComparer.Ordinal);

    private Arguments()
    {
    }

    public static Arguments Parse(IReadOnlyList<string> args, IReadOnlyCollection<string> options, IReadOnlyCollection<string> flags)
    {
        var parsed = new Arguments();
        for (var i = 0; i < args.Count; i++)
        {
            var a = args[i];
            if (!a.StartsWith("--", StringComparison.Ordinal))
            {
                throw new UsageException($"unexpected argument \"{a}\"");
            }

            var name = a[2..];
            if (flags.Contains(name))
            {
                parsed._flags.Add(name);
            }
            else if (options.Contains(name))
            {
                if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                {
                    throw new UsageException($"--{name} needs a value");
                }

                if (!parsed._values.TryAdd(name, args[++i]))
                {
                    throw new UsageException($"--{name} is given twice");
                }
            }
            else
            {
                throw new UsageException($"unknown option --{name}");
            }
        }

        return parsed;
    }

    public bool Has(string name) => _flags.Contains(name) || _values.ContainsKey(name);

    public string? String(string name) => _values.GetValueOrDefault(name);

    public string Required(string name) => String(name) ?? throw new UsageException($"--{name} is required");

    public int? Int(string name, int min, int max)
    {
        if (String(name) is not { } text)
        {
            return null;
        }

        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= min && v <= max
            ? v
            : throw new UsageException($"--{name} must be a whole number in {min}-{max}, not \"{text}\"");
    }

    public double? Double(string name, double min, double max)
    {
        if (String(name) is not { } text)
        {
            return null;
        }

        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v >= min && v <= max
            ? v
            : throw new UsageException($"--{name} must be a number in {min.ToString(CultureInfo.InvariantCulture)}-{max.ToString(CultureInfo.InvariantCulture)}, not \"{text}\"");
    }

    public DateTimeOffset? Time(string name)
    {
        if (String(name) is not { } text)
        {
            return null;
        }

        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var v)
            ? v
            : throw new UsageException($"--{name} must be an RFC 3339 time such as 2026-11-26T10:00:00Z, not \"{text}\"");
    }
}
