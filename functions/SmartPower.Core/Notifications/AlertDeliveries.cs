using SmartPower.Contract;

namespace SmartPower.Notifications;

/// <summary>
/// For the status API: an alert's notifications and every attempt to deliver them, as JSON-ready records (times in
/// the contract's RFC 3339 UTC, enumerations as their lower-case names). Host-agnostic: the local host's route and an
/// HTTP Function call <see cref="HandleAsync"/> alike. It does not check who may see the alert: call it after the same
/// scope check as for the alert itself.
/// </summary>
public sealed class AlertDeliveriesHandler(IOutboxStore outbox)
{
    /// <param name="showsErrorsTo">Whether a recipient's failed attempts are shown with their error text (which names the
    /// receiver's address); for the others it is <see cref="DeliveryAttemptDto.Withheld"/>.</param>
    public async Task<AlertDeliveriesResponse> HandleAsync(string alertId, Func<Recipient, bool> showsErrorsTo, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(alertId);
        ArgumentNullException.ThrowIfNull(showsErrorsTo);
        var deliveries = await outbox.GetDeliveriesAsync(alertId, cancellationToken).ConfigureAwait(false);
        return new AlertDeliveriesResponse(alertId, [.. deliveries.Select(d => DeliveryDto.From(d, showsErrorsTo(d.Recipient)))]);
    }
}

/// <summary>The body of an alert's deliveries: one entry per notification (per history step and recipient).</summary>
public sealed record AlertDeliveriesResponse(string AlertId, IReadOnlyList<DeliveryDto> Deliveries);

/// <summary>
/// One notification: the history step it tells of (<c>kind</c>, <c>at</c>), to whom, its <c>state</c>
/// (<c>pending</c>, <c>delivered</c>, <c>undeliverable</c>, <c>abandoned</c>), and its attempts, oldest first.
/// </summary>
public sealed record DeliveryDto(
    string NotificationId,
    string Kind,
    string At,
    string RecipientKind,
    string RecipientId,
    string State,
    string CreatedAt,
    IReadOnlyList<DeliveryAttemptDto> Attempts)
{
    public static DeliveryDto From(NotificationDelivery delivery, bool showErrors)
    {
        ArgumentNullException.ThrowIfNull(delivery);
        return new DeliveryDto(
            delivery.NotificationId,
            delivery.Kind,
            EventTime.Format(delivery.At),
            delivery.Recipient.KindName,
            delivery.Recipient.Id,
            DeliveryStates.Of(delivery.State),
            EventTime.Format(delivery.CreatedAt),
            [.. delivery.Attempts.Select(a => DeliveryAttemptDto.From(a, showErrors))]);
    }
}

/// <summary>One attempt: when, the receiver's status code or the error, how long it took, and when the next is due (null when none).</summary>
public sealed record DeliveryAttemptDto(int Attempt, string At, int? StatusCode, string? Error, long DurationMs, string? NextAttemptAt)
{
    /// <summary>The error shown to whoever may see the alert but is not the recipient.</summary>
    public const string Withheld = "failed (the details are for the recipient and admins)";

    /// <param name="showError">Whether the error text is shown; if not, a failed attempt says <see cref="Withheld"/>.</param>
    public static DeliveryAttemptDto From(DeliveryAttempt attempt, bool showError)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        return new DeliveryAttemptDto(
            attempt.Attempt,
            EventTime.Format(attempt.At),
            attempt.StatusCode,
            showError || attempt.Error is null ? attempt.Error : Withheld,
            (long)attempt.Duration.TotalMilliseconds,
            attempt.NextAttemptAt is { } next ? EventTime.Format(next) : null);
    }
}
