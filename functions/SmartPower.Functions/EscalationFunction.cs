using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using SmartPower.Escalation;
using SmartPower.Notifications;
using SmartPower.Registry;

namespace SmartPower.Functions;

/// <summary>
/// Escalation on Azure: every 30 seconds (at :15 and :45, between the watchdog's minute and the outbox's half
/// minutes), the core's <see cref="Escalator"/> pass the local host runs every 5 s, over the Cosmos DB store: each
/// due step recorded once in its alert's history with its notifications, which are then posted at once, as the local
/// host wakes its dispatcher (what fails is retried by the <c>outbox</c> timer). A step is dated when its limit ran
/// out, so the 30 s only delays the notice. The limits are the notification settings' <c>escalation</c> section.
/// </summary>
public sealed class EscalationFunction(Escalator escalator, OutboxDispatcher dispatcher, ILogger<EscalationFunction> logger)
{
    /// <summary>The timer's schedule (seconds, minutes, hours, day, month, weekday).</summary>
    public const string Schedule = "15,45 * * * * *";

    [Function("escalation")]
    public async Task RunAsync([TimerTrigger(Schedule)] TimerInfo timer, CancellationToken cancellationToken)
    {
        var steps = await escalator.RunOnceAsync(cancellationToken, (step, ex) =>
            logger.LogError(ex, "escalation step {Kind} of alert {AlertId} not recorded; the next pass tries again", step.Kind, step.Alert.AlertId)).ConfigureAwait(false);
        foreach (var step in steps)
        {
            logger.LogInformation("alert {AlertId} {Kind}: {Reason}", step.Alert.AlertId, step.Kind, step.Reason);
            await dispatcher.DeliverNewAsync(step.Added, cancellationToken).ConfigureAwait(false);
        }
    }
}
