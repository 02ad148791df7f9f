using System.Net;
using System.Text;
using Azure.Messaging.EventHubs;
using Azure.Messaging.EventHubs.Primitives;
using Microsoft.Azure.Cosmos;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using SmartPower.Cosmos;
using SmartPower.EventHubs;
using SmartPower.Mqtt;

namespace SmartPower.Azure.Tests;

/// <summary>
/// Event Hubs, with the SDK's test support: the producer behind the MQTT ingress (the SDK's buffered producer with its
/// transport replaced through its mocking constructor), and the processor's handlers driven as Event Hubs drives them,
/// with events from <see cref="EventHubsModelFactory"/>, device state and checkpoints in the real Cosmos DB test server.
/// </summary>
public sealed class EventHubsTests : CosmosNightTests
{
    private CosmosCheckpointStore _checkpoints = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _checkpoints = new CosmosCheckpointStore(CosmosServer.Client.GetContainer(Options.Database, CosmosSchema.Checkpoints));
    }

    [Fact]
    public async Task An_append_completes_only_once_event_hubs_accepted_it_keyed_by_device()
    {
        var producer = new TestBufferedProducer();
        await using var log = new EventHubTelemetryLog(producer, 4);
        var payload = Encoding.UTF8.GetBytes(Feed.MeterPayload(0, 1, 5));
        var append = log.AppendAsync(new TelemetryMessage("m-0001", Feed.Topic("m-0001"), payload, 1234), CancellationToken.None).AsTask();
        await Task.Delay(100);
        Assert.False(append.IsCompleted);
        var (data, key) = Assert.Single(producer.Buffered);
        Assert.Equal("m-0001", key);
        Assert.Equal(Feed.Topic("m-0001"), data.Properties[EventHubTelemetryLog.TopicProperty]);
        Assert.Equal(payload, data.EventBody.ToArray());
        var read = TelemetryEvents.From(data);
        Assert.Equal((Feed.Topic("m-0001"), 1234L), (read.Topic, read.ArrivedAtMs));

        await producer.AcceptAllAsync();
        await append.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(0, log.Pending);
    }

    [Fact]
    public async Task A_send_that_failed_after_the_retries_fails_the_append()
    {
        var producer = new TestBufferedProducer();
        await using var log = new EventHubTelemetryLog(producer, 4);
        var append = log.AppendAsync(new TelemetryMessage("m-0001", Feed.Topic("m-0001"), "{}"u8.ToArray(), 1), CancellationToken.None).AsTask();
        await producer.FailAllAsync(new EventHubsException(true, "telemetry", "throttled", EventHubsException.FailureReason.ServiceBusy));
        var error = await Assert.ThrowsAsync<EventHubsException>(() => append);
        Assert.Equal(EventHubsException.FailureReason.ServiceBusy, error.Reason);
    }

    [Fact]
    public async Task A_device_s_qos1_publish_is_acknowledged_only_after_event_hubs_accepted_it()
    {
        var producer = new TestBufferedProducer();
        await using var log = new EventHubTelemetryLog(producer, 4);
        using var ingress = new Ingress(Night.Registry, log);
        var port = FreePorts.Next();
        await using var broker = new EmbeddedBroker(new EmbeddedBrokerOptions { BindAddress = IPAddress.Loopback, Port = port }, ingress, new AnyToken());
        await broker.StartAsync();
        using var device = new MqttClientFactory().CreateMqttClient();
        await device.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("m-0001").WithCredentials("m-0001", "token")
            .WithProtocolVersion(MqttProtocolVersion.V500).Build());
        var publish = device.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(Feed.Topic("m-0001")).WithPayload(Feed.MeterPayload(0, 1, 5))
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (producer.Buffered.Count == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        await Task.Delay(200);
        Assert.False(publish.IsCompleted); // no PUBACK while the event is only buffered
        await producer.AcceptAllAsync();
        var result = await publish.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(result.IsSuccess);
        Assert.Equal(1, ingress.Appended);
    }

    [Fact]
    public async Task The_bridge_forwards_a_broker_s_messages_to_event_hubs_and_acknowledges_them_after_acceptance()
    {
        var producer = new TestBufferedProducer();
        var log = new EventHubTelemetryLog(producer, 4);
        using var mosquitto = await Mosquitto.StartAsync();
        var broker = new BrokerBridgeOptions { Host = "127.0.0.1", Port = mosquitto.Port, ClientId = "bridge" };
        await using var bridge = await Bridge.EventHubsBridge.StartAsync(Night.Registry, broker, log, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance, CancellationToken.None);
        using var device = new MqttClientFactory().CreateMqttClient();
        await device.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", mosquitto.Port).WithClientId("p-0001")
            .WithProtocolVersion(MqttProtocolVersion.V500).Build());
        await device.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(Feed.Topic("p-0001", "pile")).WithPayload(Feed.PilePayload(0, 1, 150, 0))
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (producer.Buffered.Count == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        var (data, key) = Assert.Single(producer.Buffered);
        Assert.Equal(("p-0001", Feed.Topic("p-0001", "pile")), (key, data.Properties[EventHubTelemetryLog.TopicProperty]));
        Assert.Equal(0, bridge.Ingress.Appended); // not acknowledged to the broker while Event Hubs has not accepted it
        await producer.AcceptAllAsync();
        deadline = DateTime.UtcNow.AddSeconds(10);
        while (bridge.Ingress.Appended == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.Equal(1, bridge.Ingress.Appended);
    }

    [Fact]
    public async Task The_processor_checkpoints_each_batch_and_a_new_owner_resumes_after_the_checkpoint()
    {
        var events = Events();
        var batches = events.Chunk(24).ToList();
        var first = Processor();
        await first.InitializeAsync("0");
        foreach (var batch in batches.Take(10))
        {
            await first.ProcessAsync("0", batch);
        }

        // The partition moves to another instance: it starts after the checkpoint, at the next event.
        var second = Processor();
        await second.InitializeAsync("0");
        var checkpoint = await second.CheckpointAsync("0");
        Assert.Equal(global::Azure.Messaging.EventHubs.Consumer.EventPosition.FromSequenceNumber(batches[9][^1].SequenceNumber, isInclusive: false), checkpoint!.StartingPosition);
        foreach (var batch in Remaining(events, checkpoint).Chunk(24))
        {
            await second.ProcessAsync("0", batch);
        }

        await AssertStoredAsReferenceAsync();
    }

    [Fact]
    public async Task A_batch_processed_but_not_checkpointed_is_delivered_again_without_a_second_alert()
    {
        var events = Events();
        var batches = events.Chunk(24).ToList();
        var flaky = new FlakyCheckpoints(_checkpoints);
        var alerts = new RecordingAlerts(Store);
        var first = Processor(flaky, alerts);
        for (var i = 0; i < 21; i++)
        {
            if (i == 20)
            {
                flaky.FailNextUpdate = true; // the instance dies after detection, before its checkpoint
                await Assert.ThrowsAsync<IOException>(() => first.ProcessAsync("0", batches[i]));
                break;
            }

            await first.ProcessAsync("0", batches[i]);
        }

        var second = Processor(flaky, alerts);
        await second.InitializeAsync("0");
        var replay = Remaining(events, await second.CheckpointAsync("0")).ToList();
        Assert.Equal(batches[20][0].SequenceNumber, replay[0].SequenceNumber); // batch 20 comes again
        foreach (var batch in replay.Chunk(24))
        {
            await second.ProcessAsync("0", batch);
        }

        await AssertStoredAsReferenceAsync();
        var opened = alerts.Committed.Where(t => t.Kind == Alerts.TransitionKind.Opened).Select(t => t.Alert.AlertId).ToList();
        Assert.Equal(opened.Distinct().Count(), Night.FinalAlerts.Count);
    }

    [Fact]
    public async Task Ownership_is_claimed_by_one_instance_and_taken_over_only_from_the_version_seen()
    {
        static EventProcessorPartitionOwnership Claim(string owner, string? version) => new()
        {
            FullyQualifiedNamespace = "ns.servicebus.windows.net",
            EventHubName = "telemetry",
            ConsumerGroup = "detection",
            PartitionId = "0",
            OwnerIdentifier = owner,
            Version = version,
        };

        var both = await Task.WhenAll(_checkpoints.ClaimOwnershipAsync([Claim("a", null)], CancellationToken.None), _checkpoints.ClaimOwnershipAsync([Claim("b", null)], CancellationToken.None));
        var won = Assert.Single(both.SelectMany(x => x));
        var loser = won.OwnerIdentifier == "a" ? "b" : "a";
        var listed = Assert.Single(await _checkpoints.ListOwnershipAsync("ns.servicebus.windows.net", "telemetry", "detection", CancellationToken.None));
        Assert.Equal((won.OwnerIdentifier, won.Version), (listed.OwnerIdentifier, listed.Version));

        Assert.Empty(await _checkpoints.ClaimOwnershipAsync([Claim(loser, null)], CancellationToken.None)); // stale: it saw it unowned
        var renewed = Assert.Single(await _checkpoints.ClaimOwnershipAsync([Claim(won.OwnerIdentifier, won.Version)], CancellationToken.None));
        var taken = Assert.Single(await _checkpoints.ClaimOwnershipAsync([Claim(loser, renewed.Version)], CancellationToken.None)); // load balancing moves it
        Assert.Equal(loser, taken.OwnerIdentifier);
        Assert.Empty(await _checkpoints.ClaimOwnershipAsync([Claim(won.OwnerIdentifier, renewed.Version)], CancellationToken.None)); // the old owner lost it
    }

    [Fact]
    public async Task Taking_on_a_partition_forgets_cached_devices_another_instance_may_have_written()
    {
        var cache = new DeviceRecordCache();
        var processor = new TestProcessor(_checkpoints, Detection(Store, cache), cache);
        await processor.ProcessAsync("0", Events().Take(24));
        Assert.Equal(4, cache.Count);
        await processor.InitializeAsync("1");
        Assert.Equal(0, cache.Count);
    }

    private TestProcessor Processor(CheckpointStore? checkpoints = null, IPipelineStore? alerts = null)
    {
        var cache = new DeviceRecordCache();
        return new(checkpoints ?? _checkpoints, Detection(alerts ?? Store, cache), cache);
    }

    private DeviceBatchProcessor Detection(IPipelineStore alerts, DeviceRecordCache cache) =>
        new(Night.Registry, Store, alerts, new RecordingCommands(), Store, new PipelineMetrics(), cache: cache);

    /// <summary>The night as Event Hubs would hand it out on partition 0, sequence numbers from 1000.</summary>
    private List<EventData> Events() =>
        [.. Night.Events.Select((e, i) => EventHubsModelFactory.EventData(
            new BinaryData(e.Payload),
            new Dictionary<string, object> { [EventHubTelemetryLog.TopicProperty] = e.Topic!, [EventHubTelemetryLog.ArrivedAtProperty] = e.ArrivedAtMs },
            partitionKey: e.Topic!.Split('/')[4],
            sequenceNumber: 1000 + i,
            offsetString: (i * 512).ToString(System.Globalization.CultureInfo.InvariantCulture),
            enqueuedTime: DateTimeOffset.FromUnixTimeMilliseconds(e.ArrivedAtMs)))];

    /// <summary>What a consumer starting at the checkpoint's position receives.</summary>
    private static IEnumerable<EventData> Remaining(List<EventData> events, EventProcessorCheckpoint? checkpoint)
    {
        var last = events.FindIndex(e => global::Azure.Messaging.EventHubs.Consumer.EventPosition.FromSequenceNumber(e.SequenceNumber, isInclusive: false) == checkpoint!.StartingPosition);
        return events.Skip(last + 1);
    }

    private async Task AssertStoredAsReferenceAsync()
    {
        foreach (var (id, alert) in Night.FinalAlerts)
        {
            Assert.Equal(alert, (await Store.GetAlertAsync(id))!.Alert);
        }
    }

    private sealed class AnyToken : IDeviceCredentials
    {
        public ValueTask<bool> VerifyAsync(string deviceId, string token, CancellationToken cancellationToken) => ValueTask.FromResult(true);

        public Task<string> IssueAsync(string deviceId, CancellationToken cancellationToken) => Task.FromResult("token");

        public Task<int> RevokeAsync(string deviceId, CancellationToken cancellationToken) => Task.FromResult(0);
    }
}
