using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using SmartPower.Contract;
using SmartPower.Pipeline;

namespace SmartPower.Mqtt;

/// <summary>Where and as whom <see cref="MqttCommandSender"/> publishes.</summary>
public sealed class MqttCommandSenderOptions
{
    public string Host { get; set; } = "localhost";

    public int Port { get; set; } = 8883;

    public bool UseTls { get; set; } = true;

    public string ClientId { get; set; } = "smartpower-commands";

    public string? UserName { get; set; }

    public string? Password { get; set; }

    /// <summary>A PKCS#12 client certificate with its key (the Event Grid MQTT broker authenticates clients by certificate).</summary>
    public byte[]? ClientCertificatePkcs12 { get; set; }

    /// <summary>Accept a broker certificate no trusted authority signed (tests only).</summary>
    public bool AllowUntrustedBroker { get; set; }
}

/// <summary>
/// Sends commands to devices through an external MQTT broker, for a host that is no broker itself (the Functions app
/// and the Event Grid MQTT broker): one connection, opened on first use and again after it drops, each command
/// published at QoS 1 to the device's command topic and complete when the broker acknowledged it (or held, in this
/// instance's memory, for a device that was away or while the broker could not be reached; a refusal is logged).
/// Thread-safe.
/// </summary>
public sealed class MqttCommandSender(MqttCommandSenderOptions options, ILogger? logger = null) : IDeviceCommands, IAsyncDisposable
{
    private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
    private readonly SemaphoreSlim _connect = new(1, 1);
    private readonly HeldCommands _held = new();

    /// <summary>
    /// Publishes the command; one the broker had no subscriber for (MQTT 5 reason 16: the device is away) is held and sent
    /// again when the device is next heard from (<see cref="DevicesHeardAsync"/>, <see cref="HeldCommands"/>).
    /// </summary>
    public Task SendAsync(DeviceCommand command, CancellationToken cancellationToken) => PublishAsync(CommandMessage.For(command), cancellationToken);

    public async Task DevicesHeardAsync(IEnumerable<string> deviceIds, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(deviceIds);
        if (_held.IsEmpty)
        {
            return;
        }

        foreach (var deviceId in deviceIds)
        {
            await _held.SendAgainAsync(deviceId, (message, heldAt) => PublishAsync(message, cancellationToken, heldAt)).ConfigureAwait(false);
        }
    }

    /// <summary>Never throws but for cancellation (see <see cref="HeldCommands.PublishAsync"/>): a batch's alerts are stored whatever becomes of its commands.</summary>
    private async Task PublishAsync(MqttApplicationMessage message, CancellationToken cancellationToken, DateTimeOffset? heldSince = null)
    {
        var problem = await _held.PublishAsync(
            message,
            async ct =>
            {
                await EnsureConnectedAsync(ct).ConfigureAwait(false);
                return await _client.PublishAsync(message, ct).ConfigureAwait(false);
            },
            heldSince,
            cancellationToken).ConfigureAwait(false);
        if (problem is not null)
        {
            logger?.LogError("command {Topic}: {Problem}", message.Topic, problem);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_client.IsConnected)
        {
            await _client.DisconnectAsync().ConfigureAwait(false);
        }

        _client.Dispose();
        _connect.Dispose();
    }

    private async Task EnsureConnectedAsync(CancellationToken cancellationToken)
    {
        if (_client.IsConnected)
        {
            return;
        }

        await _connect.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_client.IsConnected)
            {
                return;
            }

            var builder = new MqttClientOptionsBuilder().WithTcpServer(options.Host, options.Port).WithClientId(options.ClientId)
                .WithProtocolVersion(MqttProtocolVersion.V500).WithTimeout(TimeSpan.FromSeconds(10));
            if (options.UserName is not null)
            {
                builder.WithCredentials(options.UserName, options.Password);
            }

            if (options.UseTls)
            {
                builder.WithTlsOptions(tls =>
                {
                    tls.UseTls();
                    if (options.ClientCertificatePkcs12 is { } pfx)
                    {
                        tls.WithClientCertificates([X509CertificateLoader.LoadPkcs12(pfx, null)]);
                    }

                    if (options.AllowUntrustedBroker)
                    {
                        tls.WithCertificateValidationHandler(_ => true);
                    }
                });
            }

            await _client.ConnectAsync(builder.Build(), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _connect.Release();
        }
    }
}
