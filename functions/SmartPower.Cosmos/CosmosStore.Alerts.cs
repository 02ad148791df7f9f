using System.Text.Json;
using System.Text.Json.Nodes;
using SmartPower.Alerts;
using SmartPower.Pipeline;

namespace SmartPower.Cosmos;

/// <summary>
/// Alerts: one document per incident, id = the deterministic alertId, holding the alert as the contract writes it,
/// the fields the API filters on, what people did, and the history (engine transitions and people's acts). A batch's
/// transitions of one alert are merged in one read and at most one write under the ETag: the alert's fields move only
/// forward in event time, a history entry (kind, time) is added once, and a batch delivered again reads and writes nothing.
/// </summary>
public sealed partial class CosmosStore
{
    private const int MaxRetries = 16;

    /// <summary>One alert as stored, or null: a point read.</summary>
    public async Task<StoredAlert?> GetAlertAsync(string alertId, CancellationToken cancellationToken = default)
    {
        using var doc = await ReadAsync(_alerts, alertId, alertId, "alert.read", cancellationToken).ConfigureAwait(false);
        return doc is null ? null : StoredAlertOf(doc.Json.RootElement);
    }

    /// <summary>One alert's history, in the order it was stored: a point read.</summary>
    public async Task<IReadOnlyList<StoredTransition>> GetTransitionsAsync(string alertId, CancellationToken cancellationToken = default)
    {
        using var doc = await ReadAsync(_alerts, alertId, alertId, "alert.read", cancellationToken).ConfigureAwait(false);
        if (doc is null)
        {
            return [];
        }

        return
        [
            .. doc.Json.RootElement.GetProperty("history").EnumerateArray()
                .Select(e => new StoredTransition(
                    e.GetProperty("kind").GetString()!,
                    DateTimeOffset.FromUnixTimeMilliseconds(e.GetProperty("at").GetInt64()),
                    AlertJson.Parse(e.GetProperty("alert").GetRawText()),
                    DateTimeOffset.FromUnixTimeMilliseconds(e.GetProperty("storedAt").GetInt64()))
                {
                    Actor = e.TryGetProperty("actor", out var actor) ? actor.GetString() : null,
                    Note = e.TryGetProperty("note", out var note) ? note.GetString() : null,
                })
                .OrderBy(t => t.StoredAt).ThenBy(t => t.At).ThenBy(t => t.Kind, StringComparer.Ordinal),
        ];
    }

    /// <summary>A person acknowledges an alert: recorded once (a second acknowledgement changes nothing) in its history.</summary>
    public Task<HumanActOutcome> AcknowledgeAsync(string alertId, string actor, string? note, CancellationToken cancellationToken = default) =>
        ActAsync(alertId, "acknowledged", actor, note, cancellationToken);

    /// <summary>A person resolves an alert (the hazard dealt with): recorded once in its history; it also counts as acknowledged.</summary>
    public Task<HumanActOutcome> ResolveAsync(string alertId, string actor, string? note, CancellationToken cancellationToken = default) =>
        ActAsync(alertId, "resolved", actor, note, cancellationToken);

    private async Task WriteTransitionsAsync(IReadOnlyList<AlertTransition> transitions, CancellationToken cancellationToken)
    {
        var byAlert = transitions.GroupBy(t => t.Alert.AlertId, StringComparer.Ordinal).Select(g => g.ToArray()).ToArray();
        await ForEachAsync(byAlert, MergeAsync, cancellationToken).ConfigureAwait(false);
    }

