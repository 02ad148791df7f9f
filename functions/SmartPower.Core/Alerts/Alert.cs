using System.Security.Cryptography;
using System.Text;
using SmartPower.Contract;

namespace SmartPower.Alerts;

/// <summary>
/// One incident, as the contract writes it. <see cref="OpenedAt"/> and <see cref="ClearedAt"/> are event
/// times (the <c>ts</c> of the readings that opened and cleared it), never a processing machine's clock.
/// </summary>
public sealed record Alert(
    string AlertId,
    AlertType Type,
    Severity Severity,
    string DeviceId,
    string SiteId,
    int? Port,
    DateTimeOffset OpenedAt,
    DateTimeOffset? ClearedAt,
    AlertState State,
    Evidence Evidence)
{
    /// <summary>
    /// The deterministic id of the incident of <paramref name="type"/> on a device (and port) that opened at
    /// <paramref name="openedAtMs"/>. Only one incident of a type can be open on a device and port at a time,
    /// so this key is unique, and the same telemetry always yields the same id.
    /// </summary>
    public static string IdFor(string siteId, string deviceId, AlertType type, int? port, long openedAtMs)
    {
        var key = $"{siteId}/{deviceId}/{AlertNames.Of(type)}/{port}/{openedAtMs}";
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(key), hash);
        return Convert.ToHexStringLower(hash[..12]);
    }
}

/// <summary>An incident changed: it opened, was updated (severity raised, peak grew), or cleared.</summary>
public sealed record AlertTransition(TransitionKind Kind, Alert Alert, long AtMs)
{
    public DateTimeOffset At => EventTime.ToDateTimeOffset(AtMs);
}
