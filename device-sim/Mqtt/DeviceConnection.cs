using System.Buffers;
using System.Text;
using System.Threading.Channels;
using MQTTnet;
using MQTTnet.Exceptions;
using MQTTnet.Protocol;
using SmartPower.DeviceSim.Contract;

namespace SmartPower.DeviceSim.Mqtt;

/// <summary>
/// One device's own MQTT client: username = device id, a retained <c>online</c> status on connecting and a Last
/// Will <c>offline</c> on the same topic, a subscription to its command topic, QoS 1 publishing in order from an
/// outbox, and reconnection with exponential backoff and jitter whenever the connection is lost.
/// </summary>
internal sealed class DeviceConnection : IDeviceLink
{
    private static readonly MqttClientFactory Factory = new();
    private readonly DeviceSpec _device;
    private readonly BrokerOptions _broker;
    private readonly RunStats _stats;
    private readonly TimeProvider _time;
    private readonly Func<DateTimeOffset> _eventNow;
    private readonly Action<CommandMessage> _onCommand;
    private readonly FleetPace.Tickets _tickets;
    private readonly Backoff _backoff;
    private readonly IMqttClient _client;
    private readonly Channel<(string Topic, byte[] Payload)> _outbox =
        Channel.CreateUnbounded<(string, byte[])>(new UnboundedChannelOptions { SingleReader = true });

    private readonly CancellationTokenSource _stopping = new();
    private TaskCompletionSource _connected = NewSignal();
    private Task _pump = Task.CompletedTask;
    private int _reconnecting;
    private int _connection; // counts connections made: what is in flight remembers the one it was sent on

    /// <param name="eventNow">The simulated time now, for the <c>ts</c> of status messages.</param>
    /// <param name="tickets">This device's readings not yet sent, as the fleet's pace counts them.</param>
    public DeviceConnection(DeviceSpec device, BrokerOptions broker, RunStats stats, TimeProvider time, Func<DateTimeOffset> eventNow, Action<CommandMessage> onCommand,
        FleetPace.Tickets? tickets = null)
    {
        _device = device;
        _broker = broker;
        _stats = stats;
        _time = time;
        _eventNow = eventNow;
        _onCommand = onCommand;
        _tickets = tickets ?? new FleetPace.Tickets(null);
        _backoff = new Backoff(broker, device.DeviceId);
        StatusTopic = Topics.Status(device);
        CommandTopic = Topics.Command(device);
        _client = Factory.CreateMqttClient();
        _client.DisconnectedAsync += OnDisconnectedAsync;
        _client.ApplicationMessageReceivedAsync += OnMessageAsync;
    }

    public string StatusTopic { get; }

    public string CommandTopic { get; }

    public bool IsConnected => _client.IsConnected;

