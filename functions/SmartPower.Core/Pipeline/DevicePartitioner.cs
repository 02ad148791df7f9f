using System.Text;

namespace SmartPower.Pipeline;

/// <summary>
/// Which partition of the telemetry log a device's messages go to: a stable FNV-1a hash of the device id, so
/// each device's readings stay in order on one partition (as Event Hubs does with a partition key) and a
/// restart or another host computes the same partition.
/// </summary>
public static class DevicePartitioner
{
    public static int Of(ReadOnlySpan<byte> deviceIdUtf8, int partitions)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(partitions, 1);
        var hash = 2166136261u;
        foreach (var b in deviceIdUtf8)
        {
            hash = (hash ^ b) * 16777619u;
        }

        return (int)(hash % (uint)partitions);
    }

    public static int Of(string deviceId, int partitions)
    {
        ArgumentNullException.ThrowIfNull(deviceId);
        Span<byte> utf8 = stackalloc byte[Encoding.UTF8.GetMaxByteCount(Math.Min(deviceId.Length, 256))];
        return Of(utf8[..Encoding.UTF8.GetBytes(deviceId.AsSpan(0, Math.Min(deviceId.Length, 256)), utf8)], partitions);
    }
}
