using System.Text.Json;
using Microsoft.Azure.Functions.Worker;
using SmartPower.Alerts;
using SmartPower.Cosmos;
using SmartPower.Escalation;
using SmartPower.Notifications;
using SmartPower.Registry;

namespace SmartPower.Functions;

/// <summary>
/// One history entry of an alert as the change feed shows it: the entry and the alert as it was then. An escalation
/// step also carries its reason (<see cref="Note"/>) and whether it raised the alert to the fire station.
/// </summary>
public sealed record AlertChange(string AlertId, string Kind, long AtMs, long StoredAtMs, Alert Alert, string? Actor)
{
    public string? Note { get; init; }

    public bool RaisedToFireStation { get; init; }
}

/// <summary>
/// What is done with the alerts' changes (<see cref="NotifyingAlertChanges"/>). It must be idempotent per (alert, kind,
/// time): the change feed delivers at least once, and a document's history arrives whole each time it changes.
/// </summary>
public interface IAlertChanges
{
    Task HandleAsync(IReadOnlyList<AlertChange> changes, CancellationToken cancellationToken);
}

/// <summary>
/// Notification: the Cosmos DB change feed of the alerts container (leases in <c>leases</c>). The feed shows each
/// changed alert document as it is now (intermediate versions may be folded together), so every entry of its history
/// is handed on, and the handler's idempotence keeps each one to a single notification.
/// </summary>
public sealed class NotificationFunction(IAlertChanges handler)
{
    [Function("notification")]
    public Task RunAsync(
        [CosmosDBTrigger("%SmartPower:Database%", "alerts", Connection = "Cosmos", LeaseContainerName = "leases")] IReadOnlyList<JsonElement> documents,
        CancellationToken cancellationToken) =>
        handler.HandleAsync(ChangesOf(documents), cancellationToken);

    /// <summary>The history entries of changed alert documents, oldest stored first.</summary>
    public static IReadOnlyList<AlertChange> ChangesOf(IReadOnlyList<JsonElement> documents)
    {
        ArgumentNullException.ThrowIfNull(documents);
        var changes = new List<AlertChange>();
        foreach (var doc in documents)
        {
            var id = doc.GetProperty("id").GetString()!;
            foreach (var entry in doc.GetProperty("history").EnumerateArray())
            {
                changes.Add(new AlertChange(
                    id,
                    entry.GetProperty("kind").GetString()!,
                    entry.GetProperty("at").GetInt64(),
                    entry.GetProperty("storedAt").GetInt64(),
                    AlertJson.Parse(entry.GetProperty("alert").GetRawText()),
                    entry.TryGetProperty("actor", out var actor) && actor.ValueKind == JsonValueKind.String ? actor.GetString() : null)
                {
                    Note = entry.TryGetProperty("note", out var note) && note.ValueKind == JsonValueKind.String ? note.GetString() : null,
                    RaisedToFireStation = entry.TryGetProperty("raisedToFireStation", out var raised) && raised.ValueKind == JsonValueKind.True,
                });
            }
        }

        return [.. changes.OrderBy(c => c.StoredAtMs).ThenBy(c => c.AtMs)];
    }
}

/// <summary>
/// The local host's notifier behind the change feed: each engine transition in an alert's history (opened, updated,
/// cleared) and each escalation step (escalated, re-alarmed, with its reason) becomes the notifications the core
/// routes to its recipients (<see cref="Notification.For"/>), added to the Cosmos DB outbox by their deterministic ids
/// (a change delivered again adds nothing) and delivered at once by the outbox dispatcher, signed webhooks as locally;
/// what fails is retried by the <c>outbox</c> timer. The escalation timer adds a step's notifications itself right
/// after recording it; here they are added only if that did not happen (a crash between the two writes,
/// <see cref="CosmosStore.RecordAsync"/>), with the same ids and bodies. People's acts notify nobody. A history entry
/// stored longer ago than the outbox keeps finished notifications (less a day) is not notified again: its notifications
/// went long ago and their records may have expired, so a later change to a long-open alert (an acknowledgement a
/// month on) would otherwise send its first notifications a second time.
/// </summary>
public sealed class NotifyingAlertChanges(DeviceRegistry registry, CosmosStore outbox, OutboxDispatcher dispatcher, TimeProvider? time = null) : IAlertChanges
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    private static readonly HashSet<string> NotifiedKinds = [.. Enum.GetValues<TransitionKind>().Select(AlertNames.Of), EscalationPolicy.Escalated, EscalationPolicy.ReAlarmed];

    public async Task HandleAsync(IReadOnlyList<AlertChange> changes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(changes);
        var oldest = outbox.OutboxRetention > TimeSpan.FromDays(2)
            ? (_time.GetUtcNow() - outbox.OutboxRetention + TimeSpan.FromDays(1)).ToUnixTimeMilliseconds()
            : long.MinValue;
        var notifications = changes.Where(c => NotifiedKinds.Contains(c.Kind) && c.StoredAtMs >= oldest)
            .SelectMany(c => Notification.For(c.Alert, c.Kind, DateTimeOffset.FromUnixTimeMilliseconds(c.AtMs), c.Note, c.RaisedToFireStation, registry))
            .ToList();
        if (notifications.Count == 0)
        {
            return;
        }

        var added = await outbox.AddNotificationsAsync(notifications, cancellationToken).ConfigureAwait(false);
        await dispatcher.DeliverNewAsync(added, cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>The outbox's retries: every 30 seconds, the pending notifications that are due.</summary>
public sealed class OutboxFunction(OutboxDispatcher dispatcher)
{
    [Function("outbox")]
    public Task RunAsync([TimerTrigger("*/30 * * * * *")] TimerInfo timer, CancellationToken cancellationToken) => dispatcher.DeliverDueAsync(cancellationToken);
}