    /// <summary>Connects (retrying with backoff until it succeeds or <paramref name="cancellationToken"/> fires) and starts publishing.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        using var both = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        await ConnectWithBackoffAsync(both.Token).ConfigureAwait(false);
        _pump = PumpAsync(_stopping.Token);
    }

    /// <summary>Queues a message for publishing (QoS 1, in order).</summary>
    public void Enqueue(string topic, string payload)
    {
        // Counted before it is in the outbox: once it is there the pump may send it (and count it sent) at once, and a
        // reading counted sent before it was counted queued would hold its step unsent for good.
        _tickets.Queued();
        if (_outbox.Writer.TryWrite((topic, Encoding.UTF8.GetBytes(payload))))
        {
            _stats.OnQueued();
        }
        else
        {
            _tickets.Sent(); // the outbox is closed: the run is over and no step waits any more
        }
    }

    /// <summary>
    /// Drops the connection as a network failure would: the broker publishes the Last Will (MQTT 5's
    /// "disconnect with will message"), and the device reconnects with backoff.
    /// </summary>
    public async Task DropAsync(CancellationToken cancellationToken)
    {
        if (!_client.IsConnected)
        {
            return;
        }

        _tickets.Offline();
        var options = new MqttClientDisconnectOptionsBuilder().WithReason(MqttClientDisconnectOptionsReason.DisconnectWithWillMessage).Build();
        try
        {
            await _client.DisconnectAsync(options, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is MqttCommunicationException or OperationCanceledException)
        {
            _stats.OnConnectionError();
        }

        // A requested disconnect raises no reconnect of its own; this device comes back like one that lost its link.
        Reconnect();
    }

    /// <summary>Publishes what is queued (waiting up to <paramref name="drain"/>), leaves a retained <c>offline</c> status, and disconnects.</summary>
    public async Task StopAsync(TimeSpan drain)
    {
        _outbox.Writer.TryComplete();
        await Task.WhenAny(_pump, Task.Delay(drain, _time)).ConfigureAwait(false);
        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await _pump.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        if (_client.IsConnected)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5), _time);
                await _client.PublishAsync(Status(online: false), timeout.Token).ConfigureAwait(false);
                await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build(), timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is MqttCommunicationException or OperationCanceledException)
            {
                _stats.OnConnectionError();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _client.Dispose();
        _stopping.Dispose();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private MqttClientOptions Options()
    {
        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer(_broker.Host, _broker.Port)
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
            .WithClientId(_device.DeviceId)
            .WithCredentials(_device.DeviceId, _broker.PasswordFor(_device.DeviceId))
            .WithCleanStart(true)
            .WithKeepAlivePeriod(_broker.KeepAlive)
            .WithTimeout(TimeSpan.FromSeconds(15))
            .WithoutPacketFragmentation()
            .WithWillTopic(StatusTopic)
            .WithWillPayload(Encoding.UTF8.GetBytes(StatusMessage.Json(false, _eventNow())))
            .WithWillRetain(true)
            .WithWillQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce);
        if (_broker.Tls)
        {
            builder = builder.WithTlsOptions(tls =>
            {
                tls.UseTls();
                if (_broker.AllowUntrustedCertificates)
                {
                    tls.WithCertificateValidationHandler(_ => true);
                }
            });
        }

        return builder.Build();
    }

    private MqttApplicationMessage Status(bool online) => new MqttApplicationMessageBuilder()
        .WithTopic(StatusTopic)
        .WithPayload(Encoding.UTF8.GetBytes(StatusMessage.Json(online, _eventNow())))
        .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
        .WithRetainFlag(true)
        .Build();

    private async Task ConnectWithBackoffAsync(CancellationToken cancellationToken)
    {
        _backoff.Restart();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (_client.IsConnected)
            {
                _connected.TrySetResult(); // connected already (MQTTnet refuses a second connect): nothing to wait for
                return;
            }

            try
            {
                await _client.ConnectAsync(Options(), cancellationToken).ConfigureAwait(false);
                await _client.SubscribeAsync(Factory.CreateSubscribeOptionsBuilder()
                    .WithTopicFilter(CommandTopic, MqttQualityOfServiceLevel.AtLeastOnce).Build(), cancellationToken).ConfigureAwait(false);
                await _client.PublishAsync(Status(online: true), cancellationToken).ConfigureAwait(false);
                _stats.OnConnected();
                _tickets.Online();
                Interlocked.Increment(ref _connection);
                _connected.TrySetResult();
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                _stats.OnConnectFailed(_device.DeviceId, e);
            }

            await Task.Delay(_backoff.Next(), _time, cancellationToken).ConfigureAwait(false);
        }
    }

    private Task OnDisconnectedAsync(MqttClientDisconnectedEventArgs e)
    {
        if (e.ClientWasConnected)
        {
            _stats.OnDisconnected();
            _tickets.Offline();
            if (e.Reason != MqttClientDisconnectReason.NormalDisconnection && !_stopping.IsCancellationRequested)
            {
                _stats.OnConnectionError();
                Reconnect();
            }
        }

        return Task.CompletedTask;
    }

    /// <summary>Starts one reconnect loop (never two at once); publishing waits for it.</summary>
    private void Reconnect()
    {
        if (_stopping.IsCancellationRequested || Interlocked.Exchange(ref _reconnecting, 1) == 1)
        {
            return;
        }

        if (_connected.Task.IsCompleted)
        {
            _connected = NewSignal();
        }

        _ = Task.Run(async () =>
        {
            try
            {
                // A first pause with jitter, so a fleet that lost its broker at once does not return at once.
                await Task.Delay(_backoff.FirstPause(), _time, _stopping.Token).ConfigureAwait(false);
                await ConnectWithBackoffAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
            finally
            {
                Interlocked.Exchange(ref _reconnecting, 0);
            }
        });
    }

    /// <summary>
    /// Publishes the outbox in order with up to <see cref="BrokerOptions.MaxInFlight"/> messages awaiting their PUBACK.
    /// When the connection is lost, everything not yet acknowledged is sent again, in order, once it is back (QoS 1:
    /// at least once).
    /// </summary>
    private async Task PumpAsync(CancellationToken cancellationToken)
    {
        var inFlight = new Queue<(MqttApplicationMessage Message, Task<MqttClientPublishResult> Ack, int Connection)>();
        var reader = _outbox.Reader;
        while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            while (reader.TryRead(out var item))
            {
                _stats.OnDequeued();
                while (inFlight.Count >= _broker.MaxInFlight)
                {
                    await SettleOldestAsync(inFlight, cancellationToken).ConfigureAwait(false);
                }

                var message = new MqttApplicationMessageBuilder()
                    .WithTopic(item.Topic)
                    .WithPayload(item.Payload)
                    .WithQualityOfServiceLevel(_broker.ReadingQos)
                    .Build();
                await _connected.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
                SendAgainFromEarlierConnections(inFlight, cancellationToken);
                inFlight.Enqueue((message, Send(message, cancellationToken), Volatile.Read(ref _connection)));
                _tickets.Sent();
            }

            while (inFlight.Count > 0)
            {
                await SettleOldestAsync(inFlight, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Sends again, in order, what is in flight from a connection since lost, before anything new goes out: a reconnect
    /// noticed while waiting to publish (not while settling an acknowledgement) otherwise sent the next reading ahead of
    /// the unacknowledged ones, and the pipeline dropped those as older seqs (found in review). One whose first send did
    /// get through is a duplicate, which the pipeline drops.
    /// </summary>
    private void SendAgainFromEarlierConnections(Queue<(MqttApplicationMessage Message, Task<MqttClientPublishResult> Ack, int Connection)> inFlight, CancellationToken cancellationToken)
    {
        var now = Volatile.Read(ref _connection);
        if (inFlight.All(x => x.Connection == now))
        {
            return;
        }

        var all = inFlight.ToArray();
        inFlight.Clear();
        foreach (var (message, ack, connection) in all)
        {
            if (connection == now)
            {
                inFlight.Enqueue((message, ack, connection));
                continue;
            }

            _ = ack.ContinueWith(t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            inFlight.Enqueue((message, Send(message, cancellationToken), now));
        }
    }

    private Task<MqttClientPublishResult> Send(MqttApplicationMessage message, CancellationToken cancellationToken)
    {
        try
        {
            return _client.PublishAsync(message, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return Task.FromException<MqttClientPublishResult>(e);
        }
    }

    private async Task SettleOldestAsync(Queue<(MqttApplicationMessage Message, Task<MqttClientPublishResult> Ack, int Connection)> inFlight, CancellationToken cancellationToken)
    {
        try
        {
            var result = await inFlight.Peek().Ack.ConfigureAwait(false);
            inFlight.Dequeue();
            if (result.IsSuccess)
            {
                _stats.OnSent();
            }
            else
            {
                _stats.OnFailed();
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Not connected (any more): send everything unacknowledged again, in order, after the reconnect.
            var resend = inFlight.Select(x => x.Message).ToArray();
            foreach (var (_, ack, _) in inFlight)
            {
                _ = ack.ContinueWith(t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            }

            inFlight.Clear();
            if (_connected.Task.IsCompleted && !_client.IsConnected)
            {
                _connected = NewSignal();
            }

            if (!_client.IsConnected)
            {
                Reconnect(); // not on a client already connected again: that replaced the signal and never set it (review)
            }

            await _connected.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            var connection = Volatile.Read(ref _connection);
            foreach (var message in resend)
            {
                inFlight.Enqueue((message, Send(message, cancellationToken), connection));
            }
        }
    }

    private Task OnMessageAsync(MqttApplicationMessageReceivedEventArgs e)
    {
        if (e.ApplicationMessage.Topic == CommandTopic && CommandMessage.TryParse(e.ApplicationMessage.Payload.ToArray()) is { } command)
        {
            _stats.OnCommand();
            _onCommand(command);
        }

        return Task.CompletedTask;
    }
}
