namespace SmartPower.Contract;

/// <summary>
/// The contract's identifier rule, <c>^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$</c>, checked without a regex.
/// It is what keeps topic path tricks (<c>..</c>, <c>+</c>, <c>#</c>, empty or encoded segments) out.
/// </summary>
public static class Ids
{
    public const int MaxLength = 64;

    public static bool IsValid(ReadOnlySpan<byte> utf8)
    {
        if (utf8.IsEmpty || utf8.Length > MaxLength || !IsAlphanumeric(utf8[0]))
        {
            return false;
        }

        foreach (var b in utf8[1..])
        {
            if (!IsAlphanumeric(b) && b != '_' && b != '.' && b != '-')
            {
                return false;
            }
        }

        return true;
    }

    public static bool IsValid(string? id)
    {
        if (string.IsNullOrEmpty(id) || id.Length > MaxLength || !IsAlphanumeric(id[0]))
        {
            return false;
        }

        foreach (var c in id.AsSpan(1))
        {
            if (!IsAlphanumeric(c) && c != '_' && c != '.' && c != '-')
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsAlphanumeric(int c) => c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9');
}
