using Microsoft.Extensions.Logging;
using SmartPower.Escalation;
using SmartPower.Notifications;
using SmartPower.Registry;
using SmartPower.Sqlite;
using SmartPower.Webhooks;

namespace SmartPower.Host;

/// <summary>
/// The local host's notification side: the outbox dispatcher posting webhooks, and the escalation timer. Composition
/// only: the dispatcher and the escalation policy are the core's, the webhooks and the store are adapters. Started
/// with the pipeline; stopped after the consumers have drained, so the last transitions' notifications are written
/// (and, if their receivers answer in time, delivered; otherwise they wait in the outbox for the next start).
/// </summary>
public sealed class NotificationService : IAsyncDisposable
{
    /// <summary>How long a receiver has to answer one delivery.</summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);

    private readonly HttpClient _http;
    private readonly CancellationTokenSource _stop = new();
    private readonly ILogger _logger;
    private readonly List<Task> _running = [];
    private readonly TimeProvider _time;

    public NotificationService(SqliteStore store, DeviceRegistry registry, NotificationSettings settings, ILogger logger, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _http = WebhookNotifier.CreateHttpClient(RequestTimeout);
        Dispatcher = new OutboxDispatcher(store, new WebhookNotifier(_http, settings.Webhooks, _time), settings.Retry, _time);
        Dispatcher.Attempted += OnAttempted;
        Dispatcher.Failed += e => _logger.LogError(e, "notification outbox unavailable; trying again shortly");
        Escalator = new Escalator(store, registry, new EscalationPolicy(settings.Escalation), _time);
    }

    public OutboxDispatcher Dispatcher { get; }

    public Escalator Escalator { get; }

    /// <summary>Raised after an escalation step is recorded (on the timer's thread), so live views can refresh the alert.</summary>
    public event Action<string>? Escalated;

    /// <summary>Starts delivering, and checking escalation every <paramref name="escalationCheck"/>.</summary>
    public void Start(TimeSpan escalationCheck)
    {
        _running.Add(Task.Run(() => Dispatcher.RunAsync(_stop.Token)));
        _running.Add(Task.Run(() => EscalateAsync(escalationCheck, _stop.Token)));
    }

    /// <summary>New notifications are in the outbox: deliver now.</summary>
    public void Wake() => Dispatcher.Wake();

    /// <summary>Stops both loops; a delivery in flight is abandoned unrecorded and sent again on the next start.</summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_running).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _http.Dispose();
        _stop.Dispose();
    }

    private async Task EscalateAsync(TimeSpan every, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(every, _time);
        try
        {
            do
            {
                try
                {
                    var steps = await Escalator.RunOnceAsync(stop, (step, ex) =>
                        _logger.LogError(ex, "escalation step {Kind} of alert {AlertId} not recorded; trying again in {Interval}", step.Kind, step.Alert.AlertId, every)).ConfigureAwait(false);
                    foreach (var step in steps)
                    {
                        _logger.LogInformation("alert {AlertId} {Kind}: {Reason}", step.Alert.AlertId, step.Kind, step.Reason);
                        Escalated?.Invoke(step.Alert.AlertId);
                    }

                    if (steps.Count > 0)
                    {
                        Dispatcher.Wake();
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    _logger.LogError(ex, "escalation check failed; trying again in {Interval}", every);
                }
            }
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Stopped.
        }
    }

    private void OnAttempted(PendingNotification notification, DeliveryAttempt attempt, DeliveryState state)
    {
        if (state == DeliveryState.Delivered)
        {
            _logger.LogDebug("notification {Id} delivered to {Recipient} (attempt {Attempt})", notification.NotificationId, notification.Recipient, attempt.Attempt);
        }
        else
        {
            _logger.LogWarning(
                "notification {Id} to {Recipient}: attempt {Attempt} failed ({Error}); {Next}",
                notification.NotificationId,
                notification.Recipient,
                attempt.Attempt,
                attempt.Error,
                attempt.NextAttemptAt is { } next ? $"next at {next:HH:mm:ss}" : DeliveryStates.Of(state));
        }
    }
}