    private async Task MergeAsync(AlertTransition[] transitions, CancellationToken cancellationToken)
    {
        var id = transitions[0].Alert.AlertId;
        for (var attempt = 0; attempt < MaxRetries; attempt++)
        {
            using var doc = await ReadAsync(_alerts, id, id, "alert.read", cancellationToken).ConfigureAwait(false);
            var now = Stamp();
            var node = doc is null ? NewAlertNode(transitions[0].Alert, now) : JsonNode.Parse(doc.Json.RootElement.GetRawText())!.AsObject();
            var history = node["history"]!.AsArray();
            var changed = doc is null;
            foreach (var t in transitions)
            {
                var kind = AlertNames.Of(t.Kind);
                var alertNode = JsonNode.Parse(AlertJson.ToJson(t.Alert))!;
                if (!history.Any(h => h!["kind"]!.GetValue<string>() == kind && h["at"]!.GetValue<long>() == t.AtMs))
                {
                    history.Add(new JsonObject { ["kind"] = kind, ["at"] = t.AtMs, ["storedAt"] = now, ["alert"] = alertNode.DeepClone() });
                    changed = true;
                }

                // Forward only: a transition older than the one the document shows (a replay from an older checkpoint)
                // goes into the history but never turns the alert back.
                if (t.AtMs >= node["updatedAt"]!.GetValue<long>() && !JsonNode.DeepEquals(node["alert"], alertNode))
                {
                    SetAlertFields(node, t.Alert, t.AtMs, alertNode);
                    changed = true;
                }
            }

            if (!changed)
            {
                return;
            }

            if (await WriteIfAsync(_alerts, id, id, Json(node), doc?.ETag, "alert.write", cancellationToken).ConfigureAwait(false) is not null)
            {
                return;
            }
        }

        throw new InvalidOperationException($"alert {id} kept changing while its transitions were stored");
    }

    private static JsonObject NewAlertNode(Alert alert, long now)
    {
        var node = new JsonObject
        {
            ["id"] = alert.AlertId,
            ["siteId"] = alert.SiteId,
            ["deviceId"] = alert.DeviceId,
            ["type"] = AlertNames.Of(alert.Type),
            ["port"] = alert.Port,
            ["storedAt"] = now,
            ["updatedAt"] = long.MinValue,
            ["history"] = new JsonArray(),
        };
        return node;
    }

    private static void SetAlertFields(JsonObject node, Alert alert, long atMs, JsonNode alertNode)
    {
        node["severity"] = AlertNames.Of(alert.Severity);
        node["state"] = AlertNames.Of(alert.State);
        node["openedAt"] = alert.OpenedAt.ToUnixTimeMilliseconds();
        node["clearedAt"] = alert.ClearedAt?.ToUnixTimeMilliseconds();
        node["updatedAt"] = atMs;
        node["alert"] = alertNode.DeepClone();
    }

    private async Task<HumanActOutcome> ActAsync(string alertId, string kind, string actor, string? note, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(actor);
        for (var attempt = 0; attempt < MaxRetries; attempt++)
        {
            using var doc = await ReadAsync(_alerts, alertId, alertId, "alert.read", cancellationToken).ConfigureAwait(false);
            if (doc is null)
            {
                return HumanActOutcome.NotFound;
            }

            var node = JsonNode.Parse(doc.Json.RootElement.GetRawText())!.AsObject();
            if (node[kind + "At"] is not null)
            {
                return HumanActOutcome.AlreadyDone;
            }

            var now = Stamp();
            node[kind + "At"] = now;
            node[kind + "By"] = actor;
            if (kind == "resolved" && node["acknowledgedAt"] is null)
            {
                node["acknowledgedAt"] = now;
                node["acknowledgedBy"] = actor;
            }

            node["history"]!.AsArray().Add(new JsonObject
            {
                ["kind"] = kind,
                ["at"] = now,
                ["storedAt"] = now,
                ["alert"] = node["alert"]!.DeepClone(),
                ["actor"] = actor,
                ["note"] = note,
            });
            if (await WriteIfAsync(_alerts, alertId, alertId, Json(node), doc.ETag, "alert.write", cancellationToken).ConfigureAwait(false) is not null)
            {
                return HumanActOutcome.Done;
            }
        }

        throw new InvalidOperationException($"alert {alertId} kept changing while '{kind}' was recorded");
    }

    private static StoredAlert StoredAlertOf(JsonElement root)
    {
        static DateTimeOffset? Time(JsonElement root, string name) =>
            root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? DateTimeOffset.FromUnixTimeMilliseconds(v.GetInt64()) : null;
        static string? Text(JsonElement root, string name) =>
            root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        return new StoredAlert(AlertJson.Parse(root.GetProperty("alert").GetRawText()), DateTimeOffset.FromUnixTimeMilliseconds(root.GetProperty("storedAt").GetInt64()))
        {
            AcknowledgedAt = Time(root, "acknowledgedAt"),
            AcknowledgedBy = Text(root, "acknowledgedBy"),
            ResolvedAt = Time(root, "resolvedAt"),
            ResolvedBy = Text(root, "resolvedBy"),
            RaisedToStationAt = Time(root, RaisedToStationAt),
        };
    }
}
