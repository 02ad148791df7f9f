namespace SmartPower.Alerts;

/// <summary>The contract's alert types.</summary>
public enum AlertType : byte
{
    Overload,
    IllegalCharging,
    PortOverpower,
    Leakage,
    Overtemperature,
    ArcFault,
    Offline,
}

/// <summary><c>warning</c> goes to the property manager; <c>critical</c> also to the fire brigade duty officer.</summary>
public enum Severity : byte
{
    Warning,
    Critical,
}

/// <summary>Whether the condition behind an incident still holds.</summary>
public enum AlertState : byte
{
    Open,
    Cleared,
}

/// <summary>What happened to an incident: the events stores and notifiers consume.</summary>
public enum TransitionKind : byte
{
    Opened,
    Updated,
    Cleared,
}

/// <summary>The contract's spelling of alert enumerations.</summary>
public static class AlertNames
{
    private static readonly string[] TypeNames = ["overload", "illegal-charging", "port-overpower", "leakage", "overtemperature", "arc-fault", "offline"];

    public static IReadOnlyList<string> AllTypes => TypeNames;

    public static string Of(AlertType type) => TypeNames[(int)type];

    public static string Of(Severity severity) => severity == Severity.Critical ? "critical" : "warning";

    public static string Of(AlertState state) => state == AlertState.Open ? "open" : "cleared";

    public static string Of(TransitionKind kind) => kind switch
    {
        TransitionKind.Opened => "opened",
        TransitionKind.Updated => "updated",
        _ => "cleared",
    };

    public static bool TryParseType(string? text, out AlertType type)
    {
        var i = text is null ? -1 : Array.IndexOf(TypeNames, text);
        type = (AlertType)Math.Max(i, 0);
        return i >= 0;
    }

    public static bool TryParseSeverity(string? text, out Severity severity)
    {
        severity = text == "critical" ? Severity.Critical : Severity.Warning;
        return text is "critical" or "warning";
    }
}
