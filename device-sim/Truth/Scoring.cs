using System.Globalization;
using System.Text;
using System.Text.Json;

namespace SmartPower.DeviceSim.Truth;

/// <summary>An alert as the scorer sees it (parsed from contract alert JSON).</summary>
public sealed record ScoredAlert(string AlertId, string Type, string? Severity, string DeviceId, int? Port, DateTimeOffset OpenedAt);

/// <summary>An incident and the alert that matched it; latency = openedAt - start (may be slightly negative).</summary>
public sealed record IncidentMatch(GroundTruthIncident Incident, ScoredAlert Alert)
{
    public TimeSpan Latency => Alert.OpenedAt - Incident.Start;
}

/// <summary>One row of the report: how one alert type fared.</summary>
public sealed record TypeScore(string Type, int Incidents, int Found, int FalseAlerts, TimeSpan? MedianLatency, TimeSpan? P90Latency)
{
    /// <summary>Found / incidents, or 1 when there were no incidents of this type.</summary>
    public double Recall => Incidents == 0 ? 1.0 : (double)Found / Incidents;
}

/// <summary>Result of scoring alerts against ground truth.</summary>
public sealed class ScoreReport
{
    internal ScoreReport(IReadOnlyList<TypeScore> byType, IReadOnlyList<IncidentMatch> matches, IReadOnlyList<ScoredAlert> unmatched,
        IReadOnlyList<GroundTruthIncident> missed, int alerts, int incidents)
    {
        ByType = byType;
        Matches = matches;
        UnmatchedAlerts = unmatched;
        MissedIncidents = missed;
        Alerts = alerts;
        Incidents = incidents;
    }

    /// <summary>Rows in contract type order, then any other types seen.</summary>
    public IReadOnlyList<TypeScore> ByType { get; }

    public IReadOnlyList<IncidentMatch> Matches { get; }

    /// <summary>False alerts: no incident matched them (including a second alert for an already matched incident).</summary>
    public IReadOnlyList<ScoredAlert> UnmatchedAlerts { get; }

    public IReadOnlyList<GroundTruthIncident> MissedIncidents { get; }

    public int Alerts { get; }

    public int Incidents { get; }

    public int Found => Matches.Count;

    /// <summary>Matched incidents / incidents (1 when there are none).</summary>
    public double Recall => Incidents == 0 ? 1.0 : (double)Found / Incidents;

    /// <summary>Matched alerts / alerts (1 when there are none).</summary>
    public double Precision => Alerts == 0 ? 1.0 : (double)Found / Alerts;

    /// <summary>The row for <paramref name="type"/> (an empty row when the type never appeared).</summary>
    public TypeScore For(string type) => ByType.FirstOrDefault(r => r.Type == type) ?? new TypeScore(type, 0, 0, 0, null, null);

    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{"type",-18} {"incidents",9} {"found",6} {"false",6} {"recall",7} {"median",9} {"p90",9}\n");
        foreach (var r in ByType)
        {
            sb.Append(CultureInfo.InvariantCulture,
                $"{r.Type,-18} {r.Incidents,9} {r.Found,6} {r.FalseAlerts,6} {r.Recall,7:P0} {Fmt(r.MedianLatency),9} {Fmt(r.P90Latency),9}\n");
        }

        sb.Append(CultureInfo.InvariantCulture,
            $"{"all",-18} {Incidents,9} {Found,6} {UnmatchedAlerts.Count,6} {Recall,7:P0}   precision {Precision:P1} ({Alerts} alerts)\n");
        return sb.ToString();
    }

    private static string Fmt(TimeSpan? t) => t is not { } v ? "-" : Math.Abs(v.TotalSeconds) < 600
        ? string.Create(CultureInfo.InvariantCulture, $"{v.TotalSeconds:F0}s")
        : string.Create(CultureInfo.InvariantCulture, $"{v.TotalMinutes:F1}m");
}

/// <summary>
/// The contract's matching rule: an alert matches an incident when type, device and port agree and
/// openedAt falls within [start - 1 min, end + 10 min]; each incident is matched at most once and each
/// alert at most once; detection latency is openedAt - start.
/// </summary>
public static class Scoring
{
    public static readonly TimeSpan EarlySlack = TimeSpan.FromMinutes(1);
    public static readonly TimeSpan LateSlack = TimeSpan.FromMinutes(10);

    public static readonly IReadOnlyList<string> AlertTypes =
        ["overload", "illegal-charging", "port-overpower", "leakage", "overtemperature", "arc-fault", "offline"];

    /// <summary>Scores contract alert JSON lines (blank lines skipped; repeated alertIds counted once) against ground truth.</summary>
    public static ScoreReport Score(IEnumerable<string> alertJsonLines, IEnumerable<GroundTruthIncident> truth)
    {
        ArgumentNullException.ThrowIfNull(alertJsonLines);
        ArgumentNullException.ThrowIfNull(truth);
        var alerts = new List<ScoredAlert>();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        var lineNo = 0;
        foreach (var line in alertJsonLines)
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            var alert = ParseAlert(line, lineNo);
            if (ids.Add(alert.AlertId))
            {
                alerts.Add(alert);
            }
        }

