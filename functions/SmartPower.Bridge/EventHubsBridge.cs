using Microsoft.Extensions.Logging;
using SmartPower.EventHubs;
using SmartPower.Mqtt;
using SmartPower.Registry;

namespace SmartPower.Bridge;

/// <summary>
/// The local host's bridge with an Event Hubs sink: a shared subscription on an external broker (<see cref="BrokerBridge"/>),
/// the ingress checks every message passes (<see cref="Ingress"/>), and <see cref="EventHubTelemetryLog"/> as the log.
/// A message is acknowledged to the broker only once Event Hubs accepted it; until then the broker keeps it and delivers
/// it again after a reconnect, and while Event Hubs is slow the bridge's unacknowledged messages hold the broker back.
/// </summary>
public sealed class EventHubsBridge : IAsyncDisposable
{
    private readonly BrokerBridge _bridge;
    private readonly EventHubTelemetryLog _log;

    private EventHubsBridge(BrokerBridge bridge, Ingress ingress, EventHubTelemetryLog log)
    {
        _bridge = bridge;
        Ingress = ingress;
        _log = log;
    }

    public Ingress Ingress { get; }

    public bool IsConnected => _bridge.IsConnected;

    public static async Task<EventHubsBridge> StartAsync(DeviceRegistry registry, BrokerBridgeOptions broker, EventHubTelemetryLog log, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(loggers);
        var ingress = new Ingress(registry, log, logger: loggers.CreateLogger("SmartPower.Ingress"));
        var bridge = new BrokerBridge(broker, ingress, loggers.CreateLogger("SmartPower.Bridge"));
        await bridge.StartAsync(cancellationToken).ConfigureAwait(false);
        return new EventHubsBridge(bridge, ingress, log);
    }

    /// <summary>Stops taking messages, then sends what is buffered.</summary>
    public async ValueTask DisposeAsync()
    {
        await _bridge.DisposeAsync().ConfigureAwait(false);
        await _log.DisposeAsync().ConfigureAwait(false);
        Ingress.Dispose();
    }
}
