using System.Text;
using SmartPower.Alerts;
using SmartPower.Contract;
using SmartPower.Pipeline;
using SmartPower.Registry;

namespace SmartPower.Api;

/// <summary>How stored alerts and devices become what the API serves, with the registry's names and places.</summary>
public sealed partial class StatusApi
{
    private static SiteView SiteView(Site site) => new(site.SiteId, site.Name, site.Address, site.FireStation, site.ManagerId, site.TimeZone);

    private AlertView AlertView(StoredAlert stored)
    {
        var a = stored.Alert;
        return new AlertView(
            a.AlertId,
            AlertNames.Of(a.Type),
            AlertNames.Of(a.Severity),
            a.DeviceId,
            a.SiteId,
            a.Port,
            a.OpenedAt,
            a.ClearedAt,
            AlertNames.Of(a.State),
            Evidence(a.Evidence),
            stored.StoredAt,
            stored.AcknowledgedAt is { } ackAt ? new HumanActView(ackAt, stored.AcknowledgedBy ?? "") : null,
            stored.ResolvedAt is { } resolvedAt ? new HumanActView(resolvedAt, stored.ResolvedBy ?? "") : null,
            _registry.TryGetSite(a.SiteId, out var site) ? new PlaceView(site.Name, site.Address, site.FireStation) : null,
            _registry.TryGetDevice(a.DeviceId, out var device) ? device.Location : null);
    }

    private static HistoryEntryView HistoryEntryView(StoredTransition t) =>
        new(t.Kind, t.At, t.StoredAt, AlertNames.Of(t.Alert.Severity), AlertNames.Of(t.Alert.State), Evidence(t.Alert.Evidence), t.Actor, t.Note);

    private static Dictionary<string, double> Evidence(Evidence evidence)
    {
        var items = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var item in evidence.Items)
        {
            items.TryAdd(item.Name, item.Value);
        }

        return items;
    }

    /// <summary>
    /// A device is online when its last word (a reading, or its status message or Last Will) says so and no
    /// <c>offline</c> alert is open on it; a device never heard from is offline.
    /// </summary>
    private static DeviceView DeviceView(Device device, StoredDevice? heard, IReadOnlyCollection<StoredAlert> open)
    {
        var reading = heard?.ReadingJson is { } json ? ReadingView(device, json) : null;
        var online = heard?.Online == true && !open.Any(a => a.Alert.Type == AlertType.Offline);
        double? load = device.RatedCurrentA is > 0 && reading?.CurrentA is { } current ? Math.Round(current / device.RatedCurrentA.Value, 3) : null;
        int? charging = reading?.Ports?.Count(p => p.State == ContractNames.Of(PortState.Charging));
        return new DeviceView(
            device.DeviceId,
            device.SiteId,
            ContractNames.Of(device.Kind),
            ContractNames.Of(device.Circuit),
            device.Location,
            online,
            heard?.HeardAt,
            reading,
            device.RatedCurrentA,
            load,
            device.PortCount,
            charging,
            [.. open.Select(a => a.Alert.AlertId)]);
    }

    /// <summary>The stored payload read by the contract's own parser (it was accepted once, so it reads again).</summary>
    private static ReadingView? ReadingView(Device device, string json)
    {
        if (ReadingParser.TryParseReading(Encoding.UTF8.GetBytes(json), device, ReadingLimits.Default, out var r).IsFailure)
        {
            return null;
        }

        var meter = device.Kind == DeviceKind.Meter;
        return new ReadingView(
            r.Timestamp,
            r.Seq,
            r.VoltageV,
            meter ? r.CurrentA : null,
            meter ? r.PowerW : null,
            r.LeakageMa,
            r.TempC,
            r.ArcFault,
            r.Ports?.Select(p => new PortView(p.Port, ContractNames.Of(p.State), p.PowerW)).ToList());
    }
}
