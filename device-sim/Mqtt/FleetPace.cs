namespace SmartPower.DeviceSim.Mqtt;

/// <summary>
/// Keeps a paced live run's devices together in event time, as a real fleet sharing the wall clock is: the night is
/// generated in steps of <see cref="StepMs"/>, and step k is generated only once every live device has sent (handed
/// to its MQTT client to publish) every reading of step k - 2 and before. So no device sends a reading more than 2 x
/// <see cref="StepMs"/> (20 s) of event time ahead of the oldest reading a live device has not sent yet, however
/// compressed time is (at 480x, 60 s of event time is 125 ms of wall time; without this, a device whose connection
/// fell behind sent its backlog after the others had moved on a minute or more, and looked offline to the host).
/// A device that is not connected does not hold the fleet back (<see cref="Tickets.Offline"/>): its backlog is sent
/// when it is back, as a real device's would be. Max-rate runs are not paced: bounding what a device has sent does not
/// bound what the broker has read at saturation, and bounding what it has had acknowledged makes the run closed-loop
/// at about half the rate (docs/benchmarks.md, section 1).
/// </summary>
internal sealed class FleetPace
{
    /// <summary>Event time generated at once; the bound on how far devices run apart is twice this.</summary>
    public const long StepMs = 10_000;

    private const int Ring = 8;
    private static readonly TimeSpan Recheck = TimeSpan.FromMilliseconds(100);
    private long _heldTooLong;
    private readonly long[] _unsent = new long[Ring];
    private long _waitingFor = -1;
    private TaskCompletionSource? _signal;

    /// <summary>How long a step waits for the slowest connected device at the most.</summary>
    public static readonly TimeSpan MaxHold = TimeSpan.FromSeconds(5);

    /// <summary>Steps generated after waiting <see cref="MaxHold"/> for a device that had still not sent.</summary>
    public long HeldTooLong => Interlocked.Read(ref _heldTooLong);

    /// <summary>The step being generated: readings queued now belong to it.</summary>
    public long Current { get; private set; }

    /// <summary>True when step <paramref name="step"/> may be generated: every counted reading of step - 2 and before is sent.</summary>
    public bool Ready(long step) => step < 2 || Interlocked.Read(ref _unsent[(step - 2) % Ring]) == 0;

    /// <summary>
    /// Waits until <paramref name="step"/> may be generated, or <see cref="MaxHold"/> at the most (a device stuck
    /// without being disconnected must not stop the fleet: the others go on, as real ones would), then makes it current.
    /// </summary>
    public async Task WaitAsync(long step, CancellationToken cancellationToken)
    {
        var until = Environment.TickCount64 + (long)MaxHold.TotalMilliseconds;
        while (!Ready(step))
        {
            if (Environment.TickCount64 >= until)
            {
                Interlocked.Increment(ref _heldTooLong);
                break;
            }

            // Full fences (Interlocked), not Volatile.Write: the check below must not be read before these writes are
            // seen, or a release in between sees neither and the wait is never woken (a paced run hung so).
            var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Interlocked.Exchange(ref _signal, signal);
            Interlocked.Exchange(ref _waitingFor, step - 2);
            if (Ready(step))
            {
                break; // sent meanwhile
            }

            try
            {
                await signal.Task.WaitAsync(Recheck, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // Looked again anyway: a missed wake-up costs this long, never the run.
            }
        }

        Current = Math.Max(Current, step);
    }

    private void Count(long step) => Interlocked.Increment(ref _unsent[step % Ring]);

    private void Release(long step)
    {
        if (Interlocked.Decrement(ref _unsent[step % Ring]) == 0 && Interlocked.Read(ref _waitingFor) == step)
        {
            Interlocked.Exchange(ref _signal, null)?.TrySetResult();
        }
    }

    /// <summary>
    /// One device's readings not yet sent, in order, as the fleet's pace counts them: each queued reading counts
    /// toward the current step until it is sent, unless the device is offline (not connected), when none of its
    /// readings count (a backlog is always the oldest of a device's readings, so the uncounted ones are a prefix).
    /// </summary>
    internal sealed class Tickets(FleetPace? pace)
    {
        private readonly Queue<long> _counted = new();
        private readonly Lock _lock = new();
        private long _uncounted;
        private bool _offline;

        /// <summary>A reading was queued.</summary>
        public void Queued()
        {
            lock (_lock)
            {
                if (pace is null || _offline)
                {
                    _uncounted++;
                    return;
                }

                var step = pace.Current;
                pace.Count(step);
                _counted.Enqueue(step);
            }
        }

        /// <summary>The oldest <paramref name="readings"/> queued readings were sent (or given up on).</summary>
        public void Sent(int readings = 1)
        {
            lock (_lock)
            {
                for (var i = 0; i < readings; i++)
                {
                    if (_uncounted > 0)
                    {
                        _uncounted--;
                    }
                    else if (_counted.TryDequeue(out var step))
                    {
                        pace!.Release(step);
                    }
                }
            }
        }

        /// <summary>The device lost its connection: what it has not sent stops holding the fleet back.</summary>
        public void Offline()
        {
            lock (_lock)
            {
                _offline = true;
                while (_counted.TryDequeue(out var step))
                {
                    _uncounted++;
                    pace!.Release(step);
                }
            }
        }

        /// <summary>The device is connected again: its readings queued from now on count.</summary>
        public void Online()
        {
            lock (_lock)
            {
                _offline = false;
            }
        }
    }
}
