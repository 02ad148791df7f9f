using System.Text;
using System.Text.Json;
using Azure.Messaging.EventHubs;
using Microsoft.Azure.Cosmos;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using SmartPower.Contract;
using SmartPower.Cosmos;
using SmartPower.EventHubs;
using SmartPower.Functions;
using SmartPower.Mqtt;
using SmartPower.Webhooks;

namespace SmartPower.Azure.Tests;

/// <summary>
/// The Functions app's code as the host calls it: the detection function on Event Hubs batches (events from
/// <see cref="EventHubsModelFactory"/>, the partition from the trigger's binding data), the notification function on
/// alert documents as the change feed delivers them, the watchdog, the composition from app settings, and commands to a
/// real MQTT broker (the mosquitto test.sh starts). The triggers themselves (the Event Hubs and Cosmos DB extensions
/// delivering these) run only on Azure.
/// </summary>
public sealed class FunctionsTests : CosmosNightTests
{
    [Fact]
    public async Task The_detection_functionStores_the_alerts_of_its_batches_and_dead_letters_a_poison_event()
    {
        var metrics = new PipelineMetrics();
        var function = new DetectionFunction(
            new DeviceBatchProcessor(Night.Registry, Store, Store, new RecordingCommands(), Store, metrics, cache: new DeviceRecordCache()),
            NullLogger<DetectionFunction>.Instance);
        var bindingData = new Dictionary<string, object?> { ["PartitionContext"] = """{"FullyQualifiedNamespace":"ns","EventHubName":"telemetry","ConsumerGroup":"detection","PartitionId":"3"}""" };
        var partition = DetectionFunction.PartitionIdOf(bindingData);
        Assert.Equal("3", partition);

        var sequence = 0L;
        var deadLettered = 0;
        foreach (var batch in Night.Batches(60))
        {
            var events = batch.Select(e => Event(e, sequence++)).ToList();
            if (sequence < 30)
            {
                events.Insert(3, EventHubsModelFactory.EventData(new BinaryData("not from the bridge"u8.ToArray()), sequenceNumber: 999_999, offsetString: "0"));
            }

            deadLettered += (await function.RunBatchAsync(events, partition, CancellationToken.None)).DeadLettered;
        }

        Assert.Equal(1, deadLettered);
        Assert.Equal(1, metrics.DeadLetters);
        Assert.NotNull(await Store.GetDeadLetterAsync(3, "999999"));
        foreach (var (id, alert) in Night.FinalAlerts)
        {
            Assert.Equal(alert, (await Store.GetAlertAsync(id))!.Alert);
        }

        Assert.Throws<InvalidOperationException>(() => DetectionFunction.PartitionIdOf(new Dictionary<string, object?>()));
    }

    [Fact]
    public async Task The_notification_function_hands_on_every_history_entry_of_a_changed_alert()
    {
        var transitions = Night.Transitions.Where(t => t.Alert.Type == Alerts.AlertType.Leakage).ToList();
        await Store.CommitAsync(new BatchCommit(0, transitions, [], null), CancellationToken.None);
        await Store.AcknowledgeAsync(transitions[0].Alert.AlertId, "officer-li", "on the way");
        using var response = await CosmosServer.Client.GetContainer(Options.Database, CosmosSchema.Alerts)
            .ReadItemStreamAsync(transitions[0].Alert.AlertId, new PartitionKey(transitions[0].Alert.AlertId));
        using var document = await JsonDocument.ParseAsync(response.Content);

        var handler = new RecordingChanges();
        await new NotificationFunction(handler).RunAsync([document.RootElement], CancellationToken.None);
        Assert.Equal([.. transitions.Select(t => Alerts.AlertNames.Of(t.Kind)), "acknowledged"], handler.Changes.Select(c => c.Kind));
        Assert.Equal(transitions[^1].Alert, handler.Changes[^2].Alert);
        Assert.Equal("officer-li", handler.Changes[^1].Actor);
    }

    [Fact]
    public async Task Escalation_takes_its_limits_from_the_notification_settings_as_the_local_host_does()
    {
        using var registry = new TempFile(Feed.RegistryJson);
        var settings = new Dictionary<string, string?>
        {
            ["SmartPower:CosmosEndpoint"] = "https://smartpower-test.documents.azure.com:443/",
            ["SmartPower:RegistryPath"] = registry.Path,
            ["SmartPower:NotificationsJson"] = """{"escalation":{"acknowledgeWithinMin":10,"reAlarmCriticalAfterMin":20}}""",
        };
        await using var provider = new ServiceCollection().AddLogging().AddSmartPower(new ConfigurationBuilder().AddInMemoryCollection(settings).Build()).BuildServiceProvider();
        var options = provider.GetRequiredService<Escalation.Escalator>().Policy.Options;
        Assert.Equal((TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(20), TimeSpan.FromMinutes(60)), (options.AcknowledgeWithin, options.ReAlarmCriticalAfter, options.ReAlarmWarningAfter));
    }

