using System.Buffers;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using MQTTnet.Adapter;
using MQTTnet.Exceptions;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;
using SmartPower.DeviceSim.Contract;

namespace SmartPower.DeviceSim.Mqtt;

/// <summary>
/// A lean MQTT 5 client for max-rate runs (<c>run --max-rate</c>): the same device session as
/// <see cref="DeviceConnection"/> (client id = username = device id, its password, a retained <c>online</c> status and
/// a Last Will <c>offline</c>, a subscription to its command topic) but readings are written straight into the socket
/// as PUBLISH packets, as many per write as are queued, with up to the broker's Receive Maximum (capped at
/// <see cref="BrokerOptions.MaxInFlight"/>) awaiting their PUBACK. MQTTnet's client awaits each publish as its own
/// task and sends one packet per write, which costs about 30 µs of CPU a message; this costs a few.
/// The protocol is MQTTnet's: every packet, each reading's PUBLISH included, is encoded and decoded by its MQTT 5
/// formatter (<see cref="MqttPacketFormatterAdapter"/>); ours are only the socket loops and the framing of what is
/// read (a fixed header's Remaining Length, see <see cref="TryReadHeader"/>).
/// It does not reconnect: a connection lost mid-run fails what was in flight and what is queued (counted as failed),
/// and a scripted drop (a reconnect storm) is skipped, so a load test's figure never hides a resend.
/// </summary>
internal sealed class PipelinedConnection : IDeviceLink
{
    private const int FlushBytes = 32 * 1024;
    private const int MaxConnectAttempts = 8;
    private readonly DeviceSpec _device;
    private readonly BrokerOptions _broker;
    private readonly RunStats _stats;
    private readonly TimeProvider _time;
    private readonly Func<DateTimeOffset> _eventNow;
    private readonly Action<CommandMessage> _onCommand;
    private readonly Backoff _backoff;
    private readonly bool _qos1;
    private readonly string _statusTopic;
    private readonly string _commandTopic;
    private readonly Channel<string> _outbox = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private readonly bool[] _isReading = new bool[65536];
    private readonly ArrayBufferWriter<byte> _out = new(FlushBytes * 2); // the write loop's alone

    // MQTTnet's MQTT 5 formatter encodes and decodes every packet. A formatter reuses one buffer, so each has one user:
    // the write side (set-up, the write loop, stop: never at once) and the read loop (decoding, a command's PUBACK).
    private readonly MqttPacketFormatterAdapter _writeFormatter = new(MqttProtocolVersion.V500, new MqttBufferWriter(4096, 65536));
    private readonly MqttPacketFormatterAdapter _readFormatter = new(MqttProtocolVersion.V500, new MqttBufferWriter(256, 65536));
    private readonly MqttPublishPacket _reading;
    private byte[] _payload = new byte[512];
    private volatile string _telemetryTopic = "";
    private Socket? _socket;
    private int _windowSize = 1;
    private int _inFlight;
    private int _wakeAt;
    private TaskCompletionSource? _room;
    private ushort _nextId;
    private Task _writer = Task.CompletedTask;
    private Task _reader = Task.CompletedTask;
    private volatile bool _lost;
    private volatile bool _closing;
    private int _unacknowledged;

    public PipelinedConnection(DeviceSpec device, BrokerOptions broker, RunStats stats, TimeProvider time, Func<DateTimeOffset> eventNow, Action<CommandMessage> onCommand)
    {
        if (broker.Tls)
        {
            throw new NotSupportedException("the max-rate client speaks plain MQTT only");
        }

        _device = device;
        _broker = broker;
        _stats = stats;
        _time = time;
        _eventNow = eventNow;
        _onCommand = onCommand;
        _backoff = new Backoff(broker, device.DeviceId);
        _qos1 = broker.ReadingQos != MQTTnet.Protocol.MqttQualityOfServiceLevel.AtMostOnce;
        _statusTopic = Topics.Status(device);
        _commandTopic = Topics.Command(device);
        _reading = new MqttPublishPacket { QualityOfServiceLevel = _qos1 ? MqttQualityOfServiceLevel.AtLeastOnce : MqttQualityOfServiceLevel.AtMostOnce };
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await ConnectAsync(cancellationToken).ConfigureAwait(false);
                break;
            }
            catch (Exception e) when (e is SocketException or IOException or InvalidDataException && attempt < MaxConnectAttempts)
            {
                _stats.OnConnectFailed(_device.DeviceId, e);
                _socket?.Dispose();
                await Task.Delay(_backoff.Next(), _time, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException e)
            {
                throw new IOException($"{_device.DeviceId} could not connect to {_broker.Host}:{_broker.Port} ({MaxConnectAttempts} attempts): {e.Message}", e);
            }
        }

