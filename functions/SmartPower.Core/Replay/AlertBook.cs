using SmartPower.Alerts;
using SmartPower.Contract;
using SmartPower.Detection;

namespace SmartPower.Replay;

/// <summary>
/// The final state of every incident seen, keyed by alert id: what replay writes. Because ids are
/// deterministic, applying the same transitions twice leaves the book unchanged.
/// </summary>
public sealed class AlertBook : IDetectionSink
{
    private readonly Dictionary<string, Alert> _alerts = new(StringComparer.Ordinal);

    public int TransitionCount { get; private set; }

    public List<DeviceCommand> Commands { get; } = [];

    public IReadOnlyCollection<Alert> Alerts => _alerts.Values;

    public void OnTransition(AlertTransition transition)
    {
        TransitionCount++;
        _alerts[transition.Alert.AlertId] = transition.Alert;
    }

    public void OnCommand(DeviceCommand command) => Commands.Add(command);

    /// <summary>Alerts in a stable order: by opening time, then id.</summary>
    public IEnumerable<Alert> Ordered() => _alerts.Values.OrderBy(a => a.OpenedAt).ThenBy(a => a.AlertId, StringComparer.Ordinal);
}
