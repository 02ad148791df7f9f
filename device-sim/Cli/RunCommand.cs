using System.Globalization;
using System.Text;
using MQTTnet.Protocol;
using SmartPower.DeviceSim.Mqtt;
using SmartPower.DeviceSim.Simulation;

namespace SmartPower.DeviceSim.Cli;

/// <summary><c>run</c>: publish a fleet's night live to an MQTT broker, each device with its own client.</summary>
internal static class RunCommand
{
    public const string Usage =
        "run --broker HOST:PORT [--registry FILE | fleet options] [options]\n" +
        "  --tls                  connect with TLS; --tls-allow-untrusted accepts a self-signed broker certificate\n" +
        "  --password P           every device's password (username = device id)\n" +
        "  --password-file FILE   deviceId:password lines (the plain form mosquitto_passwd -U hashes)\n" +
        "  --speed N              simulated seconds per second (default 1; 60 = an hour a minute)\n" +
        "  --max-rate             as fast as the broker acknowledges (load tests)\n" +
        "  --qos 0|1              QoS of readings (default 1, the contract's; 0 only for load tests)\n" +
        "  --in-flight N          readings a device may have awaiting their PUBACK (default 16; with --max-rate 256),\n" +
        "                         never more than the broker's Receive Maximum\n" +
        "  --out DIR              writes DIR/registry.json at the start and DIR/truth.jsonl at the end\n" +
        "  --no-progress          no live display (it is off anyway when output is redirected)\n" +
        NightSetup.Usage;

    public static async Task<int> RunAsync(IReadOnlyList<string> argv, TextWriter stdout, TimeProvider time, CancellationToken cancellationToken)
    {
        var args = Arguments.Parse(argv, [.. NightSetup.Options, "broker", "password", "password-file", "speed", "out", "qos", "in-flight"],
            ["tls", "tls-allow-untrusted", "max-rate", "no-progress"]);
        var broker = ParseBroker(args);
        var speed = args.Double("speed", 0.001, 1_000_000) ?? 1;
        if (args.Has("max-rate") && args.Has("speed"))
        {
            throw new UsageException("--max-rate and --speed exclude each other");
        }

        var (scenario, registry, _) = NightSetup.Resolve(args);
        var outDir = args.String("out");
        var utf8 = new UTF8Encoding(false);
        if (outDir is not null)
        {
            Directory.CreateDirectory(outDir);
            await File.WriteAllTextAsync(Path.Combine(outDir, "registry.json"), registry.ToJson(), utf8, cancellationToken).ConfigureAwait(false);
        }

        var night = new NightRun(CompoundNight.Build(scenario, registry));
        await using var live = new LiveRun(night, broker, new LiveRunOptions { Speed = speed, MaxRate = args.Has("max-rate") }, time);
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"run: {registry.Devices.Count:N0} devices to {broker.Host}:{broker.Port}{(broker.Tls ? " (TLS)" : "")}, scenario {scenario.Name}, seed {scenario.Seed}, " +
            $"{(args.Has("max-rate") ? "max rate" : $"speed {speed}")}, readings at QoS {(int)broker.ReadingQos}"));
        var interactive = !Console.IsOutputRedirected && !args.Has("no-progress");
        await ProgressView.ShowWhileAsync(live, night, interactive, stdout, time, live.RunAsync(cancellationToken)).ConfigureAwait(false);

        var labels = night.Label([]);
        if (outDir is not null)
        {
            await using var truth = File.Create(Path.Combine(outDir, "truth.jsonl"));
            labels.WriteGroundTruth(truth);
        }

        var s = live.Stats;
        if (live.ConnectTime > TimeSpan.Zero)
        {
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"connected all {live.Devices:N0} devices in {live.ConnectTime.TotalSeconds:F1} s"));
        }

        var seconds = Math.Max(live.Elapsed.TotalSeconds, 1e-3);
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"sent {s.Sent:N0} messages in {seconds:F1} s ({s.Sent / seconds:N0}/s); failed {s.Failed:N0}; connection errors {s.ConnectionErrors:N0}{(s.LastConnectionError is { } why ? $" (last: {why})" : "")}; " +
            $"connects {s.Connects:N0}; commands {s.Commands:N0}; ground-truth incidents {labels.Incidents.Count}{(outDir is null ? "" : $" (written to {Path.Combine(outDir, "truth.jsonl")})")}" +
            $"{(args.Has("max-rate") ? "" : $"; steps held {FleetPace.MaxHold.TotalSeconds:N0} s for a device {live.StepsHeldTooLong:N0}")}"));
        return s.Failed > 0 ? 1 : 0;
    }

    private static BrokerOptions ParseBroker(Arguments args)
    {
        var text = args.Required("broker");
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            throw new UsageException($"--broker must be HOST:PORT, not \"{text}\"");
        }

        if (args.Has("password") && args.Has("password-file"))
        {
            throw new UsageException("--password and --password-file exclude each other");
        }

        var passwords = args.String("password-file") is { } file ? BrokerOptions.ReadPasswordFile(file) : new Dictionary<string, string>();
        return new BrokerOptions
        {
            Host = text[..colon].Trim('[', ']'),
            Port = port,
            Tls = args.Has("tls"),
            AllowUntrustedCertificates = args.Has("tls-allow-untrusted"),
            Password = args.String("password"),
            Passwords = passwords,
            ReadingQos = (MqttQualityOfServiceLevel)(args.Int("qos", 0, 1) ?? 1),
            MaxInFlight = args.Int("in-flight", 1, 65535) ?? (args.Has("max-rate") ? 256 : 16),
        };
    }
}
