using System.Globalization;
using Azure.Identity;
using Microsoft.Extensions.Logging;
using SmartPower.Bridge;
using SmartPower.EventHubs;
using SmartPower.Mqtt;
using SmartPower.Registry;

// smartpower-bridge --registry FILE --broker HOST:PORT [--username U --password P] [--tls]
//                   --event-hubs NAMESPACE.servicebus.windows.net [--hub telemetry]
// Authenticates to Event Hubs with DefaultAzureCredential (a managed identity, or `az login` on a workstation): it
// needs the "Azure Event Hubs Data Sender" role on the hub. Ctrl+C or SIGTERM stops it after sending what it holds.
var options = new Dictionary<string, string>(StringComparer.Ordinal);
for (var i = 0; i < args.Length; i++)
{
    if (args[i] == "--tls")
    {
        options["--tls"] = "true";
    }
    else if (args[i].StartsWith("--", StringComparison.Ordinal) && i + 1 < args.Length)
    {
        options[args[i]] = args[++i];
    }
    else
    {
        Console.Error.WriteLine($"unexpected argument '{args[i]}'");
        return 2;
    }
}

if (!options.TryGetValue("--registry", out var registryPath) || !options.TryGetValue("--broker", out var broker)
    || !options.TryGetValue("--event-hubs", out var ns) || broker.Split(':') is not [var host, var portText]
    || !int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port))
{
    Console.Error.WriteLine("usage: smartpower-bridge --registry FILE --broker HOST:PORT [--username U --password P] [--tls] --event-hubs NAMESPACE.servicebus.windows.net [--hub telemetry]");
    return 2;
}

using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Information));
using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};
using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c =>
{
    c.Cancel = true;
    stop.Cancel();
});

var registry = RegistryLoader.Load(registryPath);
var log = await EventHubTelemetryLog.OpenAsync(ns, options.GetValueOrDefault("--hub", "telemetry"), new DefaultAzureCredential(), cancellationToken: stop.Token);
var brokerOptions = new BrokerBridgeOptions
{
    Host = host,
    Port = port,
    UseTls = options.ContainsKey("--tls"),
    UserName = options.GetValueOrDefault("--username"),
    Password = options.GetValueOrDefault("--password"),
};
await using (var bridge = await EventHubsBridge.StartAsync(registry, brokerOptions, log, loggers, stop.Token))
{
    Console.WriteLine($"bridging {host}:{port} to {ns} ({log.PartitionCount} partitions); Ctrl+C stops");
    await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    Console.WriteLine($"stopping: {bridge.Ingress.Appended:N0} messages sent to Event Hubs");
}

return 0;
