using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Protocol;
using SmartPower.Contract;
using SmartPower.Pipeline;

namespace SmartPower.Mqtt;

/// <summary>How to reach an external broker (mosquitto, EMQX) and share its telemetry with other bridges.</summary>
public sealed class BrokerBridgeOptions
{
    public string Host { get; set; } = "localhost";

    public int Port { get; set; } = 1883;

    public bool UseTls { get; set; }

    public string? UserName { get; set; }

    public string? Password { get; set; }

    /// <summary>
    /// The bridge's MQTT client id, which names its persistent session: it must stay the same across restarts of the host,
    /// or what the broker queued (and had in flight) for the session before a crash is never delivered.
    /// </summary>
    public string ClientId { get; set; } = $"smartpower-bridge-{Environment.MachineName}";

    /// <summary>
    /// The shared-subscription group: bridges in one group split the devices' messages between them. Null for a plain
    /// subscription (one bridge): mosquitto 2.0 restores a plain subscription of a persistent session after a restart,
    /// but not a shared one, so with a shared one what devices publish between the broker's restart and the bridge's
    /// return has no subscriber (MQTT 5 devices are told: PUBACK reason 16, no matching subscribers).
    /// </summary>
    public string? ShareGroup { get; set; } = "smartpower";

    public TimeSpan MaxReconnectDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The sites whose devices this bridge takes (their topics only); null for every site. Several bridges on disjoint
    /// sites (with plain subscriptions, <see cref="ShareGroup"/> null) share a broker's load without the reordering a
    /// share group brings: the group hands out messages one by one, so one device's next reading can reach the log
    /// through another bridge first, and the engine drops the late one as an older seq.
    /// </summary>
    public IReadOnlyList<string>? Sites { get; set; }

    /// <summary>
    /// Messages taken from the broker and not yet acknowledged, across devices, before the bridge stops reading (the
    /// broker's own limit, mosquitto's <c>max_inflight_messages</c>, 20 by default, usually comes first).
    /// </summary>
    public int MaxInFlight { get; set; } = 1000;
}

/// <summary>
/// Takes telemetry from an external broker instead of the embedded one, with a shared subscription
/// (<c>$share/{group}/smartpower/v1/+/+/+/telemetry</c> and <c>.../status</c>), so several hosts can split the load. The
/// broker authenticates devices and enforces its ACL; every message still passes the same <see cref="Ingress"/>
/// (the topic names the device), and is acknowledged to the broker only once the log has it durably, so a crash
/// makes the broker deliver it again. Also sends commands down through the same connection.
/// </summary>
public sealed class BrokerBridge : IDeviceCommands, IAsyncDisposable
{
    private static readonly TimeSpan MinAppendRetry = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxAppendRetry = TimeSpan.FromSeconds(5);

    private readonly BrokerBridgeOptions _options;
    private readonly Ingress _ingress;
    private readonly ILogger _logger;
    private readonly IMqttClient _client;
    private readonly CancellationTokenSource _stop = new();
    private readonly HeldCommands _held = new();
    private readonly RoundGate _gate = new();
    private readonly ConcurrentDictionary<long, Task> _deliveries = new();
    private readonly SemaphoreSlim _inFlight;
    private Task? _supervisor;

    public BrokerBridge(BrokerBridgeOptions options, Ingress ingress, ILogger? logger = null)
    {
        _options = options;
        _ingress = ingress;
        if (options.Sites is { } sites && sites.FirstOrDefault(s => !ingress.Registry.TryGetSite(s, out _)) is { } unknown)
        {
            throw new ArgumentException($"site '{unknown}' is not in the registry", nameof(options));
        }

        _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        _inFlight = new SemaphoreSlim(options.MaxInFlight);
        _client = new MqttClientFactory().CreateMqttClient();
        _client.ApplicationMessageReceivedAsync += OnMessageAsync;
    }

    public bool IsConnected => _client.IsConnected;

