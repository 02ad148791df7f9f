using System.Threading.Channels;

namespace SmartPower.Notifications;

/// <summary>
/// Delivers the outbox, at least once: takes the notifications that are due, sends each through the
/// <see cref="INotifier"/>, and records every attempt (time, status code or error, duration, next retry) with the
/// notification's new state. A failure is tried again on the <see cref="DeliveryRetry"/> schedule; the outbox is the
/// only state, so a host that dies mid-delivery resends on restart whatever was not recorded as delivered (a receiver
/// may then see a notification twice, with the same idempotency key). Host-agnostic: the local host runs
/// <see cref="RunAsync"/>; a host fed by a change feed can call <see cref="DeliverNewAsync"/> with new notifications and
/// <see cref="DeliverDueAsync"/> on a timer for the retries. The clock is a <see cref="TimeProvider"/>.
/// </summary>
public sealed class OutboxDispatcher
{
    private readonly IOutboxStore _outbox;
    private readonly INotifier _notifier;
    private readonly DeliveryRetry _retry;
    private readonly TimeProvider _time;
    private readonly Random _random;
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    public OutboxDispatcher(IOutboxStore outbox, INotifier notifier, DeliveryRetry? retry = null, TimeProvider? time = null, Random? random = null)
    {
        _outbox = outbox;
        _notifier = notifier;
        _retry = retry ?? DeliveryRetry.Default;
        _time = time ?? TimeProvider.System;
        _random = random ?? Random.Shared;
    }

    /// <summary>Notifications sent at once (each waits for its receiver, up to the notifier's timeout).</summary>
    public int MaxParallel { get; init; } = 8;

    /// <summary>How many due notifications are taken from the outbox at a time.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>
    /// Most notifications of one recipient tried in one pass over what is due: a receiver that hangs (each attempt to the
    /// notifier's timeout) then holds the others up for one timeout, not for its whole backlog.
    /// </summary>
    public int MaxPerRecipient { get; init; } = 4;

    /// <summary>How long <see cref="RunAsync"/> sleeps at most when nothing is due and nobody called <see cref="Wake"/>.</summary>
    public TimeSpan IdlePoll { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Raised after each recorded attempt (on a dispatcher thread), for logs and the demo.</summary>
    public event Action<PendingNotification, DeliveryAttempt, DeliveryState>? Attempted;

    /// <summary>Raised when a pass fails (the store unavailable); <see cref="RunAsync"/> goes on after its idle poll.</summary>
    public event Action<Exception>? Failed;

    /// <summary>New notifications were written: look at once rather than at the next poll.</summary>
    public void Wake() => _wake.Writer.TryWrite(true);

    /// <summary>Delivers everything due now (in batches until none is left) and returns how many attempts were made.</summary>
    public async Task<int> DeliverDueAsync(CancellationToken cancellationToken)
    {
        var attempts = 0;
        while (true)
        {
            var due = await _outbox.GetDueAsync(_time.GetUtcNow(), BatchSize, cancellationToken).ConfigureAwait(false);
            var pass = due.GroupBy(n => n.Recipient).SelectMany(g => g.Take(MaxPerRecipient)).ToList();
            await Parallel.ForEachAsync(
                pass,
                new ParallelOptions { MaxDegreeOfParallelism = MaxParallel, CancellationToken = cancellationToken },
                async (notification, ct) => await DeliverAsync(notification, ct).ConfigureAwait(false)).ConfigureAwait(false);
            attempts += pass.Count;
            if (due.Count < BatchSize && pass.Count == due.Count)
            {
                return attempts;
            }
        }
    }

    /// <summary>
    /// The first attempt, now, at each of <paramref name="added"/>, notifications just added to the outbox: for a host
    /// that is told of them (a change feed, its own escalation timer) rather than waking <see cref="RunAsync"/>.
    /// Recipients in parallel, each one's in turn: a manager's webhook that hangs must not hold up the fire station's
    /// notifications of the same alerts (one at a time, it did: found in review).
    /// </summary>
    public async Task DeliverNewAsync(IEnumerable<Notification> added, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(added);
        var now = _time.GetUtcNow();
        await Parallel.ForEachAsync(
            added.GroupBy(n => n.Recipient),
            new ParallelOptions { MaxDegreeOfParallelism = MaxParallel, CancellationToken = cancellationToken },
            async (recipient, ct) =>
            {
                foreach (var n in recipient)
                {
                    await DeliverAsync(new PendingNotification(n.NotificationId, n.Recipient, n.Body, 0, now), ct).ConfigureAwait(false);
                }
            }).ConfigureAwait(false);
    }

    /// <summary>One attempt to deliver <paramref name="notification"/>, recorded; returns its new state.</summary>
    public async Task<DeliveryState> DeliverAsync(PendingNotification notification, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(notification);
        var attempt = notification.Attempts + 1;
        var at = _time.GetUtcNow();
        var started = _time.GetTimestamp();
        DeliveryResult result;
        try
        {
            result = await _notifier.SendAsync(notification, attempt, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            result = DeliveryResult.Failure(null, ex.Message);
        }

        var duration = _time.GetElapsedTime(started);
        var (state, next) = result switch
        {
            { Delivered: true } => (DeliveryState.Delivered, (DateTimeOffset?)null),
            { Permanent: true } => (DeliveryState.Undeliverable, null),
            _ => _retry.NextAttempt(notification.CreatedAt, at + duration, attempt, NextJitter()) is { } retryAt
                ? (DeliveryState.Pending, retryAt)
                : (DeliveryState.Abandoned, null),
        };
        var recorded = new DeliveryAttempt(attempt, at, result.StatusCode, result.Error, duration, next);

        // Not cancelled here: an attempt that was made is recorded, or a shutdown would send it again for nothing.
        await _outbox.RecordAttemptAsync(notification.NotificationId, recorded, state, CancellationToken.None).ConfigureAwait(false);
        Attempted?.Invoke(notification, recorded, state);
        return state;
    }

    /// <summary>Delivers until cancelled: whatever is due, then sleeps until the next is due, <see cref="Wake"/>, or <see cref="IdlePoll"/>.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            var wait = IdlePoll;
            try
            {
                await DeliverDueAsync(cancellationToken).ConfigureAwait(false);
                if (await _outbox.GetNextDueAsync(cancellationToken).ConfigureAwait(false) is { } next)
                {
                    var until = next - _time.GetUtcNow();
                    wait = until < TimeSpan.Zero ? TimeSpan.Zero : until < wait ? until : wait;
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                Failed?.Invoke(ex);
            }

            await SleepAsync(wait, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task SleepAsync(TimeSpan wait, CancellationToken cancellationToken)
    {
        if (wait <= TimeSpan.Zero)
        {
            return;
        }

        using var sleep = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var woken = _wake.Reader.WaitToReadAsync(sleep.Token).AsTask();
        var elapsed = Task.Delay(wait, _time, sleep.Token);
        await Task.WhenAny(woken, elapsed).ConfigureAwait(false);
        await sleep.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(woken, elapsed).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _wake.Reader.TryRead(out _);
    }

    private double NextJitter()
    {
        lock (_random)
        {
            return _random.NextDouble();
        }
    }
}
