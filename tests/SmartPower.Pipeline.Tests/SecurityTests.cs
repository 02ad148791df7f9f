using MQTTnet;
using MQTTnet.Protocol;
using SmartPower.Contract;
using SmartPower.Mqtt;

namespace SmartPower.Pipeline.Tests;

/// <summary>
/// The embedded broker refuses what a device may not do, counts it by reason, and nothing refused reaches detection:
/// the engine's counters and the store stay as they were.
/// </summary>
public sealed class SecurityTests : IAsyncLifetime
{
    private PipelineHarness _harness = null!;

    public async Task InitializeAsync() => _harness = await PipelineHarness.StartAsync(configure: o =>
    {
        o.Ingress.RateBurst = 20;
        o.Ingress.AuthLockout = TimeSpan.FromSeconds(3); // long enough that a busy machine's slow connect still falls inside it
    });

    public async Task DisposeAsync() => await _harness.DisposeAsync();

    [Fact]
    public async Task A_wrong_password_is_refused_and_counted()
    {
        await using var device = new TestDevice("m-0001", "not-the-token", _harness.MqttPort);
        Assert.Equal(MqttClientConnectResultCode.BadUserNameOrPassword, await RefusedConnectAsync(device));
        Assert.Equal(1, _harness.Pipeline.Ingress.RefusedFor(IngressRefusal.BadCredentials));
    }

    [Fact]
    public async Task Password_guessing_locks_the_device_id_out_for_a_while_and_is_counted()
    {
        for (var i = 0; i < 5; i++)
        {
            await using var guess = new TestDevice("m-0001", $"guess-{i}", _harness.MqttPort);
            Assert.Equal(MqttClientConnectResultCode.BadUserNameOrPassword, await RefusedConnectAsync(guess));
        }

        // Locked out: even the right token is refused until the lockout ends (3 s here, a minute by default).
        await using (var right = new TestDevice("m-0001", _harness.Tokens["m-0001"], _harness.MqttPort))
        {
            Assert.Equal(MqttClientConnectResultCode.ConnectionRateExceeded, await RefusedConnectAsync(right));
        }

        Assert.Equal(5, _harness.Pipeline.Ingress.RefusedFor(IngressRefusal.BadCredentials));
        Assert.Equal(1, _harness.Pipeline.Ingress.RefusedFor(IngressRefusal.AuthThrottled));

        // Other devices are not affected, and after the lockout the device connects again.
        await using var other = new TestDevice("m-0002", _harness.Tokens["m-0002"], _harness.MqttPort);
        Assert.Equal(MqttClientConnectResultCode.Success, (await other.ConnectAsync()).ResultCode);

        await Task.Delay(3200);
        await using var again = new TestDevice("m-0001", _harness.Tokens["m-0001"], _harness.MqttPort);
        Assert.Equal(MqttClientConnectResultCode.Success, (await again.ConnectAsync()).ResultCode);
    }

    [Fact]
    public async Task A_revoked_token_no_longer_connects()
    {
        await _harness.Pipeline.Store.RevokeAsync("m-0002", CancellationToken.None);
        await using var device = new TestDevice("m-0002", _harness.Tokens["m-0002"], _harness.MqttPort);
        Assert.Equal(MqttClientConnectResultCode.BadUserNameOrPassword, await RefusedConnectAsync(device));
        Assert.Equal(1, _harness.Pipeline.Ingress.RefusedFor(IngressRefusal.BadCredentials));
    }

    [Fact]
    public async Task An_unknown_device_is_refused_and_counted()
    {
        await using var device = new TestDevice("m-9999", _harness.Tokens["m-0001"], _harness.MqttPort);
        Assert.Equal(MqttClientConnectResultCode.BadUserNameOrPassword, await RefusedConnectAsync(device));
        Assert.Equal(1, _harness.Pipeline.Ingress.RefusedFor(IngressRefusal.UnknownDevice));
    }

    [Fact]
    public async Task A_device_cannot_publish_under_another_devices_topic()
    {
        await using var device = await _harness.ConnectAsync("m-0001");
        var result = await device.PublishAsync(Feed.Topic("m-0002"), Feed.MeterPayload(0, 1, 60, leakageMa: 900, arc: true));
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, result.ReasonCode);