    /// <summary>Connects (waiting for the first connection) and keeps reconnecting with backoff until disposed.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await ConnectAsync(cancellationToken).ConfigureAwait(false);
        _supervisor = SuperviseAsync(_stop.Token);
    }

    /// <summary>
    /// Publishes a command to the device's command topic (QoS 1). One the broker had no subscriber for (MQTT 5 reason 16:
    /// the device is away), or sent while the broker was unreachable, is sent again when the device is next heard from
    /// (<see cref="HeldCommands"/>); a refusal is logged. Never throws but for cancellation, so detection does not stall.
    /// </summary>
    public Task SendAsync(DeviceCommand command, CancellationToken cancellationToken) => PublishAsync(CommandMessage.For(command), cancellationToken);

    private async Task PublishAsync(MqttApplicationMessage message, CancellationToken cancellationToken, DateTimeOffset? heldSince = null)
    {
        if (await _held.PublishAsync(message, ct => _client.PublishAsync(message, ct), heldSince, cancellationToken).ConfigureAwait(false) is { } problem)
        {
            _logger.LogError("command {Topic}: {Problem}", message.Topic, problem);
        }
    }

    /// <summary>Sends what is held for the device again (a publish holds what still cannot go, and throws only when stopping).</summary>
    private Task ReleaseHeldCommandsAsync(string deviceId) =>
        _held.IsEmpty ? Task.CompletedTask : _held.SendAgainAsync(deviceId, (message, heldAt) => PublishAsync(message, _stop.Token, heldAt));

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        if (_supervisor is not null)
        {
            await _supervisor.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        while (!_deliveries.IsEmpty) // one taken just as the stop came is added after a first look
        {
            await Task.WhenAll(_deliveries.Values).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        if (_client.IsConnected)
        {
            await _client.DisconnectAsync().ConfigureAwait(false);
        }

        _client.Dispose();
        _inFlight.Dispose();
        _stop.Dispose();
    }

    private async Task ConnectAsync(CancellationToken cancellationToken)
    {
        var builder = new MqttClientOptionsBuilder().WithTcpServer(_options.Host, _options.Port).WithClientId(_options.ClientId)
            .WithCleanSession(false).WithSessionExpiryInterval(3600).WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500);
        if (_options.UserName is not null)
        {
            builder.WithCredentials(_options.UserName, _options.Password);
        }

        if (_options.UseTls)
        {
            builder.WithTlsOptions(o => o.UseTls());
        }

        await _client.ConnectAsync(builder.Build(), cancellationToken).ConfigureAwait(false);
        var share = string.IsNullOrEmpty(_options.ShareGroup) ? "" : $"$share/{_options.ShareGroup}/";
        var subscribe = new MqttClientSubscribeOptionsBuilder();
        foreach (var site in _options.Sites ?? ["+"])
        {
            subscribe.WithTopicFilter($"{share}{Topic.Prefix}{site}/+/+/telemetry", MqttQualityOfServiceLevel.AtLeastOnce)
                .WithTopicFilter($"{share}{Topic.Prefix}{site}/+/+/status", MqttQualityOfServiceLevel.AtLeastOnce);
        }

        await _client.SubscribeAsync(subscribe.Build(), cancellationToken).ConfigureAwait(false);
        _logger.LogInformation("bridge connected to {Host}:{Port} as {ClientId}, {Subscription}", _options.Host, _options.Port, _options.ClientId,
            (string.IsNullOrEmpty(_options.ShareGroup) ? "plain subscription" : $"shared group {_options.ShareGroup}")
            + (_options.Sites is { } sites ? $" to sites {string.Join(", ", sites)}" : " to every site"));
    }

    private async Task SuperviseAsync(CancellationToken cancellationToken)
    {
        var delay = TimeSpan.FromMilliseconds(250);
        while (!cancellationToken.IsCancellationRequested)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (_client.IsConnected || cancellationToken.IsCancellationRequested)
            {
                continue;
            }

            try
            {
                await ConnectAsync(cancellationToken).ConfigureAwait(false);
                delay = TimeSpan.FromMilliseconds(250);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                var jittered = delay * (0.5 + Random.Shared.NextDouble());
                _logger.LogWarning("bridge reconnect to {Host}:{Port} failed ({Error}); next try in {Delay:F1} s", _options.Host, _options.Port, ex.Message, jittered.TotalSeconds);
                await Task.Delay(jittered, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.MaxReconnectDelay.Ticks));
            }
        }
    }

    /// <summary>
    /// Takes a message off the connection without waiting for it to become durable, so that the connection reads the
    /// next one (usually another device's) meanwhile: the devices together keep as many appends in flight as the broker
    /// lets through unacknowledged (mosquitto's <c>max_inflight_messages</c>) and the log can batch them. The
    /// <see cref="RoundGate"/> keeps each device's messages in order and the devices within a message of each other.
    /// </summary>
    private async Task OnMessageAsync(MqttApplicationMessageReceivedEventArgs e)
    {
        e.AutoAcknowledge = false;
        var topic = e.ApplicationMessage.Topic;
        var payload = System.Buffers.BuffersExtensions.ToArray(e.ApplicationMessage.Payload);
        await _inFlight.WaitAsync(_stop.Token).ConfigureAwait(false);
        var deviceId = DeviceOf(topic);
        var (number, turn) = _gate.Received(deviceId);
        var delivery = DeliverAsync(number, turn, e, deviceId, topic, payload);
        _deliveries[number] = delivery;
        _ = delivery.ContinueWith(_ => _deliveries.TryRemove(number, out Task? _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>The device the topic names, or the topic itself when it names none (the ingress refuses it).</summary>
    private static string DeviceOf(string topic) =>
        Topic.TryParse(System.Text.Encoding.UTF8.GetBytes(topic), out var parsed) ? System.Text.Encoding.UTF8.GetString(parsed.DeviceId) : topic;

    private async Task DeliverAsync(long number, Task turn, MqttApplicationMessageReceivedEventArgs e, string deviceId, string topic, byte[] payload)
    {
        try
        {
            await turn.WaitAsync(_stop.Token).ConfigureAwait(false);
            if (!await AppendAsync(topic, payload).ConfigureAwait(false))
            {
                return; // stopping: not acknowledged, so the broker keeps it for the next session
            }

            // Refused messages are acknowledged too: they are counted, and sending them again would not help. An
            // acknowledgement lost with the connection leaves a durable message the broker sends again (to the next
            // session): a duplicate, which the engine drops.
            await e.AcknowledgeAsync(_stop.Token).ConfigureAwait(false);
            await ReleaseHeldCommandsAsync(deviceId).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // stopping: not acknowledged
        }
        catch (Exception ex)
        {
            _logger.LogWarning("bridge could not acknowledge {Topic} ({Error}); the broker sends it again to the next session", topic, ex.Message);
        }
        finally
        {
            _gate.Done(number);
            _inFlight.Release();
        }
    }

    /// <summary>Appends until the log takes the message; false if the bridge is stopping.</summary>
    private async Task<bool> AppendAsync(string topic, byte[] payload)
    {
        var delay = MinAppendRetry;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await _ingress.AcceptAsync(null, topic, payload, _stop.Token).ConfigureAwait(false);
                return true;
            }
            catch (IngressClosedException)
            {
                return false;
            }
            catch (Exception ex) when (!_stop.IsCancellationRequested)
            {
                // (A cancellation is a failure too unless the bridge is stopping: a send that timed out.)
                // Not acknowledged, and not passed by: the broker sends it again only to a new session, and the device's
                // later messages (waiting at the gate) must not become durable first, or the engine would drop it as an
                // older seq. So it is tried again here until the log takes it or the bridge stops.
                _logger.LogError(ex, "bridge could not append {Topic} (attempt {Attempt}); trying again in {Delay:F1} s", topic, attempt, delay.TotalSeconds);
                await Task.Delay(delay, _stop.Token).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxAppendRetry.Ticks));
            }
        }
    }
}
