using SmartPower.Alerts;
using SmartPower.Contract;

namespace SmartPower.Detection;

/// <summary>
/// Where the engine's output goes: alert transitions (to a store and notifiers) and device commands
/// (to the command topic). Called synchronously, in event order, from the thread that calls the engine.
/// </summary>
public interface IDetectionSink
{
    void OnTransition(AlertTransition transition);

    void OnCommand(DeviceCommand command);
}

/// <summary>A sink that keeps everything in memory, for replay and tests.</summary>
public sealed class CollectingSink : IDetectionSink
{
    public List<AlertTransition> Transitions { get; } = [];

    public List<DeviceCommand> Commands { get; } = [];

    public void OnTransition(AlertTransition transition) => Transitions.Add(transition);

    public void OnCommand(DeviceCommand command) => Commands.Add(command);
}
