using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Packets;
using MQTTnet.Protocol;
using MQTTnet.Server;
using SmartPower.Contract;
using SmartPower.Pipeline;

namespace SmartPower.Mqtt;

/// <summary>Where the embedded broker listens.</summary>
public sealed class EmbeddedBrokerOptions
{
    public IPAddress BindAddress { get; set; } = IPAddress.Any;

    /// <summary>Plain MQTT port (1883 by convention); 0 disables it.</summary>
    public int Port { get; set; } = 1883;

    /// <summary>MQTT over TLS port (8883 by convention), used when <see cref="TlsCertificatePath"/> is set.</summary>
    public int TlsPort { get; set; } = 8883;

    /// <summary>A PKCS#12 (.pfx) file with the server certificate and key; null for no TLS listener.</summary>
    public string? TlsCertificatePath { get; set; }

    public string? TlsCertificatePassword { get; set; }

    /// <summary>
    /// How often connected devices' tokens are checked again. A token is checked when a device connects; a revocation
    /// through the status API also ends the device's connection at once (<see cref="EmbeddedBroker.DisconnectRevokedAsync"/>),
    /// and this catches one made elsewhere (the <c>tokens revoke</c> command while the host runs).
    /// </summary>
    public TimeSpan CredentialRecheck { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// The embedded MQTT broker (MQTTnet.Server) of the local host. A device connects with client id = username = its deviceId and
/// password = a token the operator issued; it may publish only its own telemetry and status topics and subscribe only
/// to its own command topic. Telemetry passes the <see cref="Ingress"/> and is acknowledged (QoS 1 PUBACK) only once it
/// is durable in the log. Telemetry is not re-broadcast to other subscribers (nobody else may subscribe to it); status
/// messages are, so that the retained <c>online</c> flag and the Last Will work as devices expect.
/// </summary>
public sealed class EmbeddedBroker : IDeviceCommands, IAsyncDisposable
{
    private const string DeviceKey = "smartpower.deviceId";
    private const string AcksKey = "smartpower.acks";
    private const string TokenKey = "smartpower.token";
    private const string ServerClientId = "smartpower";
    private readonly MqttServer _server;
    private readonly Ingress _ingress;
    private readonly IDeviceCredentials _credentials;
    private readonly ILogger _logger;
    private readonly HeldCommands _held = new();
    private readonly TimeSpan _recheck;
    private readonly CancellationTokenSource _stop = new();
    private Task? _rechecking;

    public EmbeddedBroker(EmbeddedBrokerOptions options, Ingress ingress, IDeviceCredentials credentials, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _ingress = ingress;
        _credentials = credentials;
        _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        _recheck = options.CredentialRecheck;
        var builder = new MqttServerOptionsBuilder().WithConnectionBacklog(2000);
        if (options.Port > 0)
        {
            builder.WithDefaultEndpoint().WithDefaultEndpointBoundIPAddress(options.BindAddress).WithDefaultEndpointPort(options.Port);
        }

        if (options.TlsCertificatePath is not null)
        {
            var certificate = X509CertificateLoader.LoadPkcs12FromFile(options.TlsCertificatePath, options.TlsCertificatePassword);
            builder.WithEncryptedEndpoint().WithEncryptedEndpointBoundIPAddress(options.BindAddress).WithEncryptedEndpointPort(options.TlsPort)
                .WithEncryptionCertificate(certificate)
                .WithEncryptionSslProtocol(System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13);
        }

        _server = new MqttServerFactory().CreateMqttServer(builder.Build());
        _server.ValidatingConnectionAsync += ValidateAsync;
        _server.InterceptingInboundPacketAsync += NoteInboundAsync;
        _server.InterceptingPublishAsync += InterceptPublishAsync;
        _server.InterceptingOutboundPacketAsync += HoldAcknowledgementAsync;
        _server.InterceptingSubscriptionAsync += InterceptSubscriptionAsync;
        _server.ApplicationMessageNotConsumedAsync += HoldUnconsumedCommandAsync;
        _server.ClientConnectedAsync += ReopenAsync;
        _server.ClientSubscribedTopicAsync += ReleaseHeldCommandsAsync;
    }

    public async Task StartAsync()
    {
        await _server.StartAsync().ConfigureAwait(false);
        _rechecking ??= RecheckCredentialsAsync(_stop.Token);
    }

    public async Task StopAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await _stop.CancelAsync().ConfigureAwait(false);
        }

        if (_rechecking is not null)
        {
            await _rechecking.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        if (_server.IsStarted)
        {
            await _server.StopAsync(new MqttServerStopOptions()).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Publishes a command to the device's command topic (QoS 1). A device not subscribed now gets it when it subscribes
    /// again (<see cref="HeldCommands"/>).
    /// </summary>
    public Task SendAsync(DeviceCommand command, CancellationToken cancellationToken) => InjectAsync(CommandMessage.For(command), cancellationToken);

    private Task InjectAsync(MqttApplicationMessage message, CancellationToken cancellationToken) =>
        _server.InjectApplicationMessage(new InjectedMqttApplicationMessage(message) { SenderClientId = ServerClientId }, cancellationToken);

    /// <summary>
    /// A device's connection is up: its messages are taken again after a failed write (see <see cref="ITelemetryLog.Reopen"/>).
    /// Here rather than at validation: MQTTnet raises this after it has stopped the connection this one took over and
    /// before it reads this one's first packet, so nothing still in flight on the old connection can become durable
    /// ahead of what the device sends again.
    /// </summary>
    private Task ReopenAsync(ClientConnectedEventArgs e)
    {
        if (e.SessionItems?[DeviceKey] is string deviceId)
        {
            // A connection that took over a kept session (clean start off) gets the session's items, not those its
            // validation wrote: this connection's token (or the token check closed it for the old one's revoked token)
            // and acknowledgements of its own (not the old connection's held or failed ones). Found in review.
            e.SessionItems[TokenKey] = e.Password;
            e.SessionItems[AcksKey] = new HeldAcknowledgements();
            _ingress.Reconnected(deviceId);
        }

        return Task.CompletedTask;
    }

    private Task HoldUnconsumedCommandAsync(ApplicationMessageNotConsumedEventArgs e)
    {
        if (e.SenderId == ServerClientId)
        {
            _held.Hold(e.ApplicationMessage);
        }

        return Task.CompletedTask;
    }

    private async Task ReleaseHeldCommandsAsync(ClientSubscribedTopicEventArgs e)
    {
        if (e.SessionItems?[DeviceKey] is not string deviceId || HeldCommands.DeviceOf(e.TopicFilter.Topic) != deviceId)
        {
            return;
        }

        await _held.SendAgainAsync(deviceId, (message, _) => InjectAsync(message, CancellationToken.None)).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _server.Dispose();
        _stop.Dispose();
    }

    /// <summary>Ends <paramref name="deviceId"/>'s connection, if it has one: its tokens were revoked (a token is checked when a device connects).</summary>
    public async Task DisconnectRevokedAsync(string deviceId)
    {
        foreach (var client in await _server.GetClientsAsync().ConfigureAwait(false))
        {
            if (client.Id == deviceId)
            {
                await DisconnectRevokedAsync(client).ConfigureAwait(false);
            }
        }
    }

    private Task DisconnectRevokedAsync(MqttClientStatus client)
    {
        _logger.LogWarning("device {DeviceId}: its tokens were revoked; its connection is closed", client.Id);
        return client.DisconnectAsync(new MqttServerClientDisconnectOptions { ReasonCode = MqttDisconnectReasonCode.NotAuthorized });
    }

    private async Task RecheckCredentialsAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_recheck);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    foreach (var client in await _server.GetClientsAsync().ConfigureAwait(false))
                    {
                        if (client.Session.Items[DeviceKey] is string deviceId && client.Session.Items[TokenKey] is string token
                            && !await _credentials.VerifyAsync(deviceId, token, cancellationToken).ConfigureAwait(false))
                        {
                            await DisconnectRevokedAsync(client).ConfigureAwait(false); // the connection checked, not a newer one
                        }
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    _logger.LogWarning("could not check connected devices' tokens again ({Error}); trying again in {Interval}", ex.Message, _recheck);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // stopped
        }
    }

    private async Task ValidateAsync(ValidatingConnectionEventArgs e)
    {
        var deviceId = e.UserName;
        if (_ingress.IsClosed)
        {
            e.ReasonCode = MqttConnectReasonCode.ServerUnavailable; // stopping: the device comes back once the host is up again
            return;
        }

        if (string.IsNullOrEmpty(deviceId) || !_ingress.Registry.TryGetDevice(deviceId, out _))
        {
            _ingress.RefuseConnection(IngressRefusal.UnknownDevice, deviceId);
            e.ReasonCode = MqttConnectReasonCode.BadUserNameOrPassword;
            return;
        }

        if (_ingress.IsLoginThrottled(deviceId))
        {
            e.ReasonCode = MqttConnectReasonCode.ConnectionRateExceeded;
            return;
        }

        if (string.IsNullOrEmpty(e.Password) || !await _credentials.VerifyAsync(deviceId, e.Password, e.CancellationToken).ConfigureAwait(false))
        {
            _ingress.RefuseConnection(IngressRefusal.BadCredentials, deviceId);
            e.ReasonCode = MqttConnectReasonCode.BadUserNameOrPassword;
            return;
        }

        if (e.ClientId != deviceId)
        {
            // One session per device, named after it: otherwise a device could take over another's session.
            _ingress.RefuseConnection(IngressRefusal.BadCredentials, deviceId);
            e.ReasonCode = MqttConnectReasonCode.ClientIdentifierNotValid;
            return;
        }

        e.SessionItems[DeviceKey] = deviceId;
        e.SessionItems[TokenKey] = e.Password; // checked again while connected
        e.SessionItems[AcksKey] = new HeldAcknowledgements();
    }

    private async Task InterceptPublishAsync(InterceptingPublishEventArgs e)
    {
        if (e.SessionItems?[DeviceKey] is not string deviceId)
        {
            if (e.ClientId == ServerClientId)
            {
                return; // our own command going down (no device session can carry this id: ids are device ids)
            }

            e.ProcessPublish = false;
            e.Response.ReasonCode = MqttPubAckReasonCode.NotAuthorized;
            return;
        }

        var message = e.ApplicationMessage;

        // MQTTnet's own buffer, not a copy: it stays valid until this handler returns, and the log has taken (encoded)
        // the record by then. A payload in pieces is joined once.
        var payload = message.Payload.IsSingleSegment ? message.Payload.First : System.Buffers.BuffersExtensions.ToArray(message.Payload);
        var status = message.Topic.EndsWith("/status", StringComparison.Ordinal);
        Admission admission;
        try
        {
            admission = await _ingress.AdmitAsync(deviceId, message.Topic, payload, e.CancellationToken).ConfigureAwait(false);
            if (status)
            {
                await admission.Durable.ConfigureAwait(false); // travels on (retained, the Last Will's counterpart) only once durable
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The log could not take it: no PUBACK, and the connection closes, so the device sends it again.
            RefuseAfterFailure(e, deviceId, ex);
            return;
        }

        var refusal = admission.Refusal;
        e.Response.ReasonCode = refusal switch
        {
            IngressRefusal.None => MqttPubAckReasonCode.Success,
            IngressRefusal.Oversize => MqttPubAckReasonCode.PayloadFormatInvalid,
            IngressRefusal.RateLimited => MqttPubAckReasonCode.QuotaExceeded,
            _ => MqttPubAckReasonCode.NotAuthorized,
        };

        // Telemetry's PUBACK is held back until the log has it durable (HoldAcknowledgementAsync), while this
        // connection's next messages are read and join the same group commit. Should its packet identifier not be
        // known, it waits here instead, as every message once did: never a PUBACK before durable. QoS 2 always waits here
        // (its PUBREC is not held back: answered at once, it told the device a reading was delivered that a failed
        // write then lost; found in review).
        var qos = message.QualityOfServiceLevel;
        if (refusal == IngressRefusal.None && !status && qos != MqttQualityOfServiceLevel.AtMostOnce
            && !(qos == MqttQualityOfServiceLevel.AtLeastOnce && e.SessionItems[AcksKey] is HeldAcknowledgements acks && acks.TryHold(admission.Durable)))
        {
            try
            {
                await admission.Durable.ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                RefuseAfterFailure(e, deviceId, ex);
                return;
            }
        }

        // Only accepted status messages travel on (retained, and to whoever may read them); telemetry's consumer is the log.
        e.ProcessPublish = refusal == IngressRefusal.None && status;
    }

    private void RefuseAfterFailure(InterceptingPublishEventArgs e, string deviceId, Exception ex)
    {
        if (ex is IngressClosedException)
        {
            _logger.LogDebug("stopping: a message of {Device} is not taken (it is sent again after the restart)", deviceId);
        }
        else
        {
            _logger.LogError(ex, "telemetry log append failed for {Device}", deviceId);
        }

        e.ProcessPublish = false;
        e.CloseConnection = true;
        e.Response.ReasonCode = MqttPubAckReasonCode.UnspecifiedError;
    }

    /// <summary>Notes the packet identifier of a device's QoS 1 PUBLISH, which the publish interceptor that follows holds the PUBACK of.</summary>
    private static Task NoteInboundAsync(InterceptingPacketEventArgs e)
    {
        if (e.Packet is MqttPublishPacket { QualityOfServiceLevel: MqttQualityOfServiceLevel.AtLeastOnce } publish && e.SessionItems?[AcksKey] is HeldAcknowledgements acks)
        {
            acks.Receiving(publish.PacketIdentifier);
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// Lets a telemetry PUBACK go only once its message is durable in the log (this connection's send loop waits
    /// meanwhile; its receive loop goes on). If the write failed, no PUBACK goes, nor any after it on this connection,
    /// and the connection is closed: the device keeps its messages and sends them again once connected.
    /// </summary>
    private async Task HoldAcknowledgementAsync(InterceptingPacketEventArgs e)
    {
        if (e.Packet is not MqttPubAckPacket ack || e.SessionItems?[AcksKey] is not HeldAcknowledgements acks)
        {
            return;
        }

        try
        {
            await acks.Release(ack.PacketIdentifier).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            if (acks.Fail())
            {
                _logger.LogError(ex, "telemetry log write failed for {Device}: not acknowledged, disconnecting it", e.ClientId);
                _ = Task.Run(() => DisconnectAsync(e.ClientId));
            }
        }

        e.ProcessPacket = !acks.Failed;
    }

    private async Task DisconnectAsync(string clientId)
    {
        try
        {
            await _server.DisconnectClientAsync(clientId, new MqttServerClientDisconnectOptions { ReasonCode = MqttDisconnectReasonCode.UnspecifiedError }).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _logger.LogWarning(ex, "could not disconnect {Device} after a failed log write", clientId);
        }
    }

    private Task InterceptSubscriptionAsync(InterceptingSubscriptionEventArgs e)
    {
        var deviceId = e.SessionItems?[DeviceKey] as string;
        if (deviceId is null || _ingress.CheckSubscription(deviceId, e.TopicFilter.Topic) != IngressRefusal.None)
        {
            e.ProcessSubscription = false;
            e.Response.ReasonCode = MqttSubscribeReasonCode.NotAuthorized;
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// One connection's PUBACKs held back until their messages are durable, by packet identifier. The receive loop
    /// (<see cref="Receiving"/>, <see cref="TryHold"/>) and the send loop (<see cref="Release"/>) each run one at a time.
    /// </summary>
    private sealed class HeldAcknowledgements
    {
        private readonly Dictionary<ushort, Task> _held = [];
        private int _receiving = -1; // the packet identifier of the PUBLISH being handled, until held
        private volatile bool _failed;

        public bool Failed => _failed;

        public void Receiving(ushort packetIdentifier) => _receiving = packetIdentifier;

        /// <summary>Holds the PUBACK of the PUBLISH just received until <paramref name="durable"/>; false if its identifier is not known.</summary>
        public bool TryHold(Task durable)
        {
            var packetIdentifier = _receiving;
            _receiving = -1;
            if (packetIdentifier < 0)
            {
                return false;
            }

            if (!durable.IsCompletedSuccessfully)
            {
                lock (_held)
                {
                    _held[(ushort)packetIdentifier] = durable;
                }
            }

            return true;
        }

        /// <summary>What the PUBACK of <paramref name="packetIdentifier"/> waits for (nothing if it was never held).</summary>
        public Task Release(ushort packetIdentifier)
        {
            lock (_held)
            {
                return _held.Remove(packetIdentifier, out var durable) ? durable : Task.CompletedTask;
            }
        }

        /// <summary>Marks the connection failed; true the first time.</summary>
        public bool Fail()
        {
            var first = !_failed;
            _failed = true;
            return first;
        }
    }
}