    [Fact]
    public async Task The_app_composes_from_its_settings_without_secrets()
    {
        using var directory = new TempFile(Feed.RegistryJson);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["SmartPower:CosmosEndpoint"] = "https://smartpower-test.documents.azure.com:443/",
            ["SmartPower:RegistryPath"] = directory.Path,
            ["SmartPower:NotificationsJson"] = "@Microsoft.KeyVault(SecretUri=https://vault.example/secrets/notifications)",
            ["SmartPower:StreamPollSeconds"] = "5",
            ["SmartPower:StreamSeconds"] = "600", // over Azure's 230 s: held under it
        }).Build();
        var services = new ServiceCollection().AddLogging().AddSmartPower(configuration);
        services.AddSingleton<DetectionFunction>().AddSingleton<WatchdogFunction>().AddSingleton<NotificationFunction>().AddSingleton<StatusFunctions>().AddSingleton<OutboxFunction>().AddSingleton<EscalationFunction>();
        await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
        Assert.NotNull(provider.GetRequiredService<DetectionFunction>());
        Assert.NotNull(provider.GetRequiredService<WatchdogFunction>());
        Assert.NotNull(provider.GetRequiredService<NotificationFunction>());
        Assert.NotNull(provider.GetRequiredService<StatusFunctions>());
        Assert.NotNull(provider.GetRequiredService<OutboxFunction>());
        Assert.NotNull(provider.GetRequiredService<EscalationFunction>());
        Assert.Equal(NotificationSettings.Default.Escalation, provider.GetRequiredService<Escalation.Escalator>().Policy.Options); // the notification settings' limits
        Assert.IsType<CosmosStore>(provider.GetRequiredService<Escalation.IEscalationStore>());
        Assert.IsType<NotifyingAlertChanges>(provider.GetRequiredService<IAlertChanges>());
        Assert.Same(NotificationSettings.Default, provider.GetRequiredService<NotificationSettings>()); // an unresolved Key Vault reference counts as unset
        Assert.IsType<LoggedCommands>(provider.GetRequiredService<IDeviceCommands>()); // no broker configured
        Assert.Same(provider.GetRequiredService<CosmosClient>(), provider.GetRequiredService<CosmosClient>());
        Assert.Equal(4, provider.GetRequiredService<Registry.DeviceRegistry>().DeviceCount);
        var polling = provider.GetRequiredService<Api.Live.StationPolling>();
        Assert.Equal((TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(220)), (polling.Interval, polling.Lifetime));
    }

    /// <summary>
    /// Bicep sets the MQTT certificate as a Key Vault reference to a secret the operator uploads after the first
    /// deployment; until then the app sees the reference's own text. It was base64-decoded while composing the command
    /// sender, so the detection function could not be made and no telemetry was processed. Now the certificate counts as
    /// unset (the broker refuses the app, commands are held), and each instance has a client id of its own.
    /// </summary>
    [Fact]
    public async Task The_app_composes_while_its_mqtt_certificate_secret_is_not_uploaded_yet()
    {
        using var directory = new TempFile(Feed.RegistryJson);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["SmartPower:CosmosEndpoint"] = "https://smartpower-test.documents.azure.com:443/",
            ["SmartPower:RegistryPath"] = directory.Path,
            ["SmartPower:MqttHost"] = "smartpower-abc.eastasia-1.ts.eventgrid.azure.net",
            ["SmartPower:MqttClientCertificate"] = "@Microsoft.KeyVault(SecretUri=https://smartpower-abc.vault.azure.net/secrets/mqtt-client-certificate)",
        }).Build();
        var services = new ServiceCollection().AddLogging().AddSmartPower(configuration).AddSingleton<DetectionFunction>();
        await using var provider = services.BuildServiceProvider();
        Assert.NotNull(provider.GetRequiredService<DetectionFunction>());
        Assert.IsType<MqttCommandSender>(provider.GetRequiredService<IDeviceCommands>());

        var ids = Enumerable.Range(0, 40).Select(_ => Services.InstanceClientId("smartpower-functions")).ToList();
        Assert.All(ids, id => Assert.StartsWith("smartpower-functions-", id, StringComparison.Ordinal));
        Assert.Equal(ids.Count, ids.Distinct().Count());
    }

    [Fact]
    public async Task The_watchdog_function_raises_offline_for_a_silent_device()
    {
        var night = new Azure.Tests.Night(700, (device, t) => device != "m-0100" || t < 300);
        var processor = new DeviceBatchProcessor(night.Registry, Store, Store, new RecordingCommands(), Store, new PipelineMetrics());
        foreach (var batch in night.Batches(60))
        {
            await processor.ProcessAsync(0, batch, CancellationToken.None);
        }

        var time = new ManualTime(Feed.T0.AddSeconds(700));
        var alerts = new RecordingAlerts(Store);
        var function = new WatchdogFunction(new Pipeline.Watchdog(night.Registry, new FlakyStates(Store), alerts, time), NullLogger<WatchdogFunction>.Instance);
        await function.RunAsync(new TimerInfo(), CancellationToken.None);
        var offline = Assert.Single(alerts.Committed);
        Assert.Equal(("m-0100", Alerts.AlertType.Offline), (offline.Alert.DeviceId, offline.Alert.Type));
        Assert.Equal(Alerts.AlertState.Open, (await Store.GetAlertAsync(offline.Alert.AlertId))!.Alert.State);
    }

    [Fact]
    public async Task Commands_go_to_the_pile_s_command_topic_through_an_mqtt_broker()
    {
        using var broker = await Mosquitto.StartAsync();
        var port = broker.Port;
        using var pile = new MqttClientFactory().CreateMqttClient();
        var received = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        pile.ApplicationMessageReceivedAsync += e =>
        {
            received.TrySetResult(e.ApplicationMessage.Topic + " " + e.ApplicationMessage.ConvertPayloadToString());
            return Task.CompletedTask;
        };
        await pile.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("p-0001")
            .WithProtocolVersion(MqttProtocolVersion.V500).Build());
        var command = new DeviceCommand(Feed.Site, DeviceKind.Pile, "p-0001", "stop-port", 2, "a-1", "port-overpower");
        await pile.SubscribeAsync(command.Topic, MqttQualityOfServiceLevel.AtLeastOnce);

        await using var sender = new MqttCommandSender(new MqttCommandSenderOptions { Host = "127.0.0.1", Port = port, UseTls = false, ClientId = "smartpower-functions" });
        await sender.SendAsync(command, CancellationToken.None);
        Assert.Equal(command.Topic + " " + Encoding.UTF8.GetString(command.ToPayload()), await received.Task.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task A_command_for_a_pile_that_was_away_is_sent_when_the_pile_is_heard_from_again()
    {
        // Devices connect with a clean start: a command published while the pile is away has no subscriber (reason 16)
        // and no session keeps it. It is held and sent when a batch next holds the pile's messages.
        using var broker = await Mosquitto.StartAsync();
        await using var sender = new MqttCommandSender(new MqttCommandSenderOptions { Host = "127.0.0.1", Port = broker.Port, UseTls = false, ClientId = "smartpower-functions" });
        var command = new DeviceCommand(Feed.Site, DeviceKind.Pile, "p-0001", "stop-port", 2, "a-1", "port-overpower");
        await sender.SendAsync(command, CancellationToken.None);

        using var pile = new MqttClientFactory().CreateMqttClient();
        var received = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        pile.ApplicationMessageReceivedAsync += e =>
        {
            received.TrySetResult(e.ApplicationMessage.ConvertPayloadToString());
            return Task.CompletedTask;
        };
        await pile.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", broker.Port).WithClientId("p-0001")
            .WithProtocolVersion(MqttProtocolVersion.V500).Build());
        await pile.SubscribeAsync(command.Topic, MqttQualityOfServiceLevel.AtLeastOnce);
        await sender.DevicesHeardAsync(["m-0001"], CancellationToken.None);
        Assert.False(received.Task.IsCompleted);
        await sender.DevicesHeardAsync(["p-0001"], CancellationToken.None);
        Assert.Equal(Encoding.UTF8.GetString(command.ToPayload()), await received.Task.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    private static EventData Event(TelemetryEvent e, long sequence) => EventHubsModelFactory.EventData(
        new BinaryData(e.Payload),
        new Dictionary<string, object> { [EventHubTelemetryLog.TopicProperty] = e.Topic!, [EventHubTelemetryLog.ArrivedAtProperty] = e.ArrivedAtMs },
        sequenceNumber: sequence,
        offsetString: "0",
        enqueuedTime: DateTimeOffset.FromUnixTimeMilliseconds(e.ArrivedAtMs));

    private sealed class RecordingChanges : IAlertChanges
    {
        public List<AlertChange> Changes { get; } = [];

        public Task HandleAsync(IReadOnlyList<AlertChange> changes, CancellationToken cancellationToken)
        {
            Changes.AddRange(changes);
            return Task.CompletedTask;
        }
    }

    private sealed class TempFile : IDisposable
    {
        public TempFile(string text)
        {
            Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "smartpower-registry-" + Guid.NewGuid().ToString("N") + ".json");
            File.WriteAllText(Path, text);
        }

        public string Path { get; }

        public void Dispose() => File.Delete(Path);
    }
}
