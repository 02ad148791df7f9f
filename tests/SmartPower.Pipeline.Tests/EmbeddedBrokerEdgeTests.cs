using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using SmartPower.Contract;
using SmartPower.Mqtt;

namespace SmartPower.Pipeline.Tests;

/// <summary>
/// The embedded broker in sequences found in review at stop 19 (each failed before its fix): a QoS 2 reading, and a
/// takeover of a kept session with a new token.
/// </summary>
public sealed class EmbeddedBrokerEdgeTests
{
    /// <summary>
    /// Sequence: a meter publishes a reading on its own telemetry topic with QoS 2 (MQTT allows it; nothing in the broker
    /// or the ingress refuses it). EmbeddedBroker.InterceptPublishAsync holds back or awaits durability only for
    /// QoS 1 (<c>message.QualityOfServiceLevel == AtLeastOnce</c>), and HoldAcknowledgementAsync holds only PUBACK; so
    /// the interceptor returns as soon as the log has *taken* the record, and MQTTnet answers PUBREC Success (then
    /// PUBCOMP) at once. Here the log's write never completes (a slow fsync; or it fails, disk full).
    /// What went wrong: the device is told "delivered" (QoS 2 finished) before the reading is durable; if the write then
    /// fails (ENOSPC) or the host is killed, the device has dropped the reading and never sends it again: lost.
    /// Expected: a QoS 2 reading is not acknowledged before it is durable (or QoS 2 is refused / downgraded).
    /// </summary>
    [Fact]
    public async Task A_qos2_reading_is_not_acknowledged_before_it_is_durable()
    {
        var log = new PendingLog();
        using var ingress = new Ingress(Story.Registry(), log);
        var port = FreePorts.Next();
        await using var broker = new EmbeddedBroker(new EmbeddedBrokerOptions { Port = port, BindAddress = System.Net.IPAddress.Loopback }, ingress, new AnyToken());
        await broker.StartAsync();

        using var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(Options(port, "m-0001", "token", cleanStart: true));
        var publish = client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(Feed.Topic("m-0001")).WithPayload(Feed.MeterPayload(0, 1, 5))
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.ExactlyOnce).Build());
        await Task.WhenAny(publish, Task.Delay(1500));
        Assert.Equal(1, log.Taken); // the log has the record, not durable
        Assert.False(publish.IsCompletedSuccessfully && (await publish).IsSuccess, "QoS 2 reading acknowledged (PUBREC/PUBCOMP success) while the log's write is still pending");
        log.Fail(new IOException("No space left on device")); // and the write fails: the device will not send it again
    }

    /// <summary>
    /// Sequence: meter m-0001 is connected with token T1 and clean start off (MQTT 5, a persistent-session firmware).
    /// The operator rotates its token outside the host (<c>tokens revoke</c>, then <c>tokens issue</c>: T1 revoked, T2
    /// valid) and reprovisions the meter, which connects again with T2 before the broker noticed its old connection
    /// died (a session takeover, clean start off). ValidateAsync checks T2 and writes it to the ValidatingConnection
    /// event's session items; but MQTTnet reuses the existing session on a takeover without clean start
    /// (MqttClientSessionsManager.CreateClientConnection: the new items are dropped), so the session still carries T1
    /// (and the old connection's HeldAcknowledgements). RecheckCredentialsAsync reads TokenKey = T1, finds it revoked
    /// and disconnects the meter.
    /// What went wrong: a device whose token is valid is disconnected by the revoked-token check (its unacknowledged
    /// readings are held up and sent again).
    /// Expected: the meter connected with a valid token stays connected.
    /// </summary>
    [Fact]
    public async Task A_takeover_with_a_new_valid_token_is_not_disconnected_by_the_revoked_token_check()
    {
        await using var harness = await PipelineHarness.StartAsync(configure: o => o.Broker.CredentialRecheck = TimeSpan.FromMilliseconds(200));
        var t1 = harness.Tokens["m-0001"];
        using var first = new MqttClientFactory().CreateMqttClient();
        await first.ConnectAsync(Options(harness.MqttPort, "m-0001", t1, cleanStart: false));

        Assert.Equal(1, await harness.Pipeline.Store.RevokeAsync("m-0001", CancellationToken.None)); // `tokens revoke` (outside the host)
        var t2 = await harness.Pipeline.Store.IssueAsync("m-0001", CancellationToken.None); // `tokens issue`
        Assert.True(await harness.Pipeline.Credentials.VerifyAsync("m-0001", t2, CancellationToken.None));

        using var second = new MqttClientFactory().CreateMqttClient();
        var closedWith = "";
        second.DisconnectedAsync += e =>
        {
            closedWith = $"{e.Reason} {e.ReasonString}";
            return Task.CompletedTask;
        };
        var connected = await second.ConnectAsync(Options(harness.MqttPort, "m-0001", t2, cleanStart: false));
        Assert.Equal(MqttClientConnectResultCode.Success, connected.ResultCode);
        Assert.True(connected.IsSessionPresent); // the old session (and its items) taken over

        await Task.Delay(1500); // several rechecks
        Assert.True(second.IsConnected, $"the connection made with the valid token T2 was closed by the revoked-token check (the session still carries T1): {closedWith}");
    }

    private static MqttClientOptions Options(int port, string deviceId, string token, bool cleanStart) =>
        new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId(deviceId).WithCredentials(deviceId, token)
            .WithProtocolVersion(MqttProtocolVersion.V500).WithCleanStart(cleanStart).WithSessionExpiryInterval(cleanStart ? 0u : 3600u)
            .WithTimeout(TimeSpan.FromSeconds(5)).Build();

    /// <summary>A log that takes every record and makes none durable until told (then fails them).</summary>
    private sealed class PendingLog : ITelemetryLog
    {
        private readonly TaskCompletionSource _durable = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _taken;

        public int PartitionCount => 1;

        public int Taken => Volatile.Read(ref _taken);

        public ValueTask AppendAsync(TelemetryMessage message, CancellationToken cancellationToken) => new(_durable.Task.WaitAsync(cancellationToken));

        public ValueTask<Task> TakeAsync(TelemetryMessage message, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _taken);
            return ValueTask.FromResult(_durable.Task);
        }

        public void Fail(Exception ex) => _durable.TrySetException(ex);
    }

    private sealed class AnyToken : IDeviceCredentials
    {
        public ValueTask<bool> VerifyAsync(string deviceId, string token, CancellationToken cancellationToken) => ValueTask.FromResult(true);

        public Task<string> IssueAsync(string deviceId, CancellationToken cancellationToken) => Task.FromResult("token");

        public Task<int> RevokeAsync(string deviceId, CancellationToken cancellationToken) => Task.FromResult(0);
    }
}