        _stats.OnConnected();
        _reader = Task.Run(() => ReadLoopAsync(_stopping.Token), CancellationToken.None);
        Interlocked.Increment(ref _inFlight); // the online status below
        await SendAsync(w => Encode(_writeFormatter, Subscribe(), w), cancellationToken).ConfigureAwait(false);
        await SendAsync(w => WriteStatus(w, online: true), cancellationToken).ConfigureAwait(false);
        _writer = Task.Run(() => WriteLoopAsync(_stopping.Token), CancellationToken.None);
    }

    public void Enqueue(string topic, string payload)
    {
        _telemetryTopic = topic;
        if (_outbox.Writer.TryWrite(payload))
        {
            _stats.OnQueued();
        }
    }

    /// <summary>Skipped: a load test measures throughput, not reconnects (see the class summary).</summary>
    public Task DropAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StopAsync(TimeSpan drain)
    {
        _outbox.Writer.TryComplete();
        using var timeout = new CancellationTokenSource(drain, _time);
        try
        {
            await _writer.WaitAsync(timeout.Token).ConfigureAwait(false);
            await RoomAsync(0, timeout.Token).ConfigureAwait(false); // every PUBACK is in
            if (!_lost)
            {
                Interlocked.Increment(ref _inFlight);
                await SendAsync(w => WriteStatus(w, online: false), timeout.Token).ConfigureAwait(false);
                await RoomAsync(0, timeout.Token).ConfigureAwait(false); // its PUBACK
                _closing = true; // the broker closes the connection after this: no loss
                var disconnect = new MqttDisconnectPacket { ReasonCode = MqttDisconnectReasonCode.NormalDisconnection }; // no Last Will
                await SendAsync(w => Encode(_writeFormatter, disconnect, w), timeout.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
        {
            _stats.OnConnectionError();
        }

        while (_outbox.Reader.TryRead(out _))
        {
            _stats.OnDequeued();
            _stats.OnFailed();
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        _socket?.Dispose();
        await _reader.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (_socket is not null)
        {
            _stats.OnDisconnected();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _socket?.Dispose();
        _stopping.Dispose();
        _sendLock.Dispose();
    }

    /// <summary>Connects and reads the CONNACK, giving up after 15 s (a broker that accepted the socket but never answers).</summary>
    private async Task ConnectAsync(CancellationToken cancellationToken)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(15), _time);
        using var both = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, limit.Token);
        try
        {
            await ConnectOnceAsync(both.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new IOException($"{_device.DeviceId}: no CONNACK from {_broker.Host}:{_broker.Port} within 15 s");
        }
    }

    private async Task ConnectOnceAsync(CancellationToken cancellationToken)
    {
        _socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await _socket.ConnectAsync(_broker.Host, _broker.Port, cancellationToken).ConfigureAwait(false);
        var connect = new ArrayBufferWriter<byte>(256);
        Encode(_writeFormatter, Connect(), connect);
        await _socket.SendAsync(connect.WrittenMemory, SocketFlags.None, cancellationToken).ConfigureAwait(false);

        var buffer = new byte[1024];
        var have = 0;
        int headerLength, remaining;
        while (!TryReadHeader(buffer.AsSpan(0, have), out headerLength, out remaining) || have < headerLength + remaining)
        {
            var read = await _socket.ReceiveAsync(buffer.AsMemory(have), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (read == 0 || have + read >= buffer.Length)
            {
                throw new IOException("the broker closed the connection before CONNACK");
            }

            have += read;
        }

        var packet = _readFormatter.Decode(new ReceivedMqttPacket(buffer[0], new ArraySegment<byte>(buffer, headerLength, remaining), headerLength + remaining));
        if (packet is not MqttConnAckPacket connAck)
        {
            throw new InvalidDataException($"expected CONNACK, got {packet}");
        }

        if (connAck.ReasonCode != MqttConnectReasonCode.Success)
        {
            throw new IOException($"the broker refused the connection ({connAck.ReasonCode})");
        }

        var receiveMaximum = connAck.ReceiveMaximum == 0 ? ushort.MaxValue : connAck.ReceiveMaximum; // 0: absent
        _windowSize = Math.Max(1, Math.Min(receiveMaximum, _broker.MaxInFlight));
    }

    /// <summary>
    /// Writes queued readings as PUBLISH packets into one buffer and sends it when it is full, when the window of
    /// unacknowledged messages is, or when the queue is empty. The send lock is held only while the socket sends, never
    /// while waiting for the window, so the read loop can always answer the broker (a command's PUBACK).
    /// </summary>
    private async Task WriteLoopAsync(CancellationToken cancellationToken)
    {
        var reader = _outbox.Reader;
        try
        {
            while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (true)
                {
                    if (_qos1 && Volatile.Read(ref _inFlight) >= _windowSize)
                    {
                        // The window is full: send what is written, then wait until half of it is acknowledged, so
                        // that each write carries many packets rather than one per PUBACK.
                        await FlushAsync(cancellationToken).ConfigureAwait(false);
                        await RoomAsync(_windowSize / 2, cancellationToken).ConfigureAwait(false);
                    }

                    if (!reader.TryRead(out var payload))
                    {
                        break;
                    }

                    _stats.OnDequeued();
                    if (_qos1)
                    {
                        Interlocked.Increment(ref _inFlight);
                    }
                    else
                    {
                        _unacknowledged++;
                    }

                    WriteReading(_out, _telemetryTopic, payload);
                    if (_out.WrittenCount >= FlushBytes)
                    {
                        await FlushAsync(cancellationToken).ConfigureAwait(false);
                    }
                }

                await FlushAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
        {
            ConnectionLost();
        }
    }

    /// <summary>Waits until at most <paramref name="atMost"/> messages await their PUBACK (or the connection is lost).</summary>
    private async Task RoomAsync(int atMost, CancellationToken cancellationToken)
    {
        while (Volatile.Read(ref _inFlight) > atMost && !_lost)
        {
            var room = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _wakeAt, atMost);
            Volatile.Write(ref _room, room);
            if (Volatile.Read(ref _inFlight) <= atMost || _lost)
            {
                break; // acknowledged meanwhile
            }

            await room.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Sends one packet built by <paramref name="write"/> (connection set-up and stop, before and after the write loop).</summary>
    private Task SendAsync(Action<ArrayBufferWriter<byte>> write, CancellationToken cancellationToken)
    {
        var packet = new ArrayBufferWriter<byte>(256);
        write(packet);
        return SendLockedAsync(packet.WrittenMemory, cancellationToken);
    }

    private async Task FlushAsync(CancellationToken cancellationToken)
    {
        if (_out.WrittenCount > 0)
        {
            await SendLockedAsync(_out.WrittenMemory, cancellationToken).ConfigureAwait(false);
            _out.ResetWrittenCount();
        }

        for (; _unacknowledged > 0; _unacknowledged--)
        {
            _stats.OnSent(); // QoS 0: sent is all there is
        }
    }

    private async Task SendLockedAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        await _sendLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            while (data.Length > 0)
            {
                var sent = await _socket!.SendAsync(data, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                data = data[sent..];
            }
        }
        finally
        {
            _sendLock.Release();
        }
    }

    private async Task ReadLoopAsync(CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        var have = 0;
        try
        {
            while (true)
            {
                var read = await _socket!.ReceiveAsync(buffer.AsMemory(have), SocketFlags.None, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                have += read;
                var used = 0;
                while (TryReadHeader(buffer.AsSpan(used, have - used), out var headerLength, out var remaining) && have - used >= headerLength + remaining)
                {
                    if (headerLength + remaining > buffer.Length)
                    {
                        throw new InvalidDataException("packet larger than the read buffer");
                    }

                    Handle(_readFormatter.Decode(new ReceivedMqttPacket(buffer[used], new ArraySegment<byte>(buffer, used + headerLength, remaining), headerLength + remaining)), cancellationToken);
                    used += headerLength + remaining;
                }

                buffer.AsSpan(used, have - used).CopyTo(buffer);
                have -= used;
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or IOException or ObjectDisposedException or InvalidDataException or MqttProtocolViolationException)
        {
        }

        ConnectionLost();
    }

    private void Handle(MqttPacket packet, CancellationToken cancellationToken)
    {
        switch (packet)
        {
            case MqttPubAckPacket ack:
                if (_isReading[ack.PacketIdentifier])
                {
                    if (ack.ReasonCode < MqttPubAckReasonCode.UnspecifiedError)
                    {
                        _stats.OnSent();
                    }
                    else
                    {
                        _stats.OnFailed();
                    }
                }

                if (Interlocked.Decrement(ref _inFlight) <= Volatile.Read(ref _wakeAt))
                {
                    Interlocked.Exchange(ref _room, null)?.TrySetResult();
                }

                break;
            case MqttPublishPacket publish: // a command
                if (publish.Topic == _commandTopic && CommandMessage.TryParse(publish.Payload.IsSingleSegment ? publish.Payload.FirstSpan : publish.Payload.ToArray()) is { } command)
                {
                    _stats.OnCommand();
                    _onCommand(command);
                }

                if (publish.QualityOfServiceLevel == MqttQualityOfServiceLevel.AtLeastOnce)
                {
                    var answer = new ArrayBufferWriter<byte>(16);
                    Encode(_readFormatter, new MqttPubAckPacket { PacketIdentifier = publish.PacketIdentifier, ReasonCode = MqttPubAckReasonCode.Success }, answer);

                    // Not awaited: reading goes on (PUBACKs for our readings) while the answer waits for the socket.
                    _ = SendLockedAsync(answer.WrittenMemory, cancellationToken)
                        .ContinueWith(t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                }

                break;
            case MqttDisconnectPacket:
                throw new IOException("the broker disconnected");
            default: // SUBACK, PINGRESP
                break;
        }
    }

    private void ConnectionLost()
    {
        if (_stopping.IsCancellationRequested || _lost || _closing)
        {
            return;
        }

        _lost = true;
        Interlocked.Exchange(ref _room, null)?.TrySetResult();
        _stats.OnConnectionError();
        _ = _stopping.CancelAsync();
        _socket?.Dispose();
        var inFlight = Volatile.Read(ref _inFlight);
        for (var i = 0; i < inFlight; i++)
        {
            _stats.OnFailed();
        }
    }

    /// <summary>Encodes <paramref name="packet"/> with MQTTnet's MQTT 5 formatter into <paramref name="w"/>.</summary>
    private static void Encode(MqttPacketFormatterAdapter formatter, MqttPacket packet, ArrayBufferWriter<byte> w)
    {
        var buffer = formatter.Encode(packet);
        w.Write(buffer.Packet.AsSpan());
        foreach (var segment in buffer.Payload)
        {
            w.Write(segment.Span);
        }
    }

    private MqttConnectPacket Connect() => new()
    {
        ClientId = _device.DeviceId,
        Username = _device.DeviceId,
        Password = Encoding.UTF8.GetBytes(_broker.PasswordFor(_device.DeviceId) ?? ""),
        CleanSession = true,
        KeepAlivePeriod = 0, // off: the stream of readings is the sign of life, and the run ends by itself
        WillFlag = true,
        WillTopic = _statusTopic,
        WillMessage = Encoding.UTF8.GetBytes(StatusMessage.Json(false, _eventNow())),
        WillQoS = MqttQualityOfServiceLevel.AtLeastOnce,
        WillRetain = true,
    };

    private MqttSubscribePacket Subscribe() => new()
    {
        PacketIdentifier = NextId(reading: false),
        TopicFilters = [new MqttTopicFilter { Topic = _commandTopic, QualityOfServiceLevel = MqttQualityOfServiceLevel.AtLeastOnce }],
    };

    /// <summary>The retained status, QoS 1, encoded by MQTTnet.</summary>
    private void WriteStatus(ArrayBufferWriter<byte> w, bool online)
    {
        var packet = new MqttPublishPacket
        {
            Topic = _statusTopic,
            PacketIdentifier = NextId(reading: false),
            QualityOfServiceLevel = MqttQualityOfServiceLevel.AtLeastOnce,
            Retain = true,
            PayloadSegment = Encoding.UTF8.GetBytes(StatusMessage.Json(online, _eventNow())),
        };
        Encode(_writeFormatter, packet, w);
    }

    /// <summary>
    /// A reading's PUBLISH (QoS 1, or 0 in load tests), encoded by MQTTnet: one packet object reused for every reading,
    /// its topic, packet identifier and payload set each time.
    /// </summary>
    private void WriteReading(ArrayBufferWriter<byte> w, string topic, string payload)
    {
        var length = Encoding.UTF8.GetByteCount(payload);
        if (_payload.Length < length)
        {
            _payload = new byte[Math.Max(length, _payload.Length * 2)];
        }

        Encoding.UTF8.GetBytes(payload, _payload);
        _reading.Topic = topic;
        _reading.PacketIdentifier = _qos1 ? NextId(reading: true) : (ushort)0;
        _reading.PayloadSegment = new ArraySegment<byte>(_payload, 0, length);
        Encode(_writeFormatter, _reading, w);
    }

    private ushort NextId(bool reading)
    {
        _nextId = _nextId == ushort.MaxValue ? (ushort)1 : (ushort)(_nextId + 1);
        _isReading[_nextId] = reading;
        return _nextId;
    }

    /// <summary>
    /// Frames one packet: its fixed header's first byte and the Remaining Length (a variable-byte integer). The only
    /// protocol code of ours: MQTTnet frames inside its channel adapter, which owns the socket; its formatter decodes
    /// the packet once framed.
    /// </summary>
    private static bool TryReadHeader(ReadOnlySpan<byte> span, out int headerLength, out int remaining)
    {
        remaining = 0;
        headerLength = 0;
        for (var i = 1; i < 5; i++)
        {
            if (i >= span.Length)
            {
                return false;
            }

            remaining |= (span[i] & 0x7F) << (7 * (i - 1));
            if ((span[i] & 0x80) == 0)
            {
                headerLength = i + 1;
                return true;
            }
        }

        throw new InvalidDataException("bad remaining length");
    }
}
