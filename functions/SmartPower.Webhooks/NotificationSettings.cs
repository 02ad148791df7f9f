using System.Text.Json;
using SmartPower.Escalation;
using SmartPower.Notifications;

namespace SmartPower.Webhooks;

/// <summary>Where one recipient's notifications are posted, and the secret they are signed with.</summary>
public sealed record WebhookEndpoint(RecipientKind Kind, string Id, Uri Url, string Secret)
{
    /// <summary>An endpoint whose <see cref="Id"/> is this takes every recipient of its kind that has no endpoint of its own.</summary>
    public const string AnyId = "*";
}

/// <summary>The configured webhooks, looked up by recipient: its own endpoint, else its kind's <c>*</c> endpoint.</summary>
public sealed class WebhookEndpoints
{
    private readonly Dictionary<(RecipientKind, string), WebhookEndpoint> _byRecipient = [];

    public WebhookEndpoints(IEnumerable<WebhookEndpoint> endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        foreach (var endpoint in endpoints)
        {
            if (!_byRecipient.TryAdd((endpoint.Kind, endpoint.Id), endpoint))
            {
                throw new NotificationSettingsException($"two webhooks for {Recipient.NameOf(endpoint.Kind)} '{endpoint.Id}'");
            }
        }
    }

    public static WebhookEndpoints None { get; } = new([]);

    public int Count => _byRecipient.Count;

    public bool TryFind(Recipient recipient, out WebhookEndpoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(recipient);
        return _byRecipient.TryGetValue((recipient.Kind, recipient.Id), out endpoint!)
            || _byRecipient.TryGetValue((recipient.Kind, WebhookEndpoint.AnyId), out endpoint!);
    }
}

/// <summary>
/// Notifications and escalation as configured: the file given to <c>serve --notifications FILE</c>. Every section is
/// optional; what is left out takes its default. Times carry their unit in the name; fractions are allowed.
/// <code>
/// {"webhooks":[{"recipient":"manager","id":"pm-greenleaf","url":"https://pm.example/smartpower","secret":"at least 16 characters"},
///              {"recipient":"fire-station","id":"*","url":"https://dispatch.example/hook","secret":"..."}],
///  "retry":{"firstDelayS":2,"maxDelayS":60,"giveUpAfterH":24},
///  "escalation":{"acknowledgeWithinMin":15,"reAlarmCriticalAfterMin":30,"reAlarmWarningAfterMin":60}}
/// </code>
/// </summary>
public sealed record NotificationSettings(WebhookEndpoints Webhooks, DeliveryRetry Retry, EscalationOptions Escalation)
{
    public const int MinSecretLength = 16;

    public static NotificationSettings Default { get; } = new(WebhookEndpoints.None, DeliveryRetry.Default, EscalationOptions.Default);

