using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace SmartPower.Pipeline.Tests;

/// <summary>One POST as the receiver got it.</summary>
internal sealed record ReceivedDelivery(string IdempotencyKey, string Timestamp, string Signature, int Attempt, string Body, DateTimeOffset ReceivedAt)
{
    /// <summary>
    /// Checks the signature the way the README tells a receiver to, written here from the documented scheme rather than
    /// with the sender's code: HMAC-SHA256, keyed with the secret, over "{timestamp}.{body}", hex after "sha256=".
    /// </summary>
    public bool IsSignedWith(string secret)
    {
        var expected = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(Timestamp + "." + Body)));
        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(Signature));
    }
}

/// <summary>
/// A real HTTP webhook receiver (HttpListener) on a fixed loopback port that can be down (nothing listening: the
/// connection is refused) and up again on the same port. It keeps every delivery, duplicates included.
/// </summary>
internal sealed class WebhookReceiver(int port) : IAsyncDisposable
{
    private readonly List<ReceivedDelivery> _received = [];
    private HttpListener? _listener;
    private Task? _serving;

    public Uri Url { get; } = new($"http://127.0.0.1:{port}/hooks/smartpower");

    public IReadOnlyList<ReceivedDelivery> Received
    {
        get
        {
            lock (_received)
            {
                return [.. _received];
            }
        }
    }

    public void Up()
    {
        _listener = new HttpListener();
        _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        _listener.Start();
        var listener = _listener;
        _serving = Task.Run(() => ServeAsync(listener));
    }

    public async Task DownAsync()
    {
        if (_listener is { } listener)
        {
            listener.Stop();
            await _serving!.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            listener.Close();
            _listener = null;
        }
    }

    public ValueTask DisposeAsync() => new(DownAsync());

    private async Task ServeAsync(HttpListener listener)
    {
        while (listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
            var body = await reader.ReadToEndAsync();
            var headers = context.Request.Headers;
            lock (_received)
            {
                _received.Add(new ReceivedDelivery(
                    headers["X-SmartPower-Idempotency-Key"] ?? "",
                    headers["X-SmartPower-Timestamp"] ?? "",
                    headers["X-SmartPower-Signature"] ?? "",
                    int.Parse(headers["X-SmartPower-Attempt"] ?? "0", CultureInfo.InvariantCulture),
                    body,
                    DateTimeOffset.UtcNow));
            }

            context.Response.StatusCode = (int)HttpStatusCode.NoContent;
            context.Response.Close();
        }
    }
}
