using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using SmartPower.DeviceSim.Contract;

namespace SmartPower.DeviceSim.Mqtt;

/// <summary>
/// A lean MQTT 5 client for max-rate runs (<c>run --max-rate</c>): the same device session as
/// <see cref="DeviceConnection"/> (client id = username = device id, its password, a retained <c>online</c> status and
/// a Last Will <c>offline</c>, a subscription to its command topic) but readings are written straight into the socket
/// as pre-encoded PUBLISH packets, as many per write as are queued, with up to the broker's Receive Maximum (capped at
/// <see cref="BrokerOptions.MaxInFlight"/>) awaiting their PUBACK. MQTTnet's client awaits each publish as its own
/// task and sends one packet per write, which costs about 30 µs of CPU a message; this costs a few.
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
    private readonly Random _jitter;
    private readonly bool _qos1;
    private readonly byte[] _statusTopic;
    private readonly byte[] _commandTopic;
    private readonly Channel<string> _outbox = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private readonly bool[] _isReading = new bool[65536];
    private readonly ArrayBufferWriter<byte> _out = new(FlushBytes * 2); // the write loop's alone
    private byte[] _telemetryTopic = [];
    private string? _telemetryTopicText;
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
        _jitter = new Random(StringComparer.Ordinal.GetHashCode(device.DeviceId));
        _qos1 = broker.ReadingQos != MQTTnet.Protocol.MqttQualityOfServiceLevel.AtMostOnce;
        _statusTopic = Encoding.UTF8.GetBytes(Topics.Status(device));
        _commandTopic = Encoding.UTF8.GetBytes(Topics.Command(device));
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var delay = _broker.FirstBackoff;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await ConnectAsync(cancellationToken).ConfigureAwait(false);
                break;
            }
            catch (Exception e) when (e is SocketException or IOException or InvalidDataException && attempt < MaxConnectAttempts)
            {
                _stats.OnConnectionError();
                _socket?.Dispose();
                await Task.Delay(delay * (0.5 + _jitter.NextDouble()), _time, cancellationToken).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _broker.MaxBackoff.Ticks));
            }
            catch (SocketException e)
            {
                throw new IOException($"{_device.DeviceId} could not connect to {_broker.Host}:{_broker.Port} ({MaxConnectAttempts} attempts): {e.Message}", e);
            }
        }

        _stats.OnConnected();
        _reader = Task.Run(() => ReadLoopAsync(_stopping.Token), CancellationToken.None);
        Interlocked.Increment(ref _inFlight); // the online status below
        await SendAsync(w => WriteSubscribe(w), cancellationToken).ConfigureAwait(false);
        await SendAsync(w => WritePublish(w, _statusTopic, StatusMessage.Json(true, _eventNow()), retain: true, reading: false), cancellationToken).ConfigureAwait(false);
        _writer = Task.Run(() => WriteLoopAsync(_stopping.Token), CancellationToken.None);
    }

    public void Enqueue(string topic, string payload)
    {
        if (!ReferenceEquals(topic, _telemetryTopicText))
        {
            _telemetryTopicText = topic;
            _telemetryTopic = Encoding.UTF8.GetBytes(topic);
        }

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
                await SendAsync(w => WritePublish(w, _statusTopic, StatusMessage.Json(false, _eventNow()), retain: true, reading: false), timeout.Token).ConfigureAwait(false);
                await RoomAsync(0, timeout.Token).ConfigureAwait(false); // its PUBACK
                _closing = true; // the broker closes the connection after this: no loss
                await SendAsync(static w => Put(w, [0xE0, 0x00]), timeout.Token).ConfigureAwait(false); // DISCONNECT, normal: no Last Will
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
        WriteConnect(connect);
        await _socket.SendAsync(connect.WrittenMemory, SocketFlags.None, cancellationToken).ConfigureAwait(false);

        // CONNACK: [0x20][remaining][flags][reason][properties]
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

        var body = buffer.AsSpan(headerLength, remaining);
        if (buffer[0] != 0x20 || body.Length < 2)
        {
            throw new InvalidDataException("expected CONNACK");
        }

        if (body[1] != 0)
        {
            throw new IOException($"the broker refused the connection (reason 0x{body[1]:x2})");
        }

        var receiveMaximum = ReceiveMaximum(body[2..]);
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
                        WritePublish(_out, _telemetryTopic, payload, retain: false, reading: true);
                    }
                    else
                    {
                        WritePublishQos0(_out, _telemetryTopic, payload);
                        _unacknowledged++;
                    }
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

                    await HandleAsync(buffer[used], buffer.AsMemory(used + headerLength, remaining), cancellationToken).ConfigureAwait(false);
                    used += headerLength + remaining;
                }

                buffer.AsSpan(used, have - used).CopyTo(buffer);
                have -= used;
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or IOException or ObjectDisposedException or InvalidDataException)
        {
        }

        ConnectionLost();
    }

    private Task HandleAsync(byte first, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        switch (first >> 4)
        {
            case 4: // PUBACK: [id][reason][properties], reason 0 when absent
                var id = BinaryPrimitives.ReadUInt16BigEndian(body.Span);
                var ok = body.Length < 3 || body.Span[2] < 0x80;
                if (_isReading[id])
                {
                    if (ok)
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
            case 3: // PUBLISH to us: a command
                var qos = (first >> 1) & 3;
                var span = body.Span;
                var topicLength = BinaryPrimitives.ReadUInt16BigEndian(span);
                var at = 2 + topicLength;
                ushort packetId = 0;
                if (qos > 0)
                {
                    packetId = BinaryPrimitives.ReadUInt16BigEndian(span[at..]);
                    at += 2;
                }

                at += ReadVarInt(span[at..], out var propertiesLength) + propertiesLength;
                if (span[2..(2 + topicLength)].SequenceEqual(_commandTopic) && CommandMessage.TryParse(span[at..]) is { } command)
                {
                    _stats.OnCommand();
                    _onCommand(command);
                }

                if (qos == 1)
                {
                    // Not awaited: reading goes on (PUBACKs for our readings) while the answer waits for the socket.
                    _ = SendLockedAsync(new byte[] { 0x40, 0x02, (byte)(packetId >> 8), (byte)packetId }, cancellationToken)
                        .ContinueWith(t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                }

                break;
            case 14: // DISCONNECT from the broker
                throw new IOException("the broker disconnected");
            default: // SUBACK, PINGRESP
                break;
        }

        return Task.CompletedTask;
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

    private void WriteConnect(ArrayBufferWriter<byte> w)
    {
        var clientId = Encoding.UTF8.GetBytes(_device.DeviceId);
        var password = Encoding.UTF8.GetBytes(_broker.PasswordFor(_device.DeviceId) ?? "");
        var will = Encoding.UTF8.GetBytes(StatusMessage.Json(false, _eventNow()));
        var remaining = 10 + 1 + (2 + clientId.Length) + 1 + (2 + _statusTopic.Length) + (2 + will.Length) + (2 + clientId.Length) + (2 + password.Length);
        Put(w, [0x10]);
        WriteVarInt(w, remaining);
        Put(w, [0x00, 0x04, (byte)'M', (byte)'Q', (byte)'T', (byte)'T', 0x05]);
        Put(w, [0xEE]); // username, password, will retain, will QoS 1, will flag, clean start
        Put(w, [0x00, 0x00]); // keep alive off: the stream of readings is the sign of life, and the run ends by itself
        Put(w, [0x00]); // no properties
        WriteString(w, clientId);
        Put(w, [0x00]); // no will properties
        WriteString(w, _statusTopic);
        WriteString(w, will);
        WriteString(w, clientId);
        WriteString(w, password);
    }

    private void WriteSubscribe(ArrayBufferWriter<byte> w)
    {
        var id = NextId(reading: false);
        Put(w, [0x82]);
        WriteVarInt(w, 2 + 1 + 2 + _commandTopic.Length + 1);
        Put(w, [(byte)(id >> 8), (byte)id, 0x00]);
        WriteString(w, _commandTopic);
        Put(w, [0x01]); // QoS 1
    }

    /// <summary>A QoS 1 PUBLISH; the payload is encoded straight into the output buffer.</summary>
    private void WritePublish(ArrayBufferWriter<byte> w, byte[] topic, string payload, bool retain, bool reading)
    {
        var payloadLength = Encoding.UTF8.GetByteCount(payload);
        var id = NextId(reading);
        Put(w, [retain ? (byte)0x33 : (byte)0x32]);
        WriteVarInt(w, 2 + topic.Length + 2 + 1 + payloadLength);
        WriteString(w, topic);
        Put(w, [(byte)(id >> 8), (byte)id, 0x00]);
        var span = w.GetSpan(payloadLength);
        Encoding.UTF8.GetBytes(payload, span);
        w.Advance(payloadLength);
    }

    /// <summary>A QoS 0 PUBLISH (load tests only): no packet id, no acknowledgement.</summary>
    private static void WritePublishQos0(ArrayBufferWriter<byte> w, byte[] topic, string payload)
    {
        var payloadLength = Encoding.UTF8.GetByteCount(payload);
        Put(w, [0x30]);
        WriteVarInt(w, 2 + topic.Length + 1 + payloadLength);
        WriteString(w, topic);
        Put(w, [0x00]);
        var span = w.GetSpan(payloadLength);
        Encoding.UTF8.GetBytes(payload, span);
        w.Advance(payloadLength);
    }

    private ushort NextId(bool reading)
    {
        _nextId = _nextId == ushort.MaxValue ? (ushort)1 : (ushort)(_nextId + 1);
        _isReading[_nextId] = reading;
        return _nextId;
    }

    private static void Put(ArrayBufferWriter<byte> w, ReadOnlySpan<byte> bytes) => w.Write(bytes);

    private static void WriteString(ArrayBufferWriter<byte> w, byte[] bytes)
    {
        var span = w.GetSpan(2 + bytes.Length);
        BinaryPrimitives.WriteUInt16BigEndian(span, (ushort)bytes.Length);
        bytes.CopyTo(span[2..]);
        w.Advance(2 + bytes.Length);
    }

    private static void WriteVarInt(ArrayBufferWriter<byte> w, int value)
    {
        do
        {
            var b = (byte)(value & 0x7F);
            value >>= 7;
            Put(w, [value > 0 ? (byte)(b | 0x80) : b]);
        }
        while (value > 0);
    }

    private static int ReadVarInt(ReadOnlySpan<byte> span, out int value)
    {
        value = 0;
        for (var i = 0; i < 4 && i < span.Length; i++)
        {
            value |= (span[i] & 0x7F) << (7 * i);
            if ((span[i] & 0x80) == 0)
            {
                return i + 1;
            }
        }

        throw new InvalidDataException("bad variable-length integer");
    }

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

    /// <summary>The Receive Maximum (property 0x21) of a CONNACK's properties; 65,535 when absent.</summary>
    private static int ReceiveMaximum(ReadOnlySpan<byte> properties)
    {
        if (properties.IsEmpty)
        {
            return ushort.MaxValue;
        }

        var at = ReadVarInt(properties, out var length);
        var end = Math.Min(properties.Length, at + length);
        while (at < end)
        {
            var id = properties[at++];
            switch (id)
            {
                case 0x21:
                    return BinaryPrimitives.ReadUInt16BigEndian(properties[at..]);
                case 0x24 or 0x25 or 0x28 or 0x29 or 0x2A: // one byte
                    at += 1;
                    break;
                case 0x13 or 0x22: // two bytes
                    at += 2;
                    break;
                case 0x11 or 0x27: // four bytes
                    at += 4;
                    break;
                case 0x12 or 0x15 or 0x16 or 0x1A or 0x1C or 0x1F: // string or binary
                    at += 2 + BinaryPrimitives.ReadUInt16BigEndian(properties[at..]);
                    break;
                case 0x26: // user property: two strings
                    at += 2 + BinaryPrimitives.ReadUInt16BigEndian(properties[at..]);
                    at += 2 + BinaryPrimitives.ReadUInt16BigEndian(properties[at..]);
                    break;
                default:
                    return ushort.MaxValue;
            }
        }

        return ushort.MaxValue;
    }
}
