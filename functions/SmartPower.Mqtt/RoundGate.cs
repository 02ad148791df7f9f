namespace SmartPower.Mqtt;

/// <summary>
/// Lets many devices' messages be appended at once while the log stays close to the order the broker delivered them
/// in: a message may start once every message received up to and including its device's previous one is done. So a
/// device's messages are appended one after another, in order (a failed one is tried again before the next), and no
/// device gets more than one message (a reporting round) ahead of another, however long the log takes and however far
/// behind the broker's queue is. Without that bound a device whose appends were slow fell minutes of event time behind
/// the others while a backlog was read, and the engine called it offline. Thread-safe.
/// </summary>
internal sealed class RoundGate
{
    /// <summary>Devices remembered before those whose last message is done are forgotten (topics from a broker without an ACL).</summary>
    private const int MaxRemembered = 100_000;

    private readonly object _lock = new();
    private readonly Dictionary<string, long> _last = new(StringComparer.Ordinal);
    private readonly SortedSet<long> _open = [];
    private readonly PriorityQueue<TaskCompletionSource, long> _waiting = new();
    private long _received;

    /// <summary>
    /// A message of <paramref name="device"/> was received: its number (to pass to <see cref="Done"/>) and a task that
    /// completes when it may start.
    /// </summary>
    public (long Number, Task Turn) Received(string device)
    {
        lock (_lock)
        {
            var number = ++_received;
            _open.Add(number);
            if (_last.Count >= MaxRemembered)
            {
                foreach (var (key, last) in _last.ToArray())
                {
                    if (AllDoneThrough(last))
                    {
                        _last.Remove(key);
                    }
                }
            }

            var after = _last.GetValueOrDefault(device);
            _last[device] = number;
            if (AllDoneThrough(after))
            {
                return (number, Task.CompletedTask);
            }

            var turn = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiting.Enqueue(turn, after);
            return (number, turn.Task);
        }
    }

    /// <summary>The message is done with (appended, refused, or given up at a stop): the messages waiting on it may start.</summary>
    public void Done(long number)
    {
        lock (_lock)
        {
            _open.Remove(number);
            while (_waiting.TryPeek(out var turn, out var after) && AllDoneThrough(after))
            {
                _waiting.Dequeue();
                turn.SetResult();
            }
        }
    }

    private bool AllDoneThrough(long number) => _open.Count == 0 || _open.Min > number;
}
