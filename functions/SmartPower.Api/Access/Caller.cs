using SmartPower.Registry;

namespace SmartPower.Api.Access;

/// <summary>What an API key may do. Each key has exactly one role.</summary>
public enum Role
{
    /// <summary>Sees the sites whose <c>managerId</c> is the key's scope.</summary>
    PropertyManager,

    /// <summary>Sees the sites whose <c>fireStation</c> is the key's scope, and that station's open critical alerts.</summary>
    DutyOfficer,

    /// <summary>Issues and revokes API keys and device tokens; sees every site.</summary>
    Admin,
}

/// <summary>The API's spelling of roles, in one place.</summary>
public static class RoleNames
{
    public static string Of(Role role) => role switch
    {
        Role.PropertyManager => "property-manager",
        Role.DutyOfficer => "duty-officer",
        _ => "admin",
    };

    public static bool TryParse(string? text, out Role role)
    {
        role = text switch
        {
            "property-manager" => Role.PropertyManager,
            "duty-officer" => Role.DutyOfficer,
            "admin" => Role.Admin,
            _ => Role.PropertyManager,
        };
        return text is "property-manager" or "duty-officer" or "admin";
    }
}

/// <summary>
/// Who is calling: the live API key that came with the request. Every decision about what a caller may see is made
/// here, so that one rule serves every endpoint: a property manager sees the sites of its <c>managerId</c>, a duty
/// officer those of its <c>fireStation</c>, an admin every site.
/// </summary>
public sealed record Caller(string KeyId, string Name, Role Role, string? Scope)
{
    public bool CanSee(Site site)
    {
        ArgumentNullException.ThrowIfNull(site);
        return Role switch
        {
            Role.Admin => true,
            Role.PropertyManager => Scope is not null && site.ManagerId == Scope,
            _ => Scope is not null && site.FireStation == Scope,
        };
    }

    /// <summary>Whether <paramref name="recipient"/> is the caller's own (admins count every one as theirs).</summary>
    public bool Is(Notifications.Recipient recipient)
    {
        ArgumentNullException.ThrowIfNull(recipient);
        return Role switch
        {
            Role.Admin => true,
            Role.PropertyManager => recipient.Kind == Notifications.RecipientKind.Manager && recipient.Id == Scope,
            _ => recipient.Kind == Notifications.RecipientKind.FireStation && recipient.Id == Scope,
        };
    }

    /// <summary>Whether the caller watches <paramref name="fireStation"/>'s district: its duty officers, and admins.</summary>
    public bool Watches(string fireStation) => Role == Role.Admin || (Role == Role.DutyOfficer && Scope == fireStation);
}
