using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Azure.Cosmos;
using SmartPower.Notifications;

namespace SmartPower.Cosmos;

/// <summary>
/// The notification outbox on Cosmos DB. The local store writes notifications in the batch's transaction; here they are
/// made from the alerts' change feed (the alert documents hold their history), and added by their deterministic id,
/// so a change delivered twice adds nothing. Each delivery attempt is a point read and a conditional write.
/// </summary>
public sealed partial class CosmosStore : IOutboxStore
{
    /// <summary>Adds the notifications not in the outbox yet, due now; returns those it added.</summary>
    public async Task<IReadOnlyList<Notification>> AddNotificationsAsync(IReadOnlyList<Notification> notifications, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(notifications);
        var added = new System.Collections.Concurrent.ConcurrentBag<Notification>();
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        await ForEachAsync(notifications, async (n, ct) =>
        {
            var node = new JsonObject
            {
                ["id"] = n.NotificationId,
                ["alertId"] = n.AlertId,
                ["kind"] = n.Kind,
                ["at"] = n.At.ToUnixTimeMilliseconds(),
                ["recipient"] = new JsonObject { ["kind"] = n.Recipient.KindName, ["id"] = n.Recipient.Id },
                ["body"] = n.Body,
                ["state"] = DeliveryStates.Of(DeliveryState.Pending),
                ["createdAt"] = now,
                ["nextAttemptAt"] = IOutboxStore.NewlyDue,
                ["attempts"] = new JsonArray(),
            };
            if (await WriteIfAsync(_outbox, n.NotificationId, n.NotificationId, Json(node), null, "outbox.write", ct).ConfigureAwait(false) is not null)
            {
                added.Add(n);
            }
        }, cancellationToken).ConfigureAwait(false);
        return [.. notifications.Where(added.Contains)];
    }

    /// <summary>How long a finished notification's record is kept before it expires (<see cref="CosmosStoreOptions.OutboxRetention"/>).</summary>
    public TimeSpan OutboxRetention => _options.OutboxRetention;

    /// <summary>Pending notifications due at <paramref name="now"/>, oldest due first: the dispatcher's query.</summary>
    public async Task<IReadOnlyList<PendingNotification>> GetDueAsync(DateTimeOffset now, int max, CancellationToken cancellationToken)
    {
        var documents = await QueryOutboxAsync(DueQuery(now), max, cancellationToken).ConfigureAwait(false);
        return [.. documents.Select(PendingOf)];
    }

    public async Task<DateTimeOffset?> GetNextDueAsync(CancellationToken cancellationToken)
    {
        var first = (await QueryOutboxAsync(NextDueQuery(), 1, cancellationToken).ConfigureAwait(false)).FirstOrDefault();
        return first is null ? null : DateTimeOffset.FromUnixTimeMilliseconds(first["nextAttemptAt"]!.GetValue<long>());
    }

    public async Task RecordAttemptAsync(string notificationId, DeliveryAttempt attempt, DeliveryState state, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        for (var i = 0; i < MaxRetries; i++)
        {
            using var doc = await ReadAsync(_outbox, notificationId, notificationId, "outbox.read", cancellationToken).ConfigureAwait(false);
            if (doc is null)
            {
                return;
            }

            var node = JsonNode.Parse(doc.Json.RootElement.GetRawText())!.AsObject();
            var attempts = node["attempts"]!.AsArray();

            // Two deliverers can race on one notification (the change feed and the escalation timer both post a new
            // escalation's notifications, the outbox timer a pending one): the first record of an attempt stands, and a
            // notification delivered or given up on stays so, rather than going back to pending and being sent again.
            if (attempts.Any(a => a!["attempt"]!.GetValue<int>() == attempt.Attempt)
                || DeliveryStates.Parse(node["state"]!.GetValue<string>()) != DeliveryState.Pending)
            {
                return;
            }

            attempts.Add(new JsonObject
            {
                ["attempt"] = attempt.Attempt,
                ["at"] = attempt.At.ToUnixTimeMilliseconds(),
                ["statusCode"] = attempt.StatusCode,
                ["error"] = attempt.Error,
                ["durationMs"] = (long)attempt.Duration.TotalMilliseconds,
                ["nextAttemptAt"] = attempt.NextAttemptAt?.ToUnixTimeMilliseconds(),
            });

            node["state"] = DeliveryStates.Of(state);
            node["nextAttemptAt"] = attempt.NextAttemptAt?.ToUnixTimeMilliseconds();
            if (state != DeliveryState.Pending)
            {
                node["ttl"] = (int)_options.OutboxRetention.TotalSeconds; // finished: kept for a while, then gone
            }

            if (await WriteIfAsync(_outbox, notificationId, notificationId, Json(node), doc.ETag, "outbox.write", cancellationToken).ConfigureAwait(false) is not null)
            {
                return;
            }
        }

        throw new InvalidOperationException($"notification {notificationId} kept changing while an attempt was recorded");
    }

