using System.Globalization;
using Azure.Identity;
using Microsoft.Extensions.Logging;
using SmartPower.Bridge;
using SmartPower.EventHubs;
using SmartPower.Mqtt;
using SmartPower.Registry;

// smartpower-bridge --registry FILE --broker HOST:PORT [--username U --password P] [--tls]
//                   [--share-group NAME|none] [--bridge-id ID] [--sites ID,ID] --event-hubs NAMESPACE.servicebus.windows.net [--hub telemetry]
// Authenticates to Event Hubs with DefaultAzureCredential (a managed identity, or `az login` on a workstation): it
// needs the "Azure Event Hubs Data Sender" role on the hub. Ctrl+C or SIGTERM stops it after sending what it holds.
const string Usage = "usage: smartpower-bridge --registry FILE --broker HOST:PORT [--username U --password P] [--tls]\n"
    + "                         [--share-group NAME|none] [--bridge-id ID] [--sites ID,ID] --event-hubs NAMESPACE.servicebus.windows.net [--hub telemetry]\n"
    + "  --share-group: the shared subscription's group (default smartpower); none for a plain subscription, which mosquitto\n"
    + "                 restores after its own restart where it does not restore a shared one\n"
    + "  --bridge-id:   the persistent session's client id (default smartpower-bridge-HOSTNAME)\n"
    + "  --sites:       only these sites' devices: bridges on disjoint sites share a broker without reordering a device's readings";
string[] valued = ["--registry", "--broker", "--username", "--password", "--share-group", "--bridge-id", "--sites", "--event-hubs", "--hub"];
var options = new Dictionary<string, string>(StringComparer.Ordinal);
for (var i = 0; i < args.Length; i++)
{
    if (args[i] == "--tls")
    {
        options["--tls"] = "true";
    }
    else if (valued.Contains(args[i]) && i + 1 < args.Length)
    {
        options[args[i]] = args[++i];
    }
    else
    {
        Console.Error.WriteLine(args[i] is "--help" or "-h" ? Usage : $"smartpower-bridge: unknown option or missing value '{args[i]}'\n{Usage}");
        return 2;
    }
}

if (!options.TryGetValue("--registry", out var registryPath) || !options.TryGetValue("--broker", out var broker)
    || !options.TryGetValue("--event-hubs", out var ns) || broker.Split(':') is not [var host, var portText]
    || !int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port))
{
    Console.Error.WriteLine(Usage);
    return 2;
}

DeviceRegistry registry;
try
{
    registry = RegistryLoader.Load(registryPath);
}
catch (RegistryException e)
{
    Console.Error.WriteLine($"smartpower-bridge: {e.Message}");
    return 2;
}

string[]? sites = options.TryGetValue("--sites", out var siteList) ? siteList.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : null;
if (sites?.FirstOrDefault(s => !registry.TryGetSite(s, out _)) is { } unknownSite)
{
    Console.Error.WriteLine($"smartpower-bridge: --sites: site '{unknownSite}' is not in the registry");
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

EventHubTelemetryLog log;
try
{
    log = await EventHubTelemetryLog.OpenAsync(ns, options.GetValueOrDefault("--hub", "telemetry"), new DefaultAzureCredential(), cancellationToken: stop.Token);
}
catch (AuthenticationFailedException e)
{
    Console.Error.WriteLine($"smartpower-bridge: no Azure credential for Event Hubs (a managed identity, or `az login`, with the "
        + $"\"Azure Event Hubs Data Sender\" role on the hub): {e.Message.Split('\n')[0]}");
    return 1;
}

var brokerOptions = new BrokerBridgeOptions
{
    Host = host,
    Port = port,
    UseTls = options.ContainsKey("--tls"),
    UserName = options.GetValueOrDefault("--username"),
    Password = options.GetValueOrDefault("--password"),
};
if (options.TryGetValue("--share-group", out var group))
{
    brokerOptions.ShareGroup = group == "none" ? null : group;
}

if (options.TryGetValue("--bridge-id", out var bridgeId))
{
    brokerOptions.ClientId = bridgeId;
}

brokerOptions.Sites = sites;
await using (var bridge = await EventHubsBridge.StartAsync(registry, brokerOptions, log, loggers, stop.Token))
{
    Console.WriteLine($"bridging {host}:{port} to {ns} ({log.PartitionCount} partitions); Ctrl+C stops");
    await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    Console.WriteLine($"stopping: {bridge.Ingress.Appended:N0} messages sent to Event Hubs");
}

return 0;
