using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using SmartPower.Alerts;
using SmartPower.Contract;
using SmartPower.Registry;

namespace SmartPower.Notifications;

/// <summary>
/// One message to one recipient about one step in an alert's history (an engine transition such as <c>opened</c>, or
/// an escalation step such as <c>escalated</c>). <see cref="NotificationId"/> is deterministic, so a replayed batch or
/// a repeated escalation check yields the same id and the outbox keeps one row; it travels as the idempotency key, so a
/// receiver can drop a duplicate delivery. The <see cref="Body"/> is fixed when the notification is made, so every
/// retry sends the same bytes.
/// </summary>
public sealed record Notification(string NotificationId, string AlertId, string Kind, DateTimeOffset At, Recipient Recipient, string Body)
{
    /// <summary>The notifications of the engine's transitions, each to whom <see cref="NotificationRouting"/> names for the alert's severity.</summary>
    public static IReadOnlyList<Notification> ForTransitions(IReadOnlyList<AlertTransition> transitions, DeviceRegistry registry)
    {
        ArgumentNullException.ThrowIfNull(transitions);
        if (transitions.Count == 0)
        {
            return [];
        }

        var notifications = new List<Notification>(transitions.Count * 2);
        foreach (var t in transitions)
        {
            notifications.AddRange(For(t.Alert, AlertNames.Of(t.Kind), t.At, reason: null, raisedToFireStation: false, registry));
        }

        return notifications;
    }

    /// <summary>
    /// The notifications of one step in <paramref name="alert"/>'s history at <paramref name="at"/> (event time for the
    /// engine's transitions, wall-clock time for escalation steps), one per recipient.
    /// </summary>
    public static IReadOnlyList<Notification> For(Alert alert, string kind, DateTimeOffset at, string? reason, bool raisedToFireStation, DeviceRegistry registry)
    {
        ArgumentNullException.ThrowIfNull(alert);
        ArgumentNullException.ThrowIfNull(registry);
        if (!registry.TryGetSite(alert.SiteId, out var site))
        {
            return []; // a site no longer in the registry has nobody to tell
        }

        var device = registry.TryGetDevice(alert.DeviceId, out var d) ? d : null;
        var recipients = NotificationRouting.For(site, alert.Severity, raisedToFireStation);
        var notifications = new Notification[recipients.Count];
        for (var i = 0; i < recipients.Count; i++)
        {
            var id = IdFor(alert.AlertId, kind, at.ToUnixTimeMilliseconds(), recipients[i]);
            notifications[i] = new Notification(id, alert.AlertId, kind, at, recipients[i], WriteBody(id, recipients[i], alert, kind, at, reason, site, device));
        }

        return notifications;
    }

    /// <summary>The idempotency key: a hash of the alert, the step's kind and time, and the recipient (32 hex digits).</summary>
    public static string IdFor(string alertId, string kind, long atMs, Recipient recipient)
    {
        ArgumentNullException.ThrowIfNull(recipient);
        var key = $"{alertId}/{kind}/{atMs}/{recipient.KindName}/{recipient.Id}";
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(key), hash);
        return Convert.ToHexStringLower(hash[..16]);
    }

    /// <summary>
    /// The JSON a receiver gets: the notification's id and recipient, the step (<c>transition</c>: kind, time, reason),
    /// the alert in the contract's format, and where it is (site and device location), so that a duty officer can
    /// dispatch from the message alone.
    /// </summary>
    private static string WriteBody(string id, Recipient recipient, Alert alert, string kind, DateTimeOffset at, string? reason, Site site, Device? device)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("notificationId"u8, id);
            w.WriteStartObject("recipient"u8);
            w.WriteString("kind"u8, recipient.KindName);
            w.WriteString("id"u8, recipient.Id);
            w.WriteEndObject();
            w.WriteStartObject("transition"u8);
            w.WriteString("kind"u8, kind);
            w.WriteString("at"u8, EventTime.Format(at));
            WriteOptional(w, "reason"u8, reason);
            w.WriteEndObject();
            w.WritePropertyName("alert"u8);
            AlertJson.Write(w, alert);
            w.WriteStartObject("site"u8);
            w.WriteString("siteId"u8, site.SiteId);
            w.WriteString("name"u8, site.Name);
            WriteOptional(w, "address"u8, site.Address);
            WriteOptional(w, "fireStation"u8, site.FireStation);
            WriteOptional(w, "managerId"u8, site.ManagerId);
            if (site.Lat is { } lat && site.Lon is { } lon)
            {
                w.WriteNumber("lat"u8, lat);
                w.WriteNumber("lon"u8, lon);
            }

            w.WriteEndObject();
            if (device?.Location is { } location)
            {
                w.WriteStartObject("location"u8);
                WriteOptional(w, "building"u8, location.Building);
                WriteOptional(w, "unit"u8, location.Unit);
                if (location.Floor is { } floor)
                {
                    w.WriteNumber("floor"u8, floor);
                }
                else
                {
                    w.WriteNull("floor"u8);
                }

                WriteOptional(w, "room"u8, location.Room);
                w.WriteString("description"u8, location.Describe());
                w.WriteEndObject();
            }
            else
            {
                w.WriteNull("location"u8);
            }

            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void WriteOptional(Utf8JsonWriter w, ReadOnlySpan<byte> name, string? value)
    {
        if (value is null)
        {
            w.WriteNull(name);
        }
        else
        {
            w.WriteString(name, value);
        }
    }
}
