using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Azure.Cosmos;
using SmartPower.Alerts;
using SmartPower.Escalation;
using SmartPower.Notifications;

namespace SmartPower.Cosmos;

/// <summary>
/// Escalation's side of the Cosmos DB store, the same port as SQLite's: the open alerts that may still have a step
/// (one query, off the hot path: the escalation timer's), and each step written into the alert's history once.
/// <para>
/// The alert document carries what the query filters on beside the history: <c>escalatedAt</c> and <c>reAlarmedAt</c>
/// (the step's due time, written in the same replace as its history entry, so the two never disagree),
/// <c>acknowledgedAt</c> (people's acts) and <c>raisedToStationAt</c> (the first step that raised it to the fire
/// station, which puts it in the station's listing). All are absent until set, never null.
/// </para>
/// <para>
/// <b>Crash safety without a transaction.</b> Cosmos DB has no transaction across the <c>alerts</c> and <c>outbox</c>
/// containers, so <see cref="RecordAsync"/> writes in this order: (1) the history entry, <c>escalatedAt</c> or
/// <c>reAlarmedAt</c> and <c>raisedToStationAt</c>, in one replace of the alert document under its ETag (a concurrent
/// pass that wrote first makes this one re-read, find the step and return false: one pass records it); then (2) the
/// notifications, each created only if absent under its deterministic id (hash of alert, kind, time, recipient).
/// A crash between (1) and (2) leaves the step recorded and some or none of its notifications in the outbox. The
/// alert document's change is what recovers them: the change feed delivers every changed alert document at least
/// once, and the notification function makes the same notifications (same ids, same bodies) from an escalation
/// history entry, which holds the alert as escalation saw it, the reason (<c>note</c>) and <c>raisedToFireStation</c>
/// (<c>NotifyingAlertChanges</c> in the Functions app); what is there already is not added again. Nothing is lost and
/// nothing is duplicated, and the next escalation pass does not take the step again (the document says it was taken).
/// </para>
/// <para>
/// The other order (notifications first, then the history) was not taken: after a crash between the two, a rerun
/// finishes the step only if the policy still computes it, and an alert acknowledged or cleared in between would keep
/// notifications that were sent with no step in its history and no <c>raisedToStationAt</c>.
/// </para>
/// </summary>
public sealed partial class CosmosStore : IEscalationStore
{
    private const string EscalatedAt = "escalatedAt";
    private const string ReAlarmedAt = "reAlarmedAt";
    private const string RaisedToStationAt = "raisedToStationAt";

    /// <summary>
    /// The escalation timer's query, the same condition as the SQLite store's: open alerts not yet re-alarmed that are
    /// either acknowledged (a re-alarm may come) or warnings not yet escalated. It returns only the fields escalation
    /// reads (no history). Indexed on <c>alerts</c>: <c>state</c> (the equality that narrows it to open alerts, a few
    /// at a time), <c>severity</c>, <c>acknowledgedAt</c>, <c>escalatedAt</c>, <c>reAlarmedAt</c>.
    /// </summary>
    public static QueryDefinition WatchesQuery() =>
        new QueryDefinition(
            "SELECT c.alert, c.storedAt, c.acknowledgedAt, c.escalatedAt, c.reAlarmedAt FROM c"
            + " WHERE c.state = @open AND NOT IS_DEFINED(c.reAlarmedAt)"
            + " AND (IS_DEFINED(c.acknowledgedAt) OR (c.severity = @warning AND NOT IS_DEFINED(c.escalatedAt)))")
            .WithParameter("@open", AlertNames.Of(AlertState.Open))
            .WithParameter("@warning", AlertNames.Of(Severity.Warning));

