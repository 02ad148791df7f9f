using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using SmartPower.Notifications;

namespace SmartPower.Webhooks;

/// <summary>
/// Posts a notification's JSON body to its recipient's webhook, signed (<see cref="WebhookSignature"/>) and carrying
/// its idempotency key. A 2xx answer is a delivery; any other answer, a refused connection or a timeout is a failure
/// that the dispatcher retries. So is a recipient with no webhook configured: a configuration not there yet (a Key Vault
/// reference not resolved at start, a host started without its notifications file) must not make a fire station's
/// notification of a critical alert undeliverable for good; it goes once the webhook is configured.
/// A redirect is a failure too, never followed: following one turned the POST into a GET whose 200 was recorded as a
/// delivery (301, 302, 303), or re-posted the signed body to whatever origin the answer named (307, 308), and the
/// fire station never got it (found in review). The <see cref="HttpClient"/> belongs to the caller; make it with
/// <see cref="CreateHttpClient"/>.
/// </summary>
public sealed class WebhookNotifier(HttpClient http, WebhookEndpoints endpoints, TimeProvider? time = null) : INotifier
{
    private static readonly MediaTypeHeaderValue Json = new("application/json") { CharSet = "utf-8" };
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>The client webhooks are posted with: redirects not followed, connections renewed every few minutes (DNS changes).</summary>
    public static HttpClient CreateHttpClient(TimeSpan timeout) => new(new SocketsHttpHandler
    {
        AllowAutoRedirect = false,
        ConnectTimeout = TimeSpan.FromSeconds(5),
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
    })
    {
        Timeout = timeout,
    };

    public async Task<DeliveryResult> SendAsync(PendingNotification notification, int attempt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(notification);
        if (!endpoints.TryFind(notification.Recipient, out var endpoint))
        {
            return DeliveryResult.Failure(null, $"no webhook is configured for {notification.Recipient}");
        }

        var body = Encoding.UTF8.GetBytes(notification.Body);
        var timestamp = _time.GetUtcNow().ToUnixTimeSeconds();
        using var request = new HttpRequestMessage(HttpMethod.Post, endpoint.Url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = Json;
        request.Headers.Add(WebhookHeaders.Timestamp, timestamp.ToString(CultureInfo.InvariantCulture));
        request.Headers.Add(WebhookHeaders.Signature, WebhookSignature.Sign(endpoint.Secret, timestamp, body));
        request.Headers.Add(WebhookHeaders.IdempotencyKey, notification.NotificationId);
        request.Headers.Add(WebhookHeaders.Attempt, attempt.ToString(CultureInfo.InvariantCulture));
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            if (response.RequestMessage?.RequestUri is { } answered && answered != endpoint.Url)
            {
                // A client that follows redirects anyway: the 2xx is not the configured receiver's.
                return DeliveryResult.Failure(status, $"redirected to {answered.GetLeftPart(UriPartial.Path)}: not delivered");
            }

            return response.IsSuccessStatusCode
                ? DeliveryResult.Success(status)
                : DeliveryResult.Failure(status, $"{status} {response.ReasonPhrase}".TrimEnd());
        }
        catch (HttpRequestException e)
        {
            return DeliveryResult.Failure(null, e.Message);
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return DeliveryResult.Failure(null, $"no answer within {http.Timeout.TotalSeconds:0.#} s");
        }
    }
}
