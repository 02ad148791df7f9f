using SmartPower.DeviceSim.Contract;
using SmartPower.DeviceSim.Physics;
using SmartPower.DeviceSim.Simulation;

namespace SmartPower.DeviceSim.Mqtt;

/// <summary>How a live run is paced.</summary>
public sealed record LiveRunOptions
{
    /// <summary>Simulated seconds per wall-clock second (60 = an hour a minute).</summary>
    public double Speed { get; init; } = 1;

    /// <summary>Ignore the clock: simulate and publish as fast as the broker takes it (load tests).</summary>
    public bool MaxRate { get; init; }

    /// <summary>How many devices connect at once when the run starts.</summary>
    public int ConnectConcurrency { get; init; } = 200;

    /// <summary>How long to keep publishing what is queued when the run ends.</summary>
    public TimeSpan Drain { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// Publishes a fleet's night live: every device connects with its own client, then the night is stepped with the
/// wall clock (simulated time = elapsed x speed, so readings' timestamps stay consistent at any speed) or, in
/// max-rate mode, as fast as the broker acknowledges. A pile that receives <c>stop-port</c> stops that port.
/// </summary>
internal sealed class LiveRun : IAsyncDisposable
{
    private const long MaxQueued = 100_000;

    /// <summary>
    /// Simulated time stepped at once in max-rate mode: a minute gives each device several readings to write in one
    /// go, and spreads the cost of stepping the fleet in parallel and sorting by arrival over more messages.
    /// </summary>
    private const long MaxRateSliceMs = 60_000;

    /// <summary>A max-rate run whose broker acknowledges nothing for this long gives up rather than wait forever.</summary>
    private static readonly TimeSpan StallLimit = TimeSpan.FromSeconds(60);
    private readonly NightRun _night;
    private readonly LiveRunOptions _options;
    private readonly TimeProvider _time;
    private readonly IDeviceLink[] _connections;
    private readonly List<Task> _drops = [];
    private readonly FleetPace _pace = new();

    public LiveRun(NightRun night, BrokerOptions broker, LiveRunOptions options, TimeProvider time)
    {
        _night = night;
        _options = options;
        _time = time;
        _connections = night.Devices.Select(d => options.MaxRate && !broker.Tls
            ? (IDeviceLink)new PipelinedConnection(d.Spec, broker, Stats, time, EventNow, Command(d))
            : new DeviceConnection(d.Spec, broker, Stats, time, EventNow, Command(d), new FleetPace.Tickets(options.MaxRate ? null : _pace))).ToArray();
    }

    public RunStats Stats { get; } = new();

    public long SimulatedMs => _night.SimulatedMs;

    public int IncidentsInjected => _night.IncidentsInjectedBy(_night.SimulatedMs);

    public int Devices => _connections.Length;

    /// <summary>Paced steps generated only after waiting <see cref="FleetPace.MaxHold"/> for a device that had still not sent.</summary>
    public long StepsHeldTooLong => _pace.HeldTooLong;

    /// <summary>Wall time from the start until every device was connected (its first connection).</summary>
    public TimeSpan ConnectTime { get; private set; }

    /// <summary>Wall time spent publishing, from the moment every device was connected.</summary>
    public TimeSpan Elapsed { get; private set; }

    /// <summary>Connects every device, publishes the night (or until cancelled), drains what is queued and disconnects.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        try
        {
            await Parallel.ForEachAsync(_connections, new ParallelOptions { MaxDegreeOfParallelism = _options.ConnectConcurrency, CancellationToken = cancellationToken },
                async (c, ct) => await c.StartAsync(ct).ConfigureAwait(false)).ConfigureAwait(false);
            ConnectTime = _time.GetElapsedTime(started);
            started = _time.GetTimestamp();
            while (!_night.Finished && !cancellationToken.IsCancellationRequested)
            {
                if (_options.MaxRate)
                {
                    var sent = Stats.Sent;
                    var since = _time.GetTimestamp();
                    while (Stats.Queued > MaxQueued && !cancellationToken.IsCancellationRequested)
                    {
                        await Task.Delay(TimeSpan.FromMilliseconds(2), _time, CancellationToken.None).ConfigureAwait(false);
                        if (Stats.Sent != sent)
                        {
                            (sent, since) = (Stats.Sent, _time.GetTimestamp());
                        }
                        else if (_time.GetElapsedTime(since) > StallLimit)
                        {
                            throw new IOException($"the broker acknowledged nothing for {StallLimit.TotalSeconds:N0} s with {Stats.Queued:N0} readings queued: stalled");
                        }
                    }

                    _night.Advance(_night.SimulatedMs + MaxRateSliceMs, Publish, parallel: true);
                }
                else
                {
                    var due = (long)(_time.GetElapsedTime(started).TotalMilliseconds * _options.Speed);
                    while (_night.SimulatedMs < Math.Min(due, _night.DurationMs) && !cancellationToken.IsCancellationRequested)
                    {
                        await AdvancePacedAsync(due, cancellationToken).ConfigureAwait(false);
                    }

                    await Task.Delay(TimeSpan.FromMilliseconds(50), _time, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }

        await Task.WhenAll(_drops).ConfigureAwait(false);
        await Task.WhenAll(_connections.Select(c => c.StopAsync(_options.Drain))).ConfigureAwait(false);
        Elapsed = _time.GetElapsedTime(started);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var c in _connections)
        {
            await c.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A paced run's step: simulates up to <paramref name="untilMs"/> but no further than the end of the current step
    /// of <see cref="FleetPace"/>, once the pace allows that step (every connected device has sent what it had of two
    /// steps before). A run that falls behind the wall clock catches up step by step, never a minute at once.
    /// </summary>
    private async Task AdvancePacedAsync(long untilMs, CancellationToken cancellationToken)
    {
        var step = _night.SimulatedMs / FleetPace.StepMs;
        await _pace.WaitAsync(step, cancellationToken).ConfigureAwait(false);
        _night.Advance(Math.Min(untilMs, (step + 1) * FleetPace.StepMs), Publish, parallel: false);
    }

    private DateTimeOffset EventNow() => _night.Start.AddMilliseconds(_night.SimulatedMs);

    private Action<CommandMessage> Command(DeviceBase device) => command =>
    {
        if (device is PileDevice pile && command.Command == CommandMessage.StopPort && command.Port is { } port)
        {
            pile.StopPort(port);
        }
    };

    private void Publish(SimMessage message)
    {
        var connection = _connections[message.Device];
        switch (message.Kind)
        {
            case MessageKind.Telemetry:
                connection.Enqueue(_night.TopicOf(message), message.Payload);
                break;
            case MessageKind.Drop:
                _drops.Add(connection.DropAsync(CancellationToken.None));
                break;
            default:
                break; // a live client publishes its own retained online status when it reconnects
        }
    }
}
