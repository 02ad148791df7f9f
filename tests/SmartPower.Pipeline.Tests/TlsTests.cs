using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MQTTnet;
using MQTTnet.Formatter;

namespace SmartPower.Pipeline.Tests;

/// <summary>The embedded broker's TLS listener, with a certificate from configuration (a PKCS#12 file).</summary>
public sealed class TlsTests
{
    [Fact]
    public async Task A_device_publishes_over_tls_with_the_configured_certificate()
    {
        var pfx = Path.Combine(Path.GetTempPath(), $"smartpower-tls-{Guid.NewGuid():N}.pfx");
        using (var key = RSA.Create(2048))
        {
            var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
            await File.WriteAllBytesAsync(pfx, certificate.Export(X509ContentType.Pfx, "secret"));
        }

        var tlsPort = FreePorts.Next();
        await using var harness = await PipelineHarness.StartAsync(configure: o =>
        {
            o.Broker.TlsCertificatePath = pfx;
            o.Broker.TlsCertificatePassword = "secret";
            o.Broker.TlsPort = tlsPort;
        });

        using var client = new MqttClientFactory().CreateMqttClient();
        X509Certificate2? seen = null;
        var result = await client.ConnectAsync(new MqttClientOptionsBuilder()
            .WithTcpServer("127.0.0.1", tlsPort).WithClientId("m-0001").WithCredentials("m-0001", harness.Tokens["m-0001"])
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithTlsOptions(o => o.UseTls().WithCertificateValidationHandler(c =>
            {
                seen = new X509Certificate2(c.Certificate);
                return true; // self-signed for the test; the subject is checked below
            }))
            .Build());
        Assert.Equal(MqttClientConnectResultCode.Success, result.ResultCode);
        Assert.Equal("CN=localhost", seen!.Subject);

        var publish = await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(Feed.Topic("m-0001"))
            .WithPayload(Feed.MeterPayload(0, 1, 5)).WithQualityOfServiceLevel(MQTTnet.Protocol.MqttQualityOfServiceLevel.AtLeastOnce).Build());
        Assert.True(publish.IsSuccess || publish.ReasonCode == MqttClientPublishReasonCode.NoMatchingSubscribers);
        await harness.WaitCaughtUpAsync();
        Assert.Equal(1, harness.Pipeline.Metrics.Accepted);
        await client.DisconnectAsync();
        File.Delete(pfx);
    }
}
