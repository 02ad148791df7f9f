using SmartPower.Registry;
using SmartPower.Replay;

namespace SmartPower.Host;

/// <summary>The operator's command line. A thin shell: it opens files and prints, the core does the work.</summary>
public static class CommandLine
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int Usage = 2;

    private const string Help = """
        SmartPower: electric-safety telemetry pipeline.

        Usage:
          smartpower replay --registry FILE --input FILE --output FILE [--partitions N]
              Runs contract JSON Lines (one MQTT message a line) through the detection engine and
              writes each alert once, in its final state, as JSON Lines. Prints what it read,
              accepted, rejected (by reason) and raised. Use - as --output for standard output;
              an --input ending in .gz is read through gzip.
              Devices are spread over N engines, one thread each (default 2, fixed so that the
              output never depends on the machine).

          smartpower serve --registry FILE [--db FILE] [--mqtt-port N] [--http-port N] [--partitions N]
                           [--broker HOST:PORT [--share-group NAME|none] [--bridge-id ID] [--sites ID,ID]] [--tls-cert FILE.pfx --tls-password P --mqtt-tls-port N]
                           [--rate N] [--checkpoint-ms N] [--no-fsync] [--max-lag-kb N] [--notifications FILE] [--log-dir DIR]
          smartpower serve --demo [--db FILE] [--mqtt-port N] [--http-port N] [--notifications FILE]
              Runs the whole pipeline in one process: an embedded MQTT broker (devices connect with
              username = deviceId, password = a token from 'tokens issue'), the telemetry log
              (next to the database, or --log-dir DIR), detection, and the SQLite store (default smartpower.db).
              --broker takes telemetry from an external broker (shared subscription) instead;
              --share-group NAME (default smartpower; 'none' for a plain subscription, which survives
              a mosquitto restart) and --bridge-id ID (the persistent session's client id, default
              smartpower-bridge-HOSTNAME: keep it across restarts); --sites takes only those sites'
              devices (hosts on disjoint sites share a broker without reordering a device's readings).
              HTTP: /health (JSON) and /metrics (OpenTelemetry, Prometheus format).
              Defaults: MQTT 1883, HTTP 8080, 2 partitions, 5 messages/s per device (--rate; bursts of
              60 or a second's worth, whichever is more),
              detector state checkpointed every 2000 ms (--checkpoint-ms); --no-fsync acknowledges
              once the OS has a message (survives a killed process, not a power cut); --max-lag-kb:
              devices wait for their PUBACK while a partition's detection is this far behind (default
              64), which keeps alert latency low when readings come faster than detection runs.
              Ctrl+C drains the log and checkpoints before exiting.
              --notifications: webhooks per property manager and fire station, their retry schedule
              and escalation's limits (JSON, see README); without it nothing is posted, and alerts
              still escalate (default: a warning not acknowledged within 15 min). The demo posts to
              a receiver of its own unless the file names webhooks.

          smartpower tokens issue --db FILE (--device ID | --registry FILE)
          smartpower tokens revoke --db FILE --device ID
              Issues device tokens (MQTT passwords; printed once as "deviceId:token" lines, the
              simulator's --password-file format, stored only as hashes) for one device or every
              device of a registry, or revokes a device's.

          smartpower keys issue --db FILE --role ROLE [--scope ID] [--name TEXT]
          smartpower keys revoke --db FILE --key-id ID
          smartpower keys list --db FILE
              Status API keys (sent in the X-Api-Key header; printed once, stored only as hashes). ROLE is
              property-manager (--scope is its managerId), duty-officer (--scope is its fireStation) or
              admin (no scope; issues and revokes keys and device tokens through the API as well).

          smartpower help
        """;

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (args.Length == 0 || args[0] is "help" || args.Any(a => a is "--help" or "-h"))
        {
            stdout.WriteLine(Help);
            return args.Length == 0 ? Usage : Ok;
        }

        try
        {
            return args[0] switch
            {
                "replay" => Replay(Options.Parse(args.AsSpan(1), ["--registry", "--input", "--output", "--partitions"]), stdout, stderr),
                "serve" => ServeCommand(Options.Parse(args.AsSpan(1), ServeOptions, ["--demo", "--no-fsync"]), stdout),
                "tokens" => Tokens(args.AsSpan(1), stdout),
                "keys" => Keys(args.AsSpan(1), stdout),
                _ => throw new UsageException($"unknown command '{args[0]}'"),
            };
        }
        catch (UsageException e)
        {
            stderr.WriteLine($"error: {e.Message}");
            stderr.WriteLine("run 'smartpower help' for usage");
            return Usage;
        }
        catch (RegistryException e)
        {
            stderr.WriteLine($"error: registry: {e.Message}");
            return Failed;
        }
        catch (Webhooks.NotificationSettingsException e)
        {
            stderr.WriteLine($"error: notifications: {e.Message}");
            return Failed;
        }
        catch (IOException e)
        {
            stderr.WriteLine($"error: {e.Message}");
            return Failed;
        }
        catch (UnauthorizedAccessException e)
        {
            stderr.WriteLine($"error: {e.Message}");
            return Failed;
        }
        catch (Microsoft.Data.Sqlite.SqliteException e)
        {
            // --db a directory, or a file that is no database.
            stderr.WriteLine($"error: database: {e.Message}");
            return Failed;
        }
        catch (System.Net.Sockets.SocketException e)
        {
            stderr.WriteLine($"error: cannot listen or connect: {e.Message} (another broker or server on that port? see --mqtt-port, --http-port)");
            return Failed;
        }
        catch (InvalidOperationException e) when (args[0] is "serve" or "tokens")
        {
            stderr.WriteLine($"error: {e.Message}");
            return Failed;
        }
    }

    private static int Replay(Options options, TextWriter stdout, TextWriter stderr)
    {
        var registryPath = options.Require("--registry");
        var inputPath = options.Require("--input");
        var outputPath = options.Require("--output");
        var partitions = options.Integer("--partitions", ReplayRunner.DefaultPartitions, 1, 64);
        var registry = RegistryLoader.Load(registryPath);
        if (!File.Exists(inputPath))
        {
            throw new IOException($"input file '{inputPath}' does not exist");
        }

        using var file = new FileStream(inputPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        using Stream input = inputPath.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)
            ? new System.IO.Compression.GZipStream(file, System.IO.Compression.CompressionMode.Decompress)
            : file;
        var toStdout = outputPath == "-";
        using var output = toStdout ? Console.OpenStandardOutput() : new FileStream(outputPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        var progress = new SynchronousProgress(r => stderr.WriteLine($"  ... {r.Lines:N0} lines, {r.ReadingsPerSecond:N0} readings/s"));
        var report = ReplayRunner.Run(registry, input, output, progress, partitions: partitions);
        (toStdout ? stderr : stdout).WriteLine(report.ToString());
        if (!toStdout)
        {
            stdout.WriteLine($"alerts written to {outputPath}");
        }

        return Ok;
    }

    private static readonly string[] ServeOptions =
        ["--registry", "--db", "--mqtt-port", "--http-port", "--partitions", "--broker", "--tls-cert", "--tls-password", "--mqtt-tls-port", "--rate", "--checkpoint-ms",
            "--max-lag-kb", "--notifications", "--log-dir", "--share-group", "--bridge-id", "--sites"];

    private static int ServeCommand(Options options, TextWriter stdout)
    {
        var demo = options.Flag("--demo");
        var registryPath = demo ? null : options.Require("--registry");
        var pipeline = new LocalPipelineOptions
        {
            DatabasePath = options.Text("--db", null) ?? (demo ? "smartpower-demo.db" : "smartpower.db"),
            Partitions = options.Integer("--partitions", 2, 1, 64),
            FlushToDisk = !options.Flag("--no-fsync"),
            LogDirectory = options.Text("--log-dir", null),
            MaxLagBytes = options.Integer("--max-lag-kb", (int)(LocalPipelineOptions.DefaultMaxLagBytes >> 10), 16, 1 << 20) * 1024L,
        };
        pipeline.Broker.Port = options.Integer("--mqtt-port", 1883, 1, 65535);
        pipeline.Broker.TlsCertificatePath = options.Text("--tls-cert", null);
        pipeline.Broker.TlsCertificatePassword = options.Text("--tls-password", null);
        pipeline.Broker.TlsPort = options.Integer("--mqtt-tls-port", 8883, 1, 65535);
        pipeline.Ingress.RatePerSecond = options.Integer("--rate", 5, 1, 100_000);
        pipeline.Ingress.RateBurst = Math.Max(pipeline.Ingress.RateBurst, pipeline.Ingress.RatePerSecond); // a second's worth at least
        pipeline.Consumer.CheckpointInterval = TimeSpan.FromMilliseconds(options.Integer("--checkpoint-ms", 2000, 10, 3_600_000));
        if (options.Text("--broker", null) is { } broker)
        {
            var (host, port) = HostPort(broker);
            pipeline.ExternalBroker = new Mqtt.BrokerBridgeOptions { Host = host, Port = port };
            if (options.Text("--share-group", null) is { } group)
            {
                pipeline.ExternalBroker.ShareGroup = group == "none" ? null : group;
            }

            if (options.Text("--bridge-id", null) is { } id)
            {
                pipeline.ExternalBroker.ClientId = id;
            }

            if (options.Text("--sites", null) is { } sites)
            {
                pipeline.ExternalBroker.Sites = sites.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            }
        }

        if (options.Text("--notifications", null) is { } notifications)
        {
            pipeline.Notifications = Webhooks.NotificationSettings.Load(notifications);
        }

        if (pipeline.Broker.TlsCertificatePath is { } cert && !File.Exists(cert))
        {
            throw new IOException($"TLS certificate '{cert}' does not exist");
        }

        var httpPort = options.Integer("--http-port", 8080, 1, 65535);
        if (demo)
        {
            return Demo.RunAsync(pipeline, httpPort, stdout).GetAwaiter().GetResult();
        }

        var registry = RegistryLoader.Load(registryPath!);
        if (pipeline.ExternalBroker?.Sites?.FirstOrDefault(s => !registry.TryGetSite(s, out _)) is { } unknown)
        {
            throw new UsageException($"--sites: site '{unknown}' is not in the registry");
        }

        return Serve.RunAsync(registry, pipeline, httpPort, stdout).GetAwaiter().GetResult();
    }

    private static (string Host, int Port) HostPort(string text)
    {
        var colon = text.LastIndexOf(':');
        return colon > 0 && int.TryParse(text.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port) && port is > 0 and < 65536
            ? (text[..colon], port)
            : throw new UsageException($"--broker must be HOST:PORT, not '{text}'");
    }

    private static int Tokens(ReadOnlySpan<string> args, TextWriter stdout)
    {
        if (args.Length == 0 || args[0] is not ("issue" or "revoke"))
        {
            throw new UsageException("tokens needs 'issue' or 'revoke'");
        }

        var issue = args[0] == "issue";
        var options = Options.Parse(args[1..], ["--db", "--device", "--registry"]);
        var db = options.Require("--db");
        IEnumerable<string> devices = options.Text("--device", null) is { } one
            ? [one]
            : issue ? RegistryLoader.Load(options.Require("--registry")).Devices.Select(d => d.DeviceId) : throw new UsageException("missing required option '--device'");
        return RunTokensAsync(db, devices.ToArray(), issue, stdout).GetAwaiter().GetResult();
    }

    private static async Task<int> RunTokensAsync(string db, string[] devices, bool issue, TextWriter stdout)
    {
        await using var store = await Sqlite.SqliteStore.OpenAsync(new Sqlite.SqliteStoreOptions { Path = db }).ConfigureAwait(false);
        foreach (var device in devices)
        {
            if (issue)
            {
                stdout.WriteLine($"{device}:{await store.IssueAsync(device, CancellationToken.None).ConfigureAwait(false)}");
            }
            else
            {
                stdout.WriteLine($"{device}: {await store.RevokeAsync(device, CancellationToken.None).ConfigureAwait(false)} token(s) revoked");
            }
        }

        return Ok;
    }

    private static int Keys(ReadOnlySpan<string> args, TextWriter stdout)
    {
        var verb = args.Length == 0 ? "" : args[0];
        var options = verb switch
        {
            "issue" => Options.Parse(args[1..], ["--db", "--role", "--scope", "--name"]),
            "revoke" => Options.Parse(args[1..], ["--db", "--key-id"]),
            "list" => Options.Parse(args[1..], ["--db"]),
            _ => throw new UsageException("keys needs 'issue', 'revoke' or 'list'"),
        };
        return RunKeysAsync(verb, options, stdout).GetAwaiter().GetResult();
    }

    private static async Task<int> RunKeysAsync(string verb, Options options, TextWriter stdout)
    {
        var (role, scope, name) = verb == "issue" ? KeyToIssue(options) : default;
        await using var store = await Sqlite.SqliteStore.OpenAsync(new Sqlite.SqliteStoreOptions { Path = options.Require("--db") }).ConfigureAwait(false);
        if (verb == "issue")
        {
            var (key, secret) = await Api.Access.ApiKeys.IssueAsync(store, role, scope, name, TimeProvider.System, CancellationToken.None).ConfigureAwait(false);
            stdout.WriteLine($"{key.KeyId} {secret}");
            return Ok;
        }

        if (verb == "revoke")
        {
            var keyId = options.Require("--key-id");
            var revoked = await store.RevokeApiKeyAsync(keyId, DateTimeOffset.UtcNow, CancellationToken.None).ConfigureAwait(false);
            stdout.WriteLine(revoked ? $"{keyId}: revoked" : $"{keyId}: no live key of that id");
            return revoked ? Ok : Failed;
        }

        foreach (var k in await store.ListApiKeysAsync(CancellationToken.None).ConfigureAwait(false))
        {
            var state = k.RevokedAt is { } at ? $"revoked {Contract.EventTime.Format(at)}" : "live";
            stdout.WriteLine($"{k.KeyId}  {Api.Access.RoleNames.Of(k.Role),-16} {k.Scope ?? "-",-14} {state,-32} {k.Name}");
        }

        return Ok;
    }

    private static (Api.Access.Role Role, string? Scope, string Name) KeyToIssue(Options options)
    {
        var roleName = options.Require("--role");
        if (!Api.Access.RoleNames.TryParse(roleName, out var role))
        {
            throw new UsageException("--role must be property-manager, duty-officer or admin");
        }

        var scope = options.Text("--scope", null);
        var name = options.Text("--name", null) ?? $"{roleName} {scope}".Trim();
        return Api.Access.ApiKeys.Validate(role, scope, name) is { } problem ? throw new UsageException(problem) : (role, scope, name);
    }

    /// <summary>Reports on the caller's thread, in order (Progress&lt;T&gt; would post to the thread pool).</summary>
    private sealed class SynchronousProgress(Action<ReplayReport> report) : IProgress<ReplayReport>
    {
        public void Report(ReplayReport value) => report(value);
    }
}

