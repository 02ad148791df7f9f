using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace SmartPower.Pipeline.Tests;

/// <summary>One POST as the receiver got it.</summary>
internal sealed record ReceivedDelivery(string IdempotencyKey, string Timestamp, string Signature, int Attempt, string Body, DateTimeOffset ReceivedAt)
{
    public string Method { get; init; } = "POST";

    /// <summary>The status the receiver answered.</summary>
    public int Status { get; init; } = (int)HttpStatusCode.NoContent;

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
/// connection is refused) and up again on the same port. It keeps every request, duplicates included, and answers
/// 204, or as <paramref name="script"/> says (a status, and a Location for a redirect) given the request and its body.
/// </summary>
internal sealed class WebhookReceiver(int port, Func<HttpListenerRequest, string, (int Status, string? Location)>? script = null) : IAsyncDisposable
{
    private readonly List<ReceivedDelivery> _received = [];
    private HttpListener? _listener;
    private Task? _serving;

    public Uri Url { get; } = new($"http://127.0.0.1:{port}/hooks/smartpower");

    /// <summary>Another path on the same server.</summary>
    public Uri At(string path) => new($"http://127.0.0.1:{port}{path}");

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
            var (status, location) = script?.Invoke(context.Request, body) ?? ((int)HttpStatusCode.NoContent, null);
            lock (_received)
            {
                _received.Add(new ReceivedDelivery(
                    headers["X-SmartPower-Idempotency-Key"] ?? "",
                    headers["X-SmartPower-Timestamp"] ?? "",
                    headers["X-SmartPower-Signature"] ?? "",
                    int.Parse(headers["X-SmartPower-Attempt"] ?? "0", CultureInfo.InvariantCulture),
                    body,
                    DateTimeOffset.UtcNow)
                { Method = context.Request.HttpMethod, Status = status });
            }

            context.Response.StatusCode = status;
            if (location is not null)
            {
                context.Response.RedirectLocation = location;
            }

            context.Response.Close();
        }
    }
}
