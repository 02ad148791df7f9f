namespace SmartPower.Pipeline.Tests;

/// <summary>
/// A telemetry log for the bridge's tests: keeps each reading's device and seq in the order they became durable. Each
/// append takes <see cref="Latency"/> (a batch's wait and round trip on Event Hubs); the first <see cref="Failures"/>
/// appends (of <see cref="Failing"/> only, when set) throw <see cref="Fault"/> (no space left, by default); it notes the
/// most appends in flight at once, in all and for one device.
/// </summary>
internal sealed class TestLog : ITelemetryLog
{
    private readonly List<(string DeviceId, long Seq)> _durable = [];
    private readonly Dictionary<string, int> _inFlight = [];
    private int _failed;
    private int _total;

    public TimeSpan Latency { get; init; }

    public string? Failing { get; init; }

    public int Failures { get; init; }

    public Func<Exception> Fault { get; init; } = () => new IOException("No space left on device");

    public int PartitionCount => 1;

    public int MostInFlight { get; private set; }

    public int MostInFlightForOneDevice { get; private set; }

    public List<(string DeviceId, long Seq)> Durable()
    {
        lock (_durable)
        {
            return [.. _durable];
        }
    }

    public async ValueTask AppendAsync(TelemetryMessage message, CancellationToken cancellationToken)
    {
        lock (_durable)
        {
            _total++;
            _inFlight[message.DeviceId] = _inFlight.GetValueOrDefault(message.DeviceId) + 1;
            MostInFlight = Math.Max(MostInFlight, _total);
            MostInFlightForOneDevice = Math.Max(MostInFlightForOneDevice, _inFlight[message.DeviceId]);
        }

        try
        {
            if (Latency > TimeSpan.Zero)
            {
                await Task.Delay(Latency, cancellationToken);
            }

            if ((Failing is null || message.DeviceId == Failing) && Interlocked.Increment(ref _failed) <= Failures)
            {
                throw Fault();
            }

            using var json = System.Text.Json.JsonDocument.Parse(message.Payload);
            lock (_durable)
            {
                _durable.Add((message.DeviceId, json.RootElement.GetProperty("seq").GetInt64()));
            }
        }
        finally
        {
            lock (_durable)
            {
                _total--;
                _inFlight[message.DeviceId]--;
            }
        }
    }
}
