namespace SmartPower.Detection;

/// <summary>
/// Saved detector state that cannot be restored: not a SmartPower state blob, a version this build does not read,
/// truncated, corrupted (its checksum does not match) or inconsistent. Nothing is restored when it is thrown.
/// </summary>
public sealed class StateFormatException : FormatException
{
    public StateFormatException(string message)
        : base(message)
    {
    }

    public StateFormatException(string message, Exception inner)
        : base(message, inner)
    {
    }

    public StateFormatException()
    {
    }

    internal static StateFormatException Truncated() => new("the state ends in the middle of a record (truncated)");
}
