using System.IO.Compression;
using System.Reflection;
using SmartPower.Api.Access;
using SmartPower.Escalation;
using SmartPower.Registry;

namespace SmartPower.Host;

/// <summary>
/// <c>serve --demo</c>: the local pipeline with the Wutong Apartments sample compound (29 devices) and an in-process
/// fleet playing its recorded evening (samples/wutong-evening: 6 hours, every incident type) at 120 times real time,
/// so each alert is printed as it opens and clears within about three minutes. Unless webhooks are configured, its
/// notifications go to a receiver of its own that checks their signatures and prints them. It starts from a fresh demo
/// database every time.
/// </summary>
internal static class Demo
{
    public const double Speed = 120;

    /// <summary>Escalation's limits in the demo run at the evening's speed: 15 minutes of the evening pass in 7.5 s.</summary>
    private static readonly EscalationOptions Escalation = new()
    {
        AcknowledgeWithin = EscalationOptions.Default.AcknowledgeWithin / Speed,
        ReAlarmCriticalAfter = EscalationOptions.Default.ReAlarmCriticalAfter / Speed,
        ReAlarmWarningAfter = EscalationOptions.Default.ReAlarmWarningAfter / Speed,
    };

    public static async Task<int> RunAsync(LocalPipelineOptions options, int httpPort, TextWriter stdout)
    {
        var registry = RegistryLoader.Load(Resource("demo/registry.json"));

        // At 120x a device reporting every 10 s sends 12 messages a second: the per-device limit must allow for it.
        options.Ingress.RatePerSecond = Math.Max(options.Ingress.RatePerSecond, 3 * Speed / 10);
        foreach (var stale in new[] { options.DatabasePath, options.DatabasePath + "-wal", options.DatabasePath + "-shm" })
        {
            File.Delete(stale);
        }

        if (Directory.Exists(options.DatabasePath + ".log"))
        {
            Directory.Delete(options.DatabasePath + ".log", recursive: true);
        }

        stdout.WriteLine($"demo: {registry.DeviceCount} devices of Wutong Apartments, a recorded evening played at {Speed:0}x; fresh store {options.DatabasePath}");
        await using var receiver = DemoReceiver.Start(stdout);
        if (options.Notifications.Webhooks.Count == 0)
        {
            // Nobody configured webhooks (--notifications): every notification goes to the demo's own receiver.
            options.Notifications = options.Notifications with { Webhooks = receiver.Endpoints, Escalation = Escalation };
            options.EscalationCheck = TimeSpan.FromSeconds(1);
            stdout.WriteLine($"demo: webhooks go to {receiver.Url} (signed with {receiver.Secret}); escalation runs at the evening's "
                + $"speed too: a warning not acknowledged within {EscalationPolicy.Describe(Escalation.AcknowledgeWithin)} (15 min of the evening) is escalated");
        }

        return await Serve.RunAsync(registry, options, httpPort, stdout, async (pipeline, stop) =>
        {
            await PrintKeysAsync(pipeline, httpPort, stdout, stop).ConfigureAwait(false);
            await PlayAsync(pipeline, options, stdout, stop).ConfigureAwait(false);
        }).ConfigureAwait(false);
    }

    /// <summary>Issues one API key per role for the demo compound and prints them, with the console's address.</summary>
    private static async Task PrintKeysAsync(LocalPipeline pipeline, int httpPort, TextWriter stdout, CancellationToken stop)
    {
        var site = pipeline.Registry.Sites.First();
        stdout.WriteLine("demo API keys, one per role (send one in the X-Api-Key header):");
        string? console = null;
        foreach (var (role, scope) in new[] { (Role.Admin, null), (Role.PropertyManager, site.ManagerId), (Role.DutyOfficer, site.FireStation) })
        {
            var (_, secret) = await ApiKeys.IssueAsync(pipeline.Store, role, scope, $"demo {RoleNames.Of(role)}", TimeProvider.System, stop).ConfigureAwait(false);
            stdout.WriteLine($"  {RoleNames.Of(role),-16} {scope,-14} {secret}");
            console = role == Role.DutyOfficer ? secret : console;
        }

        stdout.WriteLine($"  e.g. curl -H 'X-Api-Key: <key>' http://localhost:{httpPort}/api/v1/sites/{site.SiteId}/status");
        stdout.WriteLine($"duty-officer console: http://localhost:{httpPort}/console#key={console}");
    }

    private static async Task PlayAsync(LocalPipeline pipeline, LocalPipelineOptions options, TextWriter stdout, CancellationToken stop)
    {
        var tokens = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var device in pipeline.Registry.Devices)
        {
            tokens[device.DeviceId] = await pipeline.Store.IssueAsync(device.DeviceId, stop).ConfigureAwait(false);
        }

        var fleet = new DemoFleet("127.0.0.1", options.Broker.Port, tokens, Speed);
        try
        {
            await fleet.PlayAsync(Lines(), (n, at) => stdout.WriteLine($"  ... fleet: {n:N0} readings sent, event time {at:HH:mm} UTC"), stop).ConfigureAwait(false);
            await Task.Delay(TimeSpan.FromSeconds(2), stop).ConfigureAwait(false);
            var open = pipeline.OpenAlerts;
            stdout.WriteLine($"demo story finished: {fleet.Published:N0} readings sent; alerts open now: {string.Join(", ", open.Select(kv => $"{kv.Value} {kv.Key}"))}.");
            stdout.WriteLine("The story's ground truth is samples/wutong-evening/truth.jsonl. Still serving; Ctrl+C stops.");
        }
        catch (OperationCanceledException)
        {
            // Ctrl+C during the story.
        }
    }

    private static IEnumerable<string> Lines()
    {
        using var gz = new GZipStream(Resource("demo/night.jsonl.gz"), CompressionMode.Decompress);
        using var reader = new StreamReader(gz);
        while (reader.ReadLine() is { } line)
        {
            yield return line;
        }
    }

    private static Stream Resource(string name) =>
        Assembly.GetExecutingAssembly().GetManifestResourceStream(name) ?? throw new InvalidOperationException($"demo resource {name} is missing from the build");
}
