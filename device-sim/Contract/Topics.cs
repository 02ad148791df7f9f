namespace SmartPower.DeviceSim.Contract;

/// <summary>The contract's MQTT topics: <c>smartpower/v1/{siteId}/{kind}/{deviceId}/{telemetry|status|command}</c>.</summary>
internal static class Topics
{
    public static string Telemetry(DeviceSpec device) => Of(device, "telemetry");

    public static string Status(DeviceSpec device) => Of(device, "status");

    public static string Command(DeviceSpec device) => Of(device, "command");

    private static string Of(DeviceSpec device, string channel) =>
        $"smartpower/v1/{device.SiteId}/{(device.Kind == DeviceKind.Pile ? "pile" : "meter")}/{device.DeviceId}/{channel}";
}
