namespace SmartPower.DeviceSim.Mqtt;

/// <summary>
/// A device's reconnect schedule: waits start at <see cref="BrokerOptions.FirstBackoff"/> and double up to
/// <see cref="BrokerOptions.MaxBackoff"/>, each drawn at 0.5-1.5 times its step, so a fleet that lost its broker at
/// once does not come back at once.
/// </summary>
internal sealed class Backoff(BrokerOptions broker, string deviceId)
{
    private readonly Random _jitter = new(StringComparer.Ordinal.GetHashCode(deviceId));
    private TimeSpan _step = broker.FirstBackoff;

    /// <summary>Starts the schedule again from its first step.</summary>
    public void Restart() => _step = broker.FirstBackoff;

    /// <summary>The wait before the next attempt; the step after it doubles.</summary>
    public TimeSpan Next()
    {
        var wait = Jittered(_step);
        _step = TimeSpan.FromTicks(Math.Min(_step.Ticks * 2, broker.MaxBackoff.Ticks));
        return wait;
    }

    /// <summary>A first pause of one jittered first step, leaving the schedule where it is.</summary>
    public TimeSpan FirstPause() => Jittered(broker.FirstBackoff);

    private TimeSpan Jittered(TimeSpan step) => step * (0.5 + _jitter.NextDouble());
}
