using MQTTnet.Protocol;

namespace SmartPower.DeviceSim.Mqtt;

/// <summary>Where and how devices connect: the broker, TLS, and each device's password (its username is its device id).</summary>
public sealed record BrokerOptions
{
    public required string Host { get; init; }

    public required int Port { get; init; }

    public bool Tls { get; init; }

    /// <summary>Accept a broker certificate that does not validate (a test broker's self-signed one).</summary>
    public bool AllowUntrustedCertificates { get; init; }

    /// <summary>The password of every device without one of its own in <see cref="Passwords"/>.</summary>
    public string? Password { get; init; }

    /// <summary>Passwords by device id.</summary>
    public IReadOnlyDictionary<string, string> Passwords { get; init; } = new Dictionary<string, string>();

    /// <summary>QoS of readings: 1 (at least once, the contract's) unless a load test asks for 0. Statuses are always QoS 1.</summary>
    public MqttQualityOfServiceLevel ReadingQos { get; init; } = MqttQualityOfServiceLevel.AtLeastOnce;

    /// <summary>Messages a device may have awaiting their PUBACK at once (below mosquitto's default receive maximum of 20).</summary>
    public int MaxInFlight { get; init; } = 16;

    public TimeSpan KeepAlive { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The first reconnect delay; it doubles on every failure up to <see cref="MaxBackoff"/>, each delay with ±50% jitter.</summary>
    public TimeSpan FirstBackoff { get; init; } = TimeSpan.FromSeconds(1);

    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(60);

    public string? PasswordFor(string deviceId) => Passwords.TryGetValue(deviceId, out var p) ? p : Password;

    /// <summary>
    /// Reads a password file of <c>deviceId:password</c> lines (the plain form that <c>mosquitto_passwd -U</c>
    /// hashes in place); blank lines and lines starting with '#' are skipped.
    /// </summary>
    public static Dictionary<string, string> ReadPasswordFile(string path)
    {
        var passwords = new Dictionary<string, string>(StringComparer.Ordinal);
        var lineNo = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNo++;
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                throw new FormatException($"{path}:{lineNo}: expected deviceId:password");
            }

            passwords[line[..colon]] = line[(colon + 1)..];
        }

        return passwords;
    }
}