/// <summary>A mistake in how the command was called.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary><c>--name value</c> pairs, checked against the names a command knows.</summary>
internal sealed class Options
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

    private readonly HashSet<string> _flags = new(StringComparer.Ordinal);

    public static Options Parse(ReadOnlySpan<string> args, string[] known, string[]? flags = null)
    {
        var options = new Options();
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i];
            if (flags is not null && Array.IndexOf(flags, name) >= 0)
            {
                options._flags.Add(name);
                continue;
            }

            if (Array.IndexOf(known, name) < 0)
            {
                throw new UsageException($"unknown option '{name}' (expected {string.Join(", ", known)})");
            }

            if (i + 1 >= args.Length || (args[i + 1].StartsWith("--", StringComparison.Ordinal) && args[i + 1].Length > 2))
            {
                throw new UsageException($"option '{name}' needs a value");
            }

            if (!options._values.TryAdd(name, args[++i]))
            {
                throw new UsageException($"option '{name}' is given twice");
            }
        }

        return options;
    }

    public int Integer(string name, int fallback, int min, int max)
    {
        if (!_values.TryGetValue(name, out var text))
        {
            return fallback;
        }

        return int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw new UsageException($"option '{name}' must be a whole number from {min} to {max}, not '{text}'");
    }

    public bool Flag(string name) => _flags.Contains(name);

    public string? Text(string name, string? fallback) => _values.TryGetValue(name, out var value) ? value : fallback;

    public string Require(string name) =>
        _values.TryGetValue(name, out var value) ? value : throw new UsageException($"missing required option '{name}'");
}
