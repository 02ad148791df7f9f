using System.Text.Json;
using Microsoft.Azure.Functions.Worker;
using SmartPower.Alerts;

namespace SmartPower.Functions;

/// <summary>One history entry of an alert as the change feed shows it: the entry and the alert as it was then.</summary>
public sealed record AlertChange(string AlertId, string Kind, long AtMs, long StoredAtMs, Alert Alert, string? Actor);

/// <summary>
/// What is done with the alerts' changes: the seam where the local host's notifier (webhooks from a persisted outbox,
/// issue 5's <c>notify</c> branch) plugs in. It must be idempotent per (alert, kind, time): the change feed delivers at
/// least once, and a document's history arrives whole each time it changes.
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
                    entry.TryGetProperty("actor", out var actor) && actor.ValueKind == JsonValueKind.String ? actor.GetString() : null));
            }
        }

        return [.. changes.OrderBy(c => c.StoredAtMs).ThenBy(c => c.AtMs)];
    }
}

/// <summary>Until the notifier is merged in: each change is logged, nothing is sent.</summary>
public sealed class LoggedAlertChanges(Microsoft.Extensions.Logging.ILogger<LoggedAlertChanges> logger) : IAlertChanges
{
    public Task HandleAsync(IReadOnlyList<AlertChange> changes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(changes);
        foreach (var c in changes)
        {
            Microsoft.Extensions.Logging.LoggerExtensions.LogInformation(logger, "alert {AlertId} {Kind} at {At} ({Type} on {Device})", c.AlertId, c.Kind, c.AtMs, AlertNames.Of(c.Alert.Type), c.Alert.DeviceId);
        }

        return Task.CompletedTask;
    }
}
