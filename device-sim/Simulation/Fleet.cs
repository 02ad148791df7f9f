using SmartPower.DeviceSim.Contract;
using SmartPower.DeviceSim.Physics;

namespace SmartPower.DeviceSim.Simulation;

/// <summary>The devices of a registry, built with their appliances and planned hazards, in registry order.</summary>
internal sealed class Fleet(Scenario scenario, RegistryFile registry, IReadOnlyList<DeviceBase> devices)
{
    public Scenario Scenario => scenario;

    public RegistryFile Registry => registry;

    public IReadOnlyList<DeviceBase> Devices => devices;
}

public enum MessageKind
{
    /// <summary>A reading on the device's telemetry topic.</summary>
    Telemetry,

    /// <summary>A status message (retained) on the device's status topic.</summary>
    Status,

    /// <summary>
    /// The device's connection drops without a goodbye: in a file, the broker's Last Will (status offline); live, the
    /// client aborts its connection and reconnects with backoff.
    /// </summary>
    Drop,
}

/// <summary>One MQTT message of the run, in arrival order: due at <see cref="AtMs"/> after the start, from device <see cref="Device"/> (its rank).</summary>
public readonly record struct SimMessage(long AtMs, int Device, MessageKind Kind, string Payload);
