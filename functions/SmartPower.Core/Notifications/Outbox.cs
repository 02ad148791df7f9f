namespace SmartPower.Notifications;

/// <summary>Where a notification in the outbox stands.</summary>
public enum DeliveryState : byte
{
    /// <summary>Not delivered yet; tried again at its next attempt time.</summary>
    Pending,

    /// <summary>A receiver answered 2xx.</summary>
    Delivered,

    /// <summary>Nowhere to send it (no webhook for its recipient): kept, with the reason, and not tried again.</summary>
    Undeliverable,

    /// <summary>Still failing when <see cref="DeliveryRetry.GiveUpAfter"/> ran out: kept, and not tried again.</summary>
    Abandoned,
}

/// <summary>The spelling of delivery states in the store and the API: <c>pending</c>, <c>delivered</c>, <c>undeliverable</c>, <c>abandoned</c>.</summary>
public static class DeliveryStates
{
    private static readonly string[] Names = ["pending", "delivered", "undeliverable", "abandoned"];

    public static string Of(DeliveryState state) => Names[(int)state];

    public static DeliveryState Parse(string text)
    {
        var i = Array.IndexOf(Names, text);
        return i >= 0 ? (DeliveryState)i : throw new FormatException($"unknown delivery state '{text}'");
    }
}

/// <summary>A notification in the outbox, as the dispatcher takes it to deliver.</summary>
public sealed record PendingNotification(string NotificationId, Recipient Recipient, string Body, int Attempts, DateTimeOffset CreatedAt);

/// <summary>What one try to deliver a notification came to.</summary>
public sealed record DeliveryResult(bool Delivered, int? StatusCode, string? Error)
{
    /// <summary>True when trying again cannot help (nowhere to send it).</summary>
    public bool Permanent { get; init; }

    public static DeliveryResult Success(int statusCode) => new(true, statusCode, null);

    public static DeliveryResult Failure(int? statusCode, string error) => new(false, statusCode, error);

    public static DeliveryResult Undeliverable(string error) => new(false, null, error) { Permanent = true };
}

/// <summary>One delivery attempt as recorded: when, what came back (a status code or an error), how long it took, and when the next is due.</summary>
public sealed record DeliveryAttempt(int Attempt, DateTimeOffset At, int? StatusCode, string? Error, TimeSpan Duration, DateTimeOffset? NextAttemptAt);

/// <summary>A notification with its state and every attempt to deliver it, for the status API.</summary>
public sealed record NotificationDelivery(
    string NotificationId,
    string AlertId,
    string Kind,
    DateTimeOffset At,
    Recipient Recipient,
    DeliveryState State,
    DateTimeOffset CreatedAt,
    IReadOnlyList<DeliveryAttempt> Attempts);

/// <summary>Delivers one notification to its recipient (webhooks; later, the console's push).</summary>
public interface INotifier
{
    /// <summary>One try. Failures come back as a result, not an exception; cancellation throws.</summary>
    Task<DeliveryResult> SendAsync(PendingNotification notification, int attempt, CancellationToken cancellationToken);
}

/// <summary>
/// The persisted outbox. Notifications are written by the store in the same transaction as the alert transitions (or
/// escalation steps) they come from, keyed by <see cref="Notification.NotificationId"/>, so a crash between storing
/// and notifying loses nothing and a replay adds nothing. SQLite locally, Cosmos DB on Azure.
/// </summary>
public interface IOutboxStore
{
    /// <summary>The next attempt of a notification never tried: due at once, and ahead of any retry.</summary>
    public const long NewlyDue = 0;

    /// <summary>
    /// Further ahead than any retry is scheduled (the backoff's longest delay is a minute by default): a pending
    /// notification due later than this from now was scheduled by a clock since stepped back (NTP), and is due now
    /// rather than after the step (found in review: a critical alert's retries waited out an hour's step).
    /// </summary>
    public static readonly TimeSpan FurthestRetry = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Up to <paramref name="max"/> pending notifications whose next attempt is due at <paramref name="now"/>, oldest due
    /// first; a store that can takes the recipients in turn (each one's oldest, then each one's second...), so that one
    /// recipient's backlog does not fill the batch. A notification never tried is due from the start of time
    /// (<see cref="NewlyDue"/>), so it comes before every retry: a new alert's notifications are not queued behind the
    /// backlog of a receiver that keeps failing. One due more than <see cref="FurthestRetry"/> after
    /// <paramref name="now"/> is due too.
    /// </summary>
    Task<IReadOnlyList<PendingNotification>> GetDueAsync(DateTimeOffset now, int max, CancellationToken cancellationToken);

    /// <summary>When the earliest pending notification is due, or null when none is pending.</summary>
    Task<DateTimeOffset?> GetNextDueAsync(CancellationToken cancellationToken);

    /// <summary>Records an attempt and the notification's new state (and, when pending, its next attempt time) together.</summary>
    Task RecordAttemptAsync(string notificationId, DeliveryAttempt attempt, DeliveryState state, CancellationToken cancellationToken);

    /// <summary>An alert's notifications with every delivery attempt, by step time then recipient.</summary>
    Task<IReadOnlyList<NotificationDelivery>> GetDeliveriesAsync(string alertId, CancellationToken cancellationToken);
}
