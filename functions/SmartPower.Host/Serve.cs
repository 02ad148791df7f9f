using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using SmartPower.Alerts;
using SmartPower.Contract;
using SmartPower.Pipeline;
using SmartPower.Registry;

namespace SmartPower.Host;

/// <summary>
/// <c>serve</c>: the local pipeline with its HTTP side (<c>/health</c>, <c>/metrics</c>, the status API and the console)
/// until Ctrl+C or SIGTERM, then a graceful stop that drains the log and checkpoints.
/// </summary>
internal static class Serve
{
    public static async Task<int> RunAsync(DeviceRegistry registry, LocalPipelineOptions options, int httpPort, TextWriter stdout, Func<LocalPipeline, CancellationToken, Task>? alongside = null)
    {
        using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; }).SetMinimumLevel(LogLevel.Information));
        using var stop = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true; // stop gracefully instead of dying
            stop.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c =>
        {
            c.Cancel = true;
            stop.Cancel();
        });

        await using var pipeline = await LocalPipeline.StartAsync(registry, options, loggers, stop.Token).ConfigureAwait(false);
        pipeline.AlertStored += t => stdout.WriteLine(Describe(registry, t));
        var web = BuildWeb(pipeline, httpPort);
        await web.StartAsync(stop.Token).ConfigureAwait(false);
        stdout.WriteLine(options.ExternalBroker is { } ext
            ? $"MQTT: bridging from {ext.Host}:{ext.Port} as '{ext.ClientId}' (" + (string.IsNullOrEmpty(ext.ShareGroup) ? "plain subscription)" : $"shared subscription group '{ext.ShareGroup}')")
            : $"MQTT broker listening on {options.Broker.BindAddress}:{options.Broker.Port}" + (options.Broker.TlsCertificatePath is null ? "" : $", TLS on {options.Broker.TlsPort}"));
        var notify = options.Notifications;
        stdout.WriteLine($"notifications: {notify.Webhooks.Count} webhook(s); a warning not acknowledged within "
            + $"{Escalation.EscalationPolicy.Describe(notify.Escalation.AcknowledgeWithin)} is escalated");
        stdout.WriteLine($"HTTP listening on http://localhost:{httpPort}  (/health, /metrics, /api/v1, /openapi/v1.json, /console)");
        stdout.WriteLine($"store: {Path.GetFullPath(options.DatabasePath)}; {registry.DeviceCount:N0} devices in the registry. Ctrl+C stops (draining the log first).");

        var side = alongside is null ? Task.CompletedTask : alongside(pipeline, stop.Token);
        try
        {
            await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
            stdout.WriteLine("stopping: draining the log and checkpointing ...");
            await side.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await pipeline.StopAsync().ConfigureAwait(false);
            await web.StopAsync(CancellationToken.None).ConfigureAwait(false);
            await web.DisposeAsync().ConfigureAwait(false);
            stdout.WriteLine($"stopped: {pipeline.Metrics.Accepted:N0} readings accepted, {pipeline.Metrics.Transitions:N0} alert transitions stored.");
        }

        return CommandLine.Ok;
    }

    /// <summary>One line per stored transition, with enough location to find the device.</summary>
    public static string Describe(DeviceRegistry registry, AlertTransition transition)
    {
        var alert = transition.Alert;
        var where = registry.TryGetDevice(alert.DeviceId, out var device) ? device.Location?.Describe() ?? "" : "";
        var site = registry.TryGetSite(alert.SiteId, out var s) ? s.Name : alert.SiteId;
        var port = alert.Port is { } p ? $" port {p}" : "";
        return $"{EventTime.Format(transition.AtMs)}  {AlertNames.Of(transition.Kind).ToUpperInvariant(),-8} {AlertNames.Of(alert.Severity),-8} "
            + $"{AlertNames.Of(alert.Type),-16} {alert.DeviceId}{port}  {site} {where}  [{alert.AlertId}]";
    }

    internal static WebApplication BuildWeb(LocalPipeline pipeline, int httpPort)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Any, httpPort));
        builder.Services.AddOpenTelemetry().WithMetrics(m => m.AddMeter(PipelineMetrics.MeterName).AddPrometheusExporter());
        builder.AddStatusApi();
        var app = builder.Build();
        app.MapStatusApi(pipeline);
        app.MapPrometheusScrapingEndpoint("/metrics");
        app.MapGet("/health", (HttpContext context) => Results.Text(
            HealthJson(pipeline), "application/json", statusCode: pipeline.Problems.Count == 0 ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable));
        return app;
    }

    /// <summary>The same figures as the OpenTelemetry metrics, as one JSON document.</summary>
    internal static string HealthJson(LocalPipeline pipeline)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            var m = pipeline.Metrics;
            w.WriteStartObject();
            var problems = pipeline.Problems;
            w.WriteString("status", problems.Count == 0 ? "ok" : "degraded");
            w.WriteStartArray("problems");
            foreach (var problem in problems)
            {
                w.WriteStringValue(problem);
            }

            w.WriteEndArray();
            w.WriteStartObject("readings");
            w.WriteNumber("accepted", m.Accepted);
            w.WriteNumber("duplicates", m.Duplicates);
            w.WriteNumber("statusMessages", m.StatusMessages);
            w.WriteNumber("rejected", m.Rejected);
            w.WriteEndObject();
            WriteCounts(w, "rejectedByReason", m.RejectedByReason());
            WriteCounts(w, "refusedAtIngress", pipeline.Ingress.RefusedByReason());
            WriteCounts(w, "refusedAtApi", pipeline.ApiRefusals.ByReason());
            w.WriteStartArray("partitions");
            foreach (var c in pipeline.Consumers)
            {
                w.WriteStartObject();
                w.WriteNumber("partition", c.Partition);
                w.WriteNumber("position", c.Position);
                w.WriteNumber("lagBytes", c.Lag);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            WriteCounts(w, "alertsOpen", pipeline.OpenAlerts);
            w.WriteNumber("alertTransitionsStored", m.Transitions);
            w.WriteNumber("commandsSent", m.Commands);
            w.WriteStartObject("alertLatencyMs");
            WriteLatency(w, "stored", m.StoredLatency);
            WriteLatency(w, "pushed", m.PushedLatency);
            w.WriteEndObject();
            w.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>Count, p50 and p99 of the last 65,536 transitions (null percentiles before the first).</summary>
    private static void WriteLatency(Utf8JsonWriter w, string name, LatencySample sample)
    {
        w.WriteStartObject(name);
        w.WriteNumber("count", sample.Count);
        foreach (var (label, q) in new[] { ("p50", 0.5), ("p99", 0.99), ("max", 1.0) })
        {
            if (sample.Percentile(q) is { } value)
            {
                w.WriteNumber(label, value);
            }
            else
            {
                w.WriteNull(label);
            }
        }

        w.WriteEndObject();
    }

    private static void WriteCounts(Utf8JsonWriter w, string name, IReadOnlyDictionary<string, long> counts)
    {
        w.WriteStartObject(name);
        foreach (var (key, value) in counts)
        {
            w.WriteNumber(key, value);
        }

        w.WriteEndObject();
    }
}
