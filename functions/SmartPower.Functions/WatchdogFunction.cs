using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using SmartPower.Pipeline;

namespace SmartPower.Functions;

/// <summary>The watchdog: every minute, <c>offline</c> for devices silent past their limit (see <see cref="Watchdog"/>).</summary>
public sealed class WatchdogFunction(Watchdog watchdog, ILogger<WatchdogFunction> logger)
{
    [Function("watchdog")]
    public async Task RunAsync([TimerTrigger("0 * * * * *")] TimerInfo timer, CancellationToken cancellationToken)
    {
        var stored = await watchdog.RunAsync(cancellationToken).ConfigureAwait(false);
        if (stored.Count > 0)
        {
            logger.LogInformation("watchdog: {Count} offline transitions", stored.Count);
        }
    }
}
