using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using MQTTnet;
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
    private const string ServerClientId = "smartpower";
    private readonly MqttServer _server;
    private readonly Ingress _ingress;
    private readonly IDeviceCredentials _credentials;
    private readonly ILogger _logger;

    public EmbeddedBroker(EmbeddedBrokerOptions options, Ingress ingress, IDeviceCredentials credentials, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _ingress = ingress;
        _credentials = credentials;
        _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
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
        _server.InterceptingPublishAsync += InterceptPublishAsync;
        _server.InterceptingSubscriptionAsync += InterceptSubscriptionAsync;
    }

    public Task StartAsync() => _server.StartAsync();

    public async Task StopAsync()
    {
        if (_server.IsStarted)
        {
            await _server.StopAsync(new MqttServerStopOptions()).ConfigureAwait(false);
        }
    }

    /// <summary>Publishes a command to the device's command topic (QoS 1); a device not connected gets it if its session persists.</summary>
    public Task SendAsync(DeviceCommand command, CancellationToken cancellationToken)
    {
        var message = CommandMessage.For(command);
        return _server.InjectApplicationMessage(new InjectedMqttApplicationMessage(message) { SenderClientId = ServerClientId }, cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _server.Dispose();
    }

    private async Task ValidateAsync(ValidatingConnectionEventArgs e)
    {
        var deviceId = e.UserName;
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
        var payload = System.Buffers.BuffersExtensions.ToArray(message.Payload); // a copy: MQTTnet reuses its buffers after we return

        IngressRefusal refusal;
        try
        {
            refusal = await _ingress.AcceptAsync(deviceId, message.Topic, payload, e.CancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The log could not take it: no PUBACK success, so the device keeps the message and sends it again.
            _logger.LogError(ex, "telemetry log append failed for {Device}", deviceId);
            e.ProcessPublish = false;
            e.CloseConnection = true;
            e.Response.ReasonCode = MqttPubAckReasonCode.UnspecifiedError;
            return;
        }

        e.Response.ReasonCode = refusal switch
        {
            IngressRefusal.None => MqttPubAckReasonCode.Success,
            IngressRefusal.Oversize => MqttPubAckReasonCode.PayloadFormatInvalid,
            IngressRefusal.RateLimited => MqttPubAckReasonCode.QuotaExceeded,
            _ => MqttPubAckReasonCode.NotAuthorized,
        };

        // Only accepted status messages travel on (retained, and to whoever may read them); telemetry's consumer is the log.
        e.ProcessPublish = refusal == IngressRefusal.None && message.Topic.EndsWith("/status", StringComparison.Ordinal);
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
}
