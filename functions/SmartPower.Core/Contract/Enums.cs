namespace SmartPower.Contract;

/// <summary>The two kinds of device in the contract: <c>meter</c> and <c>pile</c>.</summary>
public enum DeviceKind : byte
{
    Meter,
    Pile,
}

/// <summary>What a device's circuit feeds: a dwelling, a common area (corridor, stairwell, shed) or a charging pile.</summary>
public enum Circuit : byte
{
    Dwelling,
    CommonArea,
    Pile,
}

/// <summary>The state a pile reports for one of its ports.</summary>
public enum PortState : byte
{
    Idle,
    Charging,
    Full,
    Fault,
}

/// <summary>The contract's spelling of its enumerations, in one place.</summary>
public static class ContractNames
{
    public static string Of(DeviceKind kind) => kind == DeviceKind.Meter ? "meter" : "pile";

    public static string Of(Circuit circuit) => circuit switch
    {
        Circuit.Dwelling => "dwelling",
        Circuit.CommonArea => "common-area",
        _ => "pile",
    };

    public static string Of(PortState state) => state switch
    {
        PortState.Idle => "idle",
        PortState.Charging => "charging",
        PortState.Full => "full",
        _ => "fault",
    };

    public static bool TryParseKind(ReadOnlySpan<byte> utf8, out DeviceKind kind)
    {
        if (utf8.SequenceEqual("meter"u8))
        {
            kind = DeviceKind.Meter;
            return true;
        }

        kind = DeviceKind.Pile;
        return utf8.SequenceEqual("pile"u8);
    }

    public static bool TryParseKind(string? text, out DeviceKind kind)
    {
        kind = text == "pile" ? DeviceKind.Pile : DeviceKind.Meter;
        return text is "meter" or "pile";
    }

    public static bool TryParseCircuit(string? text, out Circuit circuit)
    {
        circuit = text switch
        {
            "dwelling" => Circuit.Dwelling,
            "common-area" => Circuit.CommonArea,
            _ => Circuit.Pile,
        };
        return text is "dwelling" or "common-area" or "pile";
    }

    public static bool TryParsePortState(ReadOnlySpan<byte> utf8, out PortState state)
    {
        if (utf8.SequenceEqual("idle"u8)) { state = PortState.Idle; return true; }
        if (utf8.SequenceEqual("charging"u8)) { state = PortState.Charging; return true; }
        if (utf8.SequenceEqual("full"u8)) { state = PortState.Full; return true; }
        state = PortState.Fault;
        return utf8.SequenceEqual("fault"u8);
    }
}
