using SmartPower.Alerts;
using SmartPower.Registry;

namespace SmartPower.Notifications;

/// <summary>Who is told: a site's property manager, or the duty officers of a fire station.</summary>
public enum RecipientKind : byte
{
    Manager,
    FireStation,
}

/// <summary>A recipient by the registry's id (a site's <c>managerId</c> or <c>fireStation</c>).</summary>
public sealed record Recipient(RecipientKind Kind, string Id)
{
    /// <summary>The kind as written in bodies, settings and the store: <c>manager</c> or <c>fire-station</c>.</summary>
    public string KindName => NameOf(Kind);

    public static string NameOf(RecipientKind kind) => kind == RecipientKind.Manager ? "manager" : "fire-station";

    public static RecipientKind ParseKind(string text) =>
        TryParseKind(text, out var kind) ? kind : throw new FormatException($"unknown recipient kind '{text}' (expected manager or fire-station)");

    public static bool TryParseKind(string? text, out RecipientKind kind)
    {
        kind = text == "fire-station" ? RecipientKind.FireStation : RecipientKind.Manager;
        return text is "manager" or "fire-station";
    }

    public override string ToString() => $"{KindName} {Id}";
}

/// <summary>
/// Who is told of what, in one place. A <c>warning</c> goes to the site's property manager; a <c>critical</c> alert to
/// the manager and to the duty officers of the site's fire station (the contract's severity rule). Escalation can raise
/// a warning to the fire station too (<see cref="Escalation.EscalationPolicy"/> says when). A site without a manager or
/// fire station in the registry has nobody of that kind to tell.
/// </summary>
public static class NotificationRouting
{
    public static IReadOnlyList<Recipient> For(Site site, Severity severity, bool raisedToFireStation = false)
    {
        ArgumentNullException.ThrowIfNull(site);
        var recipients = new List<Recipient>(2);
        if (site.ManagerId is { Length: > 0 } manager)
        {
            recipients.Add(new Recipient(RecipientKind.Manager, manager));
        }

        if ((severity == Severity.Critical || raisedToFireStation) && site.FireStation is { Length: > 0 } station)
        {
            recipients.Add(new Recipient(RecipientKind.FireStation, station));
        }

        return recipients;
    }
}
