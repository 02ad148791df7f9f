using System.Globalization;
using System.Text.Json;
using SmartPower.DeviceSim.Truth;

namespace SmartPower.DeviceSim.Cli;

/// <summary><c>score</c>: alerts against ground truth by the contract's matching rule; exit 1 below the thresholds.</summary>
internal static class ScoreCommand
{
    public const string Usage =
        "score --truth FILE --alerts FILE [--min-recall R] [--min-precision P]\n" +
        "  --alerts: JSON Lines as replay writes them, a JSON array of alerts, or the status API's pages of alerts\n" +
        "  exit code 1 when overall recall or precision is below its threshold\n";

    public static int Run(IReadOnlyList<string> argv, TextWriter stdout)
    {
        var args = Arguments.Parse(argv, ["truth", "alerts", "min-recall", "min-precision"], []);
        var truthPath = args.Required("truth");
        var alertsPath = args.Required("alerts");
        var minRecall = args.Double("min-recall", 0, 1);
        var minPrecision = args.Double("min-precision", 0, 1);
        var truth = ReadTruth(truthPath);
        var report = Scoring.Score(ReadAlerts(alertsPath), truth);
        stdout.Write(report.ToString());
        var failures = new List<string>();
        if (minRecall is { } r && report.Recall < r)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"recall {report.Recall:F3} is below {r}"));
        }

        if (minPrecision is { } p && report.Precision < p)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"precision {report.Precision:F3} is below {p}"));
        }

        stdout.Write(string.Create(CultureInfo.InvariantCulture, $"recall {report.Recall:F3}, precision {report.Precision:F3}"));
        stdout.WriteLine(failures.Count == 0 ? "" : ": FAIL, " + string.Join("; ", failures));
        return failures.Count == 0 ? 0 : 1;
    }

    private static IReadOnlyList<GroundTruthIncident> ReadTruth(string path)
    {
        var lineNo = 0;
        var incidents = new List<GroundTruthIncident>();
        foreach (var line in File.ReadLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            try
            {
                incidents.Add(GroundTruthIncident.Parse(line));
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
            {
                throw new InputFileException($"{path}:{lineNo}: not a ground-truth line ({e.Message})");
            }
        }

        return incidents;
    }

    /// <summary>
    /// Alert JSON Lines as replay writes them; one JSON array of alerts; or what the status API serves, one or more
    /// pages (<c>{"items":[...],"continuationToken":...}</c>) one after another, as curl saves them.
    /// </summary>
    private static IEnumerable<string> ReadAlerts(string path)
    {
        var text = File.ReadAllText(path);
        var start = text.TrimStart();
        if (start.StartsWith('{') && Pages(path, text) is { } paged)
        {
            return paged;
        }

        if (!start.StartsWith('['))
        {
            return text.Split('\n');
        }

        try
        {
            using var doc = JsonDocument.Parse(text);
            return doc.RootElement.EnumerateArray().Select(e => e.GetRawText()).ToList();
        }
        catch (JsonException e)
        {
            throw new InputFileException($"{path}: not a JSON array of alerts ({e.Message})");
        }
    }

    /// <summary>The alerts of the status API pages in the text, or null when its first value is not a page (an alert line).</summary>
    private static List<string>? Pages(string path, string text)
    {
        var reader = new Utf8JsonReader(System.Text.Encoding.UTF8.GetBytes(text), new JsonReaderOptions { AllowMultipleValues = true });
        var alerts = new List<string>();
        var pages = 0;
        try
        {
            while (reader.Read())
            {
                using var page = JsonDocument.ParseValue(ref reader);
                if (page.RootElement.ValueKind != JsonValueKind.Object || !page.RootElement.TryGetProperty("items", out var items))
                {
                    return pages == 0 ? null : throw new InputFileException($"{path}: value {pages + 1} is not a page of alerts (no \"items\")");
                }

                if (items.ValueKind != JsonValueKind.Array)
                {
                    throw new InputFileException($"{path}: page {pages + 1}: \"items\" is not an array");
                }

                alerts.AddRange(items.EnumerateArray().Select(e => e.GetRawText()));
                pages++;
            }
        }
        catch (JsonException e)
        {
            // Not JSON from the start: left to the line reader, whose message names the line.
            return pages == 0 ? null : throw new InputFileException($"{path}: after page {pages}: not JSON ({e.Message})");
        }

        return alerts;
    }
}

/// <summary>An input file cannot be used; exit code 2 with this message.</summary>
public sealed class InputFileException(string message) : Exception(message);