    /// <summary>An alert's notifications with their attempts: one query on the indexed alert id.</summary>
    public async Task<IReadOnlyList<NotificationDelivery>> GetDeliveriesAsync(string alertId, CancellationToken cancellationToken)
    {
        var documents = await QueryOutboxAsync(DeliveriesQuery(alertId), int.MaxValue, cancellationToken).ConfigureAwait(false);
        return [.. documents.Select(DeliveryOf).OrderBy(d => d.At).ThenBy(d => d.Recipient.KindName, StringComparer.Ordinal).ThenBy(d => d.Recipient.Id, StringComparer.Ordinal)];
    }

    /// <summary>One notification with its state and attempts, or null: a point read.</summary>
    public async Task<NotificationDelivery?> GetDeliveryAsync(string notificationId, CancellationToken cancellationToken = default)
    {
        using var doc = await ReadAsync(_outbox, notificationId, notificationId, "outbox.read", cancellationToken).ConfigureAwait(false);
        return doc is null ? null : DeliveryOf(JsonNode.Parse(doc.Json.RootElement.GetRawText())!.AsObject());
    }

    /// <summary>
    /// The dispatcher's query: pending notifications due by <paramref name="now"/> (or scheduled by a clock since stepped
    /// back, see <see cref="IOutboxStore.FurthestRetry"/>), oldest due first (indexed: state, nextAttemptAt).
    /// </summary>
    public static QueryDefinition DueQuery(DateTimeOffset now) =>
        new QueryDefinition("SELECT * FROM c WHERE c.state = @pending AND (c.nextAttemptAt <= @now OR c.nextAttemptAt > @stepped) ORDER BY c.nextAttemptAt")
            .WithParameter("@pending", DeliveryStates.Of(DeliveryState.Pending)).WithParameter("@now", now.ToUnixTimeMilliseconds())
            .WithParameter("@stepped", (now + IOutboxStore.FurthestRetry).ToUnixTimeMilliseconds());

    /// <summary>When the next pending notification falls due: the same filter, first row only.</summary>
    public static QueryDefinition NextDueQuery() =>
        new QueryDefinition("SELECT * FROM c WHERE c.state = @pending ORDER BY c.nextAttemptAt").WithParameter("@pending", DeliveryStates.Of(DeliveryState.Pending));

    /// <summary>The API's query: an alert's notifications (indexed: alertId).</summary>
    public static QueryDefinition DeliveriesQuery(string alertId) =>
        new QueryDefinition("SELECT * FROM c WHERE c.alertId = @alert").WithParameter("@alert", alertId);

    private async Task<List<JsonObject>> QueryOutboxAsync(QueryDefinition query, int max, CancellationToken cancellationToken)
    {
        var found = new List<JsonObject>();
        using var iterator = _outbox.GetItemQueryStreamIterator(query, requestOptions: new QueryRequestOptions { MaxItemCount = Math.Min(max, 1000) });
        while (iterator.HasMoreResults && found.Count < max)
        {
            using var page = await iterator.ReadNextAsync(cancellationToken).ConfigureAwait(false);
            Charges.Add("outbox.query", page.Headers.RequestCharge, 0);
            if (page.StatusCode == HttpStatusCode.NotFound)
            {
                break;
            }

            page.EnsureSuccessStatusCode();
            var json = await JsonNode.ParseAsync(page.Content, cancellationToken: cancellationToken).ConfigureAwait(false);
            found.AddRange(json!["Documents"]!.AsArray().Select(d => d!.AsObject()));
        }

        return found.Count > max ? found[..max] : found;
    }

    private static Recipient RecipientOf(JsonObject node) =>
        new(Recipient.ParseKind(node["recipient"]!["kind"]!.GetValue<string>()), node["recipient"]!["id"]!.GetValue<string>());

    private static PendingNotification PendingOf(JsonObject node) => new(
        node["id"]!.GetValue<string>(),
        RecipientOf(node),
        node["body"]!.GetValue<string>(),
        node["attempts"]!.AsArray().Count,
        DateTimeOffset.FromUnixTimeMilliseconds(node["createdAt"]!.GetValue<long>()));

    private static NotificationDelivery DeliveryOf(JsonObject node) => new(
        node["id"]!.GetValue<string>(),
        node["alertId"]!.GetValue<string>(),
        node["kind"]!.GetValue<string>(),
        DateTimeOffset.FromUnixTimeMilliseconds(node["at"]!.GetValue<long>()),
        RecipientOf(node),
        DeliveryStates.Parse(node["state"]!.GetValue<string>()),
        DateTimeOffset.FromUnixTimeMilliseconds(node["createdAt"]!.GetValue<long>()),
        [
            .. node["attempts"]!.AsArray().Select(a => new DeliveryAttempt(
                a!["attempt"]!.GetValue<int>(),
                DateTimeOffset.FromUnixTimeMilliseconds(a["at"]!.GetValue<long>()),
                a["statusCode"]?.GetValue<int>(),
                a["error"]?.GetValue<string>(),
                TimeSpan.FromMilliseconds(a["durationMs"]!.GetValue<long>()),
                a["nextAttemptAt"] is { } next ? DateTimeOffset.FromUnixTimeMilliseconds(next.GetValue<long>()) : null)),
        ]);
}
