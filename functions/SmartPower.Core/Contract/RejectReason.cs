namespace SmartPower.Contract;

/// <summary>Why a message was refused. A refused message never changes detector state.</summary>
public enum RejectReason : byte
{
    None,

    /// <summary>The payload exceeds the contract's 8 KiB.</summary>
    Oversize,

    /// <summary>The payload (or replay line) is not a JSON object.</summary>
    MalformedJson,

    /// <summary>The topic is not a contract topic: wrong prefix, segment count, id, kind or channel (path tricks land here).</summary>
    BadTopic,

    /// <summary>A device may not publish on its command topic.</summary>
    WrongDirection,

    /// <summary>The device is not in the registry.</summary>
    UnknownDevice,

    /// <summary>The topic's site is not the device's registered site.</summary>
    SiteMismatch,

    /// <summary>The topic's kind is not the device's registered kind.</summary>
    KindMismatch,

    /// <summary>A <c>deviceId</c> or <c>siteId</c> inside the payload disagrees with the topic.</summary>
    IdentityMismatch,

    /// <summary>A required field is missing.</summary>
    MissingField,

    /// <summary>A field has the wrong JSON type, a non-finite or unparseable number, or an unknown enumeration value.</summary>
    InvalidValue,

    /// <summary>A value no real installation can produce (negative power, absurd voltage, current far beyond the breaker...).</summary>
    ImpossibleValue,

    /// <summary>The timestamp is far from the stream's event time, or goes backwards for its device.</summary>
    TimestampOutOfRange,
}