        return Score(alerts, truth);
    }

    /// <summary>Scores already parsed alerts.</summary>
    public static ScoreReport Score(IEnumerable<ScoredAlert> alerts, IEnumerable<GroundTruthIncident> truth)
    {
        ArgumentNullException.ThrowIfNull(alerts);
        ArgumentNullException.ThrowIfNull(truth);
        var alertList = alerts.ToList();
        var incidents = truth.ToList();
        var matches = new List<IncidentMatch>();
        var usedAlerts = new HashSet<ScoredAlert>(ReferenceEqualityComparer.Instance);
        var alertsByKey = alertList.GroupBy(a => (a.Type, a.DeviceId, a.Port))
            .ToDictionary(g => g.Key, g => g.OrderBy(a => a.OpenedAt).ToList());

        // Per key this is interval-point matching: taking incidents by the end of their acceptance window
        // and giving each the earliest unused alert inside it matches as many pairs as any assignment can.
        foreach (var group in incidents.GroupBy(i => (i.Type, i.DeviceId, i.Port)))
        {
            if (!alertsByKey.TryGetValue(group.Key, out var candidates))
            {
                continue;
            }

            foreach (var incident in group.OrderBy(i => i.End).ThenBy(i => i.Start))
            {
                var lo = incident.Start - EarlySlack;
                var hi = incident.End + LateSlack;
                var pick = candidates.FirstOrDefault(a => !usedAlerts.Contains(a) && a.OpenedAt >= lo && a.OpenedAt <= hi);
                if (pick is not null)
                {
                    usedAlerts.Add(pick);
                    matches.Add(new IncidentMatch(incident, pick));
                }
            }
        }

        var matchedIncidents = new HashSet<GroundTruthIncident>(matches.Select(m => m.Incident), ReferenceEqualityComparer.Instance);
        var missed = incidents.Where(i => !matchedIncidents.Contains(i)).OrderBy(i => i.Start).ToList();
        var unmatched = alertList.Where(a => !usedAlerts.Contains(a)).OrderBy(a => a.OpenedAt).ToList();

        var types = AlertTypes.Concat(incidents.Select(i => i.Type)).Concat(alertList.Select(a => a.Type))
            .Distinct(StringComparer.Ordinal).ToList();
        var rows = types.Select(t =>
        {
            var latencies = matches.Where(m => m.Incident.Type == t).Select(m => m.Latency).OrderBy(x => x).ToList();
            return new TypeScore(t, incidents.Count(i => i.Type == t), latencies.Count, unmatched.Count(a => a.Type == t),
                Median(latencies), Percentile(latencies, 0.9));
        }).ToList();

        return new ScoreReport(rows, matches.OrderBy(m => m.Incident.Start).ToList(), unmatched, missed, alertList.Count, incidents.Count);
    }

    /// <summary>Parses one contract alert JSON object.</summary>
    public static ScoredAlert ParseAlert(string json, int lineNo = 0)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            var type = root.GetProperty("type").GetString() ?? throw new FormatException("type is null");
            var device = root.GetProperty("deviceId").GetString() ?? throw new FormatException("deviceId is null");
            int? port = root.TryGetProperty("port", out var p) && p.ValueKind == JsonValueKind.Number ? p.GetInt32() : null;
            var opened = GroundTruthIncident.ParseTime(root.GetProperty("openedAt").GetString());
            var id = root.TryGetProperty("alertId", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString()! :
                string.Create(CultureInfo.InvariantCulture, $"line-{lineNo}");
            var severity = root.TryGetProperty("severity", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
            return new ScoredAlert(id, type, severity, device, port, opened);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new FormatException(string.Create(CultureInfo.InvariantCulture, $"alert line {lineNo} is not a contract alert: {e.Message}"), e);
        }
    }

    /// <summary>Reads ground-truth JSON Lines (blank lines skipped).</summary>
    public static IReadOnlyList<GroundTruthIncident> ReadGroundTruth(IEnumerable<string> lines)
    {
        ArgumentNullException.ThrowIfNull(lines);
        return lines.Where(l => !string.IsNullOrWhiteSpace(l)).Select(GroundTruthIncident.Parse).ToList();
    }

    private static TimeSpan? Median(List<TimeSpan> sorted)
    {
        if (sorted.Count == 0)
        {
            return null;
        }

        var mid = sorted.Count / 2;
        return sorted.Count % 2 == 1 ? sorted[mid] : TimeSpan.FromTicks((sorted[mid - 1].Ticks + sorted[mid].Ticks) / 2);
    }

    /// <summary>Nearest-rank percentile.</summary>
    private static TimeSpan? Percentile(List<TimeSpan> sorted, double q)
    {
        if (sorted.Count == 0)
        {
            return null;
        }

        var rank = (int)Math.Ceiling(q * sorted.Count);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Count - 1)];
    }
}
