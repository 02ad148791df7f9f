using SmartPower.Notifications;
using SmartPower.Registry;

namespace SmartPower.Escalation;

/// <summary>Where escalation reads open alerts and records its steps. SQLite locally, Cosmos DB on Azure.</summary>
public interface IEscalationStore
{
    /// <summary>The open alerts that may still have an escalation step to take.</summary>
    Task<IReadOnlyList<AlertWatch>> GetWatchesAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Records <paramref name="step"/> in its alert's history (kind, time, reason) and its notifications in the
    /// outbox, in one transaction (a store without a transaction across the two writes them in an order that a crash
    /// between loses neither and duplicates neither, and says how). Returns the notifications this call added to the
    /// outbox, for the caller to deliver: all of them, unless another writer (on Azure, the alerts' change feed) added
    /// some first and delivers those itself. Null, writing nothing, when the history already holds the step.
    /// </summary>
    Task<IReadOnlyList<Notification>?> RecordAsync(EscalationStep step, IReadOnlyList<Notification> notifications, CancellationToken cancellationToken);
}

/// <summary>
/// One escalation pass: the policy applied to every open alert at the current time, each due step recorded with its
/// notifications. Host-agnostic; the local host calls <see cref="RunOnceAsync"/> on a timer, the Azure Functions app
/// from a timer trigger. Idempotent: a step is keyed by its alert, kind and due time, so passes that overlap, repeat, or
/// come after a restart record it once.
/// </summary>
public sealed class Escalator(IEscalationStore store, DeviceRegistry registry, EscalationPolicy? policy = null, TimeProvider? time = null)
{
    private readonly EscalationPolicy _policy = policy ?? new EscalationPolicy();
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public EscalationPolicy Policy => _policy;

    /// <summary>
    /// Takes every step due now; returns the steps this pass recorded (not those already in the history), each with the
    /// notifications this pass added for it (<see cref="EscalationStep.Added"/>, to deliver at once). A step whose
    /// record fails is told to <paramref name="failed"/> and the pass goes on with the others (one alert that cannot be
    /// written must not hold up the rest, and what was recorded must still be returned, for live views to show); with
    /// no <paramref name="failed"/>, the first failure is thrown once the pass is over.
    /// </summary>
    public async Task<IReadOnlyList<EscalationStep>> RunOnceAsync(CancellationToken cancellationToken, Action<EscalationStep, Exception>? failed = null)
    {
        var now = _time.GetUtcNow();
        var recorded = new List<EscalationStep>();
        Exception? first = null;
        foreach (var watch in await store.GetWatchesAsync(cancellationToken).ConfigureAwait(false))
        {
            foreach (var step in _policy.Due(watch, now))
            {
                var notifications = Notification.For(step.Alert, step.Kind, step.At, step.Reason, step.RaisedToFireStation, registry);
                try
                {
                    if (await store.RecordAsync(step, notifications, cancellationToken).ConfigureAwait(false) is { } added)
                    {
                        recorded.Add(step with { Added = added });
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    first ??= ex;
                    failed?.Invoke(step, ex);
                }
            }
        }

        if (first is not null && failed is null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(first);
        }

        return recorded;
    }
}