        // Nor on a command topic, nor with a path trick.
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, (await device.PublishAsync(Feed.Topic("m-0001", channel: "command"), "{}")).ReasonCode);
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, (await device.PublishAsync("smartpower/v1/xihu-wutong/meter/m-0001/../m-0002/telemetry", "{}")).ReasonCode);

        // Nor with a topic of multi-byte characters too long for the contract (it was an exception, and the connection closed).
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, (await device.PublishAsync("smartpower/v1/" + new string('\u6e56', 90) + "/meter/m-0001/telemetry", "{}")).ReasonCode);
        await AssertNothingReachedDetectionAsync();
        Assert.Equal(4, _harness.Pipeline.Ingress.RefusedFor(IngressRefusal.TopicNotAllowed));
    }

    [Fact]
    public async Task A_device_cannot_subscribe_to_another_devices_commands_or_to_wildcards()
    {
        await using var device = await _harness.ConnectAsync("m-0001");
        foreach (var filter in new[] { Feed.Topic("p-0001", "pile", "command"), "smartpower/#", "smartpower/v1/+/meter/+/telemetry" })
        {
            var result = await device.SubscribeAsync(filter);
            Assert.Equal(MqttClientSubscribeResultCode.NotAuthorized, result.Items.Single().ResultCode);
        }

        var own = await device.SubscribeAsync(Feed.Topic("m-0001", channel: "command"));
        Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, own.Items.Single().ResultCode);
        Assert.Equal(3, _harness.Pipeline.Ingress.RefusedFor(IngressRefusal.SubscriptionNotAllowed));
    }

    [Fact]
    public async Task An_oversize_payload_is_refused_before_the_log()
    {
        await using var device = await _harness.ConnectAsync("m-0001");
        var payload = Feed.MeterPayload(0, 1, 5).TrimEnd('}') + ",\"pad\":\"" + new string('x', ReadingLimits.Default.MaxPayloadBytes) + "\"}";
        var result = await device.PublishAsync(Feed.Topic("m-0001"), payload);
        Assert.Equal(MqttClientPublishReasonCode.PayloadFormatInvalid, result.ReasonCode);
        await AssertNothingReachedDetectionAsync();
        Assert.Equal(1, _harness.Pipeline.Ingress.RefusedFor(IngressRefusal.Oversize));
    }

    [Fact]
    public async Task Malformed_payloads_are_rejected_by_the_parser_with_their_reason_and_change_nothing()
    {
        await using var device = await _harness.ConnectAsync("m-0001");
        foreach (var payload in new[] { "{not json", "[1,2]", """{"ts":"2026-11-26T12:00:00Z","seq":1,"voltageV":230,"currentA":"NaN","powerW":1}""", """{"ts":"2026-11-26T12:00:00Z","seq":1}""" })
        {
            await device.PublishAsync(Feed.Topic("m-0001"), payload);
        }

        await _harness.WaitCaughtUpAsync();
        Assert.Equal(0, _harness.Pipeline.Metrics.Accepted);
        Assert.Equal(4, _harness.Pipeline.Metrics.Rejected);
        Assert.Equal(2, _harness.Pipeline.Metrics.RejectedFor(RejectReason.MalformedJson));
        Assert.Empty(await _harness.Pipeline.Store.GetAlertsAsync());
    }

    [Fact]
    public async Task A_device_flooding_beyond_its_rate_is_cut_off_and_counted()
    {
        await using var device = await _harness.ConnectAsync("m-0001");
        var refused = 0;
        for (var i = 0; i < 40; i++)
        {
            var result = await device.PublishAsync(Feed.Topic("m-0001"), Feed.MeterPayload(i, 100 + i, 5));
            refused += result.ReasonCode == MqttClientPublishReasonCode.QuotaExceeded ? 1 : 0;
        }

        Assert.InRange(refused, 15, 20); // a burst of 20, refilling at 5/s while the loop runs
        Assert.Equal(refused, _harness.Pipeline.Ingress.RefusedFor(IngressRefusal.RateLimited));
    }

    [Fact]
    public async Task A_device_cannot_connect_under_another_client_id()
    {
        await using var device = new TestDevice("m-0001", _harness.Tokens["m-0001"], _harness.MqttPort, clientId: "m-0002");
        Assert.Equal(MqttClientConnectResultCode.ClientIdentifierNotValid, await RefusedConnectAsync(device));
    }

    /// <summary>The CONNACK's result code (MQTTnet 5 returns a refusal rather than throwing).</summary>
    private static async Task<MqttClientConnectResultCode> RefusedConnectAsync(TestDevice device)
    {
        return (await device.ConnectAsync()).ResultCode;
    }

    private async Task AssertNothingReachedDetectionAsync()
    {
        await _harness.WaitCaughtUpAsync();
        var m = _harness.Pipeline.Metrics;
        Assert.Equal(0, m.Accepted + m.Rejected + m.Duplicates);
        Assert.Equal(0, _harness.Pipeline.Ingress.Appended);
        Assert.Empty(await _harness.Pipeline.Store.GetAlertsAsync());
    }
}
