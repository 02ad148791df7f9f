using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using SmartPower.Notifications;
using SmartPower.Webhooks;

namespace SmartPower.Host;

/// <summary>
/// The demo's webhook receiver, on a free loopback port: it checks each delivery's signature and timestamp as a real
/// receiver should, drops a repeated idempotency key, answers 204, and prints one line per notification.
/// </summary>
internal sealed class DemoReceiver : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly HashSet<string> _seen = new(StringComparer.Ordinal);
    private readonly TextWriter _stdout;
    private readonly Task _serving;

    private DemoReceiver(int port, TextWriter stdout)
    {
        _stdout = stdout;
        Url = new Uri($"http://127.0.0.1:{port}/webhook");
        Secret = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        _listener.Start();
        _serving = Task.Run(ServeAsync);
    }

    public Uri Url { get; }

    public string Secret { get; }

    /// <summary>Settings that send every manager's and fire station's notifications here.</summary>
    public WebhookEndpoints Endpoints => new([
        new WebhookEndpoint(RecipientKind.Manager, WebhookEndpoint.AnyId, Url, Secret),
        new WebhookEndpoint(RecipientKind.FireStation, WebhookEndpoint.AnyId, Url, Secret)]);

    public static DemoReceiver Start(TextWriter stdout)
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return new DemoReceiver(port, stdout);
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        await _serving.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _listener.Close();
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
            {
                return; // stopped
            }

            using var body = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(body).ConfigureAwait(false);
            var bytes = body.ToArray();
            var signed = WebhookSignature.Verify(
                Secret,
                context.Request.Headers[WebhookHeaders.Timestamp],
                bytes,
                context.Request.Headers[WebhookHeaders.Signature],
                DateTimeOffset.UtcNow,
                TimeSpan.FromMinutes(5));
            var key = context.Request.Headers[WebhookHeaders.IdempotencyKey] ?? "";
            bool fresh;
            lock (_seen)
            {
                fresh = signed && _seen.Add(key);
            }

            context.Response.StatusCode = signed ? (int)HttpStatusCode.NoContent : (int)HttpStatusCode.Unauthorized;
            context.Response.Close();
            _stdout.WriteLine(signed ? Describe(bytes) + (fresh ? "" : "  (duplicate, dropped)") : "  webhook: signature check FAILED, refused");
        }
    }

    private static string Describe(byte[] body)
    {
        using var json = JsonDocument.Parse(body);
        var root = json.RootElement;
        var recipient = root.GetProperty("recipient");
        var transition = root.GetProperty("transition");
        var alert = root.GetProperty("alert");
        var reason = transition.GetProperty("reason").GetString() is { } r ? $" ({r})" : "";
        return $"  webhook -> {recipient.GetProperty("kind").GetString()} {recipient.GetProperty("id").GetString()}: "
            + $"{transition.GetProperty("kind").GetString()} {alert.GetProperty("severity").GetString()} {alert.GetProperty("type").GetString()} "
            + $"{alert.GetProperty("deviceId").GetString()}{reason}, signature ok";
    }
}
