using Azure.Identity;
using Microsoft.Azure.Cosmos;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SmartPower.Api;
using SmartPower.Cosmos;
using SmartPower.Mqtt;
using SmartPower.Notifications;
using SmartPower.Pipeline;
using SmartPower.Registry;
using SmartPower.Webhooks;

namespace SmartPower.Functions;

/// <summary>What the functions are made of: one of each per instance, the Cosmos DB client above all.</summary>
public static class Services
{
    public static IServiceCollection AddSmartPower(this IServiceCollection services, IConfiguration configuration)
    {
        var settings = configuration.GetSection(SmartPowerSettings.Section).Get<SmartPowerSettings>() ?? new SmartPowerSettings();
        services.AddSingleton(settings);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(_ => RegistryLoader.Load(Path.Combine(AppContext.BaseDirectory, settings.RegistryPath))); // relative: beside the app, whatever the worker's folder

        // One CosmosClient per process (it holds connections and caches), authenticated with the managed identity.
        services.AddSingleton(_ => new CosmosClient(settings.CosmosEndpoint, new DefaultAzureCredential(), CosmosStore.ClientOptions()));
        services.AddSingleton(sp => new CosmosStore(sp.GetRequiredService<CosmosClient>(), sp.GetRequiredService<DeviceRegistry>(), new CosmosStoreOptions { Database = settings.Database, Partitions = settings.EventHubPartitions }, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IPipelineStore>(sp => sp.GetRequiredService<CosmosStore>());
        services.AddSingleton<IDeviceStateStore>(sp => sp.GetRequiredService<CosmosStore>());
        services.AddSingleton<IDeadLetters>(sp => sp.GetRequiredService<CosmosStore>());
        services.AddSingleton(_ => new PipelineMetrics());
        services.AddSingleton<IDeviceCommands>(sp => settings.MqttHost.Length == 0
            ? new LoggedCommands(sp.GetRequiredService<ILogger<LoggedCommands>>())
            : new MqttCommandSender(new MqttCommandSenderOptions
            {
                Host = settings.MqttHost,
                Port = settings.MqttPort,
                ClientId = InstanceClientId(settings.MqttClientId),
                UserName = settings.MqttClientId,
                UseTls = true,
                // Until its secret is uploaded the certificate is unset: the broker refuses the app and commands are
                // held and logged, while detection goes on.
                ClientCertificatePkcs12 = Resolved(settings.MqttClientCertificate) is { Length: > 0 } pfx ? Convert.FromBase64String(pfx) : null,
            }, sp.GetRequiredService<ILogger<MqttCommandSender>>()));
        services.AddSingleton(sp => new DeviceBatchProcessor(
            sp.GetRequiredService<DeviceRegistry>(),
            sp.GetRequiredService<IDeviceStateStore>(),
            sp.GetRequiredService<IPipelineStore>(),
            sp.GetRequiredService<IDeviceCommands>(),
            sp.GetRequiredService<IDeadLetters>(),
            sp.GetRequiredService<PipelineMetrics>()));
        // No DeviceRecordCache: the store keeps the device documents this instance wrote last (CosmosStoreOptions.CacheDevices),
        // so a warm instance that kept its partitions reads no device at all, and a stale document fails its ETag.
        services.AddSingleton(sp => new Watchdog(sp.GetRequiredService<DeviceRegistry>(), sp.GetRequiredService<IDeviceStateStore>(), sp.GetRequiredService<IPipelineStore>(), sp.GetRequiredService<TimeProvider>())
        {
            MaxPerRun = settings.WatchdogMaxPerRun,
        });
        // Notifications: the webhooks file deployed with the app (none configured for a recipient: its notifications are
        // retried until one is, as locally), the outbox in Cosmos DB, the local host's dispatcher and webhook notifier.
        services.AddSingleton(_ => NotificationsOf(settings));
        services.AddSingleton(_ => WebhookNotifier.CreateHttpClient(TimeSpan.FromSeconds(10)));
        services.AddSingleton<IOutboxStore>(sp => sp.GetRequiredService<CosmosStore>());
        services.AddSingleton(sp => new OutboxDispatcher(
            sp.GetRequiredService<IOutboxStore>(),
            new WebhookNotifier(sp.GetRequiredService<HttpClient>(), sp.GetRequiredService<NotificationSettings>().Webhooks, sp.GetRequiredService<TimeProvider>()),
            sp.GetRequiredService<NotificationSettings>().Retry,
            sp.GetRequiredService<TimeProvider>())
        {
            // Cosmos DB's due query does not take recipients in turn (SQLite's does), so a pass keeps its full width.
            MaxPerRecipient = 8,
        });
        // Escalation: the local host's pass over the Cosmos DB store, with the limits of the notification settings'
        // escalation section (the local host's notifications file format), run by the escalation timer.
        services.AddSingleton<Escalation.IEscalationStore>(sp => sp.GetRequiredService<CosmosStore>());
        services.AddSingleton(sp => new Escalation.Escalator(
            sp.GetRequiredService<Escalation.IEscalationStore>(),
            sp.GetRequiredService<DeviceRegistry>(),
            new Escalation.EscalationPolicy(sp.GetRequiredService<NotificationSettings>().Escalation),
            sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IAlertChanges>(sp => new NotifyingAlertChanges(sp.GetRequiredService<DeviceRegistry>(), sp.GetRequiredService<CosmosStore>(), sp.GetRequiredService<OutboxDispatcher>()));
        services.AddSingleton(sp =>
        {
            var store = sp.GetRequiredService<CosmosStore>();
            return new StatusApi(sp.GetRequiredService<DeviceRegistry>(), store, store, store, time: sp.GetRequiredService<TimeProvider>(), deliveries: new AlertDeliveriesHandler(store));
        });
        services.AddSingleton(new Api.Live.StationPolling
        {
            Interval = TimeSpan.FromSeconds(Math.Clamp(settings.StreamPollSeconds, 0.5, 60)),
            Lifetime = TimeSpan.FromSeconds(Math.Clamp(settings.StreamSeconds, 10, 220)),
        });
        services.AddHostedService<AdminKeyBootstrap>();
        return services;
    }

    /// <summary>The notification settings from the app settings: JSON (from Key Vault), else a file, else none.</summary>
    public static NotificationSettings NotificationsOf(SmartPowerSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var json = Resolved(settings.NotificationsJson);
        if (json.Length > 0)
        {
            return NotificationSettings.Parse(json);
        }

        return settings.NotificationsPath.Length == 0 ? NotificationSettings.Default : NotificationSettings.Load(settings.NotificationsPath);
    }

    /// <summary>
    /// This instance's MQTT client id: every instance connects as the app's client (the authentication name), each with a
    /// client id of its own, for one id shared by the instances would have each connection take over another's session.
    /// </summary>
    public static string InstanceClientId(string clientName) => $"{clientName}-{Guid.NewGuid():N}"[..(clientName.Length + 13)];

    /// <summary>
    /// A setting that may be a Key Vault reference, trimmed; empty when it is one Key Vault could not resolve (the
    /// secret not set yet), for the platform then leaves the reference's own text in the setting.
    /// </summary>
    private static string Resolved(string setting)
    {
        var value = setting.Trim();
        return value.StartsWith("@Microsoft.KeyVault(", StringComparison.Ordinal) ? "" : value;
    }
}

/// <summary>Commands when no MQTT broker is configured: logged, not sent.</summary>
public sealed class LoggedCommands(ILogger<LoggedCommands> logger) : IDeviceCommands
{
    public Task SendAsync(Contract.DeviceCommand command, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        logger.LogWarning("no MQTT broker configured: not sent {Topic} {Payload}", command.Topic, System.Text.Encoding.UTF8.GetString(command.ToPayload()));
        return Task.CompletedTask;
    }
}
