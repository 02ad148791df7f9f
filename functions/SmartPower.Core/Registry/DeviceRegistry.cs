using System.Text;
using SmartPower.Contract;

namespace SmartPower.Registry;

/// <summary>
/// What the pipeline knows about each device beyond its telemetry. Immutable once built; lookups by
/// id take the UTF-8 bytes straight from an MQTT topic without allocating.
/// </summary>
public sealed class DeviceRegistry
{
    private readonly Dictionary<string, Site> _sites;
    private readonly Dictionary<string, Device> _devices;
    private readonly Dictionary<string, Device>.AlternateLookup<ReadOnlySpan<char>> _deviceBySpan;
    private readonly Device[] _byIndex;

    public DeviceRegistry(IEnumerable<Site> sites, IEnumerable<Device> devices)
    {
        _sites = new Dictionary<string, Site>(StringComparer.Ordinal);
        foreach (var site in sites)
        {
            if (!_sites.TryAdd(site.SiteId, site))
            {
                throw new RegistryException($"site '{site.SiteId}' is listed twice");
            }
        }

        _devices = new Dictionary<string, Device>(StringComparer.Ordinal);
        var list = new List<Device>();
        foreach (var device in devices)
        {
            if (!_sites.ContainsKey(device.SiteId))
            {
                throw new RegistryException($"device '{device.DeviceId}' names unknown site '{device.SiteId}'");
            }

            var indexed = device with { Index = list.Count, SiteIdUtf8 = Encoding.UTF8.GetBytes(device.SiteId) };
            if (!_devices.TryAdd(device.DeviceId, indexed))
            {
                throw new RegistryException($"device '{device.DeviceId}' is listed twice");
            }

            list.Add(indexed);
        }

        _byIndex = [.. list];
        _deviceBySpan = _devices.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public IReadOnlyCollection<Site> Sites => _sites.Values;

    public IReadOnlyList<Device> Devices => _byIndex;

    public int DeviceCount => _byIndex.Length;

    public Site GetSite(string siteId) => _sites[siteId];

    public bool TryGetSite(string siteId, out Site site) => _sites.TryGetValue(siteId, out site!);

    public bool TryGetDevice(string deviceId, out Device device) => _devices.TryGetValue(deviceId, out device!);

    /// <summary>Looks a device up by the UTF-8 id taken from a topic (already checked against the id rule, so ASCII).</summary>
    public bool TryGetDevice(ReadOnlySpan<byte> deviceIdUtf8, out Device device)
    {
        Span<char> chars = stackalloc char[Ids.MaxLength];
        var n = Encoding.ASCII.GetChars(deviceIdUtf8, chars);
        return _deviceBySpan.TryGetValue(chars[..n], out device!);
    }
}

/// <summary>A registry that cannot be used, with the reason and where.</summary>
public sealed class RegistryException : Exception
{
    public RegistryException(string message)
        : base(message)
    {
    }

    public RegistryException(string message, Exception inner)
        : base(message, inner)
    {
    }

    public RegistryException()
    {
    }
}
