namespace SmartPower.Contract;

/// <summary>The channel a topic names: what a device publishes, or what the cloud sends down.</summary>
public enum TopicChannel : byte
{
    Telemetry,
    Status,
    Command,
}

/// <summary>
/// A parsed contract topic, <c>smartpower/v1/{siteId}/{kind}/{deviceId}/{channel}</c>.
/// Parsing is exact: six segments, the literal prefix, valid ids, a known kind and channel.
/// The spans point into the caller's buffer.
/// </summary>
public readonly ref struct Topic
{
    public const string Prefix = "smartpower/v1/";

    private Topic(ReadOnlySpan<byte> siteId, DeviceKind kind, ReadOnlySpan<byte> deviceId, TopicChannel channel)
    {
        SiteId = siteId;
        Kind = kind;
        DeviceId = deviceId;
        Channel = channel;
    }

    public ReadOnlySpan<byte> SiteId { get; }

    public DeviceKind Kind { get; }

    public ReadOnlySpan<byte> DeviceId { get; }

    public TopicChannel Channel { get; }

    public static bool TryParse(ReadOnlySpan<byte> topic, out Topic parsed)
    {
        parsed = default;
        if (!topic.StartsWith("smartpower/v1/"u8))
        {
            return false;
        }

        var rest = topic["smartpower/v1/"u8.Length..];
        var a = rest.IndexOf((byte)'/');
        var b = a < 0 ? -1 : rest[(a + 1)..].IndexOf((byte)'/') + a + 1;
        var c = b <= a ? -1 : rest[(b + 1)..].IndexOf((byte)'/') + b + 1;
        if (a < 0 || b <= a || c <= b || rest[(c + 1)..].IndexOf((byte)'/') >= 0)
        {
            return false; // too few segments, or extra ones (a trailing slash, a path trick)
        }

        var site = rest[..a];
        var kindText = rest[(a + 1)..b];
        var device = rest[(b + 1)..c];
        var channelText = rest[(c + 1)..];
        if (!Ids.IsValid(site) || !Ids.IsValid(device) || !ContractNames.TryParseKind(kindText, out var kind))
        {
            return false;
        }

        TopicChannel channel;
        if (channelText.SequenceEqual("telemetry"u8))
        {
            channel = TopicChannel.Telemetry;
        }
        else if (channelText.SequenceEqual("status"u8))
        {
            channel = TopicChannel.Status;
        }
        else if (channelText.SequenceEqual("command"u8))
        {
            channel = TopicChannel.Command;
        }
        else
        {
            return false;
        }

        parsed = new Topic(site, kind, device, channel);
        return true;
    }

    /// <summary>The topic string for one device and channel.</summary>
    public static string For(string siteId, DeviceKind kind, string deviceId, TopicChannel channel) =>
        $"{Prefix}{siteId}/{ContractNames.Of(kind)}/{deviceId}/{channel switch
        {
            TopicChannel.Telemetry => "telemetry",
            TopicChannel.Status => "status",
            _ => "command",
        }}";
}