    public async Task<IReadOnlyList<AlertWatch>> GetWatchesAsync(CancellationToken cancellationToken)
    {
        var watches = new List<AlertWatch>();
        using var iterator = _alerts.GetItemQueryStreamIterator(WatchesQuery(), requestOptions: new QueryRequestOptions { MaxItemCount = 1000 });
        while (iterator.HasMoreResults)
        {
            using var page = await iterator.ReadNextAsync(cancellationToken).ConfigureAwait(false);
            Charges.Add("alert.watches", page.Headers.RequestCharge, 0);
            if (page.StatusCode == HttpStatusCode.NotFound)
            {
                break;
            }

            page.EnsureSuccessStatusCode();
            using var json = await JsonDocument.ParseAsync(page.Content, cancellationToken: cancellationToken).ConfigureAwait(false);
            watches.AddRange(json.RootElement.GetProperty("Documents").EnumerateArray().Select(WatchOf).OfType<AlertWatch>());
        }

        return watches;
    }

    /// <summary>
    /// An alert document (or the query's projection of one) as escalation sees it, or null when it has no step left to
    /// take: the query's own condition, applied again to what it returns (and by tests to documents read by id, since
    /// the test server runs no SQL).
    /// </summary>
    public static AlertWatch? WatchOf(JsonElement document)
    {
        static long? Time(JsonElement root, string name) =>
            root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt64() : null;
        var alert = AlertJson.Parse(document.GetProperty("alert").GetRawText());
        var acknowledged = Time(document, "acknowledgedAt");
        var escalated = Time(document, EscalatedAt) is not null;
        var reAlarmed = Time(document, ReAlarmedAt) is not null;
        var watched = alert.State == AlertState.Open && !reAlarmed && (acknowledged is not null || (alert.Severity == Severity.Warning && !escalated));
        return watched
            ? new AlertWatch(alert, DateTimeOffset.FromUnixTimeMilliseconds(document.GetProperty("storedAt").GetInt64()), acknowledged is { } a ? DateTimeOffset.FromUnixTimeMilliseconds(a) : null, escalated, reAlarmed)
            : null;
    }

    /// <summary>
    /// Records the step in the alert's history, then adds its notifications (see the type's remarks for why in this
    /// order and how a crash between the two is recovered). False, writing nothing, when the history already holds the
    /// step (or the alert is not stored).
    /// </summary>
    public async Task<IReadOnlyList<Notification>?> RecordAsync(EscalationStep step, IReadOnlyList<Notification> notifications, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(step);
        ArgumentNullException.ThrowIfNull(notifications);
        var id = step.Alert.AlertId;
        var atMs = step.At.ToUnixTimeMilliseconds();
        for (var attempt = 0; attempt < MaxRetries; attempt++)
        {
            using var doc = await ReadAsync(_alerts, id, id, "alert.read", cancellationToken).ConfigureAwait(false);
            if (doc is null)
            {
                return null;
            }

            var node = JsonNode.Parse(doc.Json.RootElement.GetRawText())!.AsObject();
            var history = node["history"]!.AsArray();
            if (history.Any(h => h!["kind"]!.GetValue<string>() == step.Kind && h["at"]!.GetValue<long>() == atMs))
            {
                return null;
            }

            history.Add(new JsonObject
            {
                ["kind"] = step.Kind,
                ["at"] = atMs,
                ["storedAt"] = Stamp(),
                ["alert"] = JsonNode.Parse(AlertJson.ToJson(step.Alert)),
                ["note"] = step.Reason,
                ["raisedToFireStation"] = step.RaisedToFireStation,
            });
            node[step.Kind == EscalationPolicy.ReAlarmed ? ReAlarmedAt : EscalatedAt] = atMs;
            if (step.RaisedToFireStation && node[RaisedToStationAt] is null)
            {
                node[RaisedToStationAt] = atMs;
            }

            if (await WriteIfAsync(_alerts, id, id, Json(node), doc.ETag, "alert.write", cancellationToken).ConfigureAwait(false) is not null)
            {
                // The change feed may have seen the history entry and added (and delivered) some of them first.
                return await AddNotificationsAsync(notifications, cancellationToken).ConfigureAwait(false);
            }
        }

        throw new InvalidOperationException($"alert {id} kept changing while '{step.Kind}' was recorded");
    }
}