    public static NotificationSettings Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new NotificationSettingsException($"notifications file '{path}' does not exist");
        }

        return Parse(File.ReadAllText(path));
    }

    /// <summary>Reads the settings; throws <see cref="NotificationSettingsException"/> naming the entry and field at fault.</summary>
    public static NotificationSettings Parse(string json)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new NotificationSettingsException($"not JSON: {e.Message}", e);
        }

        using (document)
        {
            var root = Object(document.RootElement, "the settings");
            Only(root, "the settings", "webhooks", "retry", "escalation");
            var webhooks = new List<WebhookEndpoint>();
            if (root.TryGetProperty("webhooks", out var list))
            {
                if (list.ValueKind != JsonValueKind.Array)
                {
                    throw new NotificationSettingsException("'webhooks' must be an array");
                }

                foreach (var item in list.EnumerateArray())
                {
                    webhooks.Add(Endpoint(item, $"webhooks[{webhooks.Count}]"));
                }
            }

            var r = new Section(root, "retry", "firstDelayS", "maxDelayS", "giveUpAfterH");
            var retry = new DeliveryRetry
            {
                FirstDelay = r.Duration("firstDelayS", TimeSpan.FromSeconds, DeliveryRetry.Default.FirstDelay),
                MaxDelay = r.Duration("maxDelayS", TimeSpan.FromSeconds, DeliveryRetry.Default.MaxDelay),
                GiveUpAfter = r.Duration("giveUpAfterH", TimeSpan.FromHours, DeliveryRetry.Default.GiveUpAfter),
            };
            var e = new Section(root, "escalation", "acknowledgeWithinMin", "reAlarmCriticalAfterMin", "reAlarmWarningAfterMin");
            var escalation = new EscalationOptions
            {
                AcknowledgeWithin = e.Duration("acknowledgeWithinMin", TimeSpan.FromMinutes, EscalationOptions.Default.AcknowledgeWithin),
                ReAlarmCriticalAfter = e.Duration("reAlarmCriticalAfterMin", TimeSpan.FromMinutes, EscalationOptions.Default.ReAlarmCriticalAfter),
                ReAlarmWarningAfter = e.Duration("reAlarmWarningAfterMin", TimeSpan.FromMinutes, EscalationOptions.Default.ReAlarmWarningAfter),
            };
            return new NotificationSettings(new WebhookEndpoints(webhooks), retry, escalation);
        }
    }

    private static WebhookEndpoint Endpoint(JsonElement item, string where)
    {
        Only(Object(item, where), where, "recipient", "id", "url", "secret");
        string Text(string name) => item.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.String && p.GetString() is { Length: > 0 } s
            ? s
            : throw new NotificationSettingsException($"{where}: '{name}' is missing or not a non-empty string");
        if (!Recipient.TryParseKind(Text("recipient"), out var kind))
        {
            throw new NotificationSettingsException($"{where}: 'recipient' must be \"manager\" or \"fire-station\", not \"{Text("recipient")}\"");
        }

        if (!Uri.TryCreate(Text("url"), UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
        {
            throw new NotificationSettingsException($"{where}: 'url' must be an absolute http or https URL");
        }

        var secret = Text("secret");
        if (secret.Length < MinSecretLength)
        {
            throw new NotificationSettingsException($"{where}: 'secret' must be at least {MinSecretLength} characters");
        }

        return new WebhookEndpoint(kind, Text("id"), url, secret);
    }

    private static JsonElement Object(JsonElement element, string where) => element.ValueKind == JsonValueKind.Object
        ? element
        : throw new NotificationSettingsException($"{where} must be a JSON object");

    private static void Only(JsonElement element, string where, params string[] names)
    {
        foreach (var property in element.EnumerateObject())
        {
            if (Array.IndexOf(names, property.Name) < 0)
            {
                throw new NotificationSettingsException($"{where}: unknown field '{property.Name}' (expected {string.Join(", ", names)})");
            }
        }
    }

    /// <summary>An optional section of durations: a field left out (or the whole section) takes its default.</summary>
    private readonly struct Section
    {
        private readonly JsonElement _element;
        private readonly string _name;

        public Section(JsonElement root, string name, params string[] fields)
        {
            _name = name;
            if (root.TryGetProperty(name, out _element))
            {
                Only(Object(_element, name), name, fields);
            }
        }

        public TimeSpan Duration(string field, Func<double, TimeSpan> unit, TimeSpan fallback)
        {
            if (_element.ValueKind != JsonValueKind.Object || !_element.TryGetProperty(field, out var value))
            {
                return fallback;
            }

            return value.ValueKind == JsonValueKind.Number && value.GetDouble() is var n && n > 0 && double.IsFinite(n)
                ? unit(n)
                : throw new NotificationSettingsException($"{_name}: '{field}' must be a positive number");
        }
    }
}

/// <summary>A notifications file that cannot be used, with the entry and field at fault.</summary>
public sealed class NotificationSettingsException : Exception
{
    public NotificationSettingsException(string message)
        : base(message)
    {
    }

    public NotificationSettingsException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
