namespace SmartPower.DeviceSim.Mqtt;

/// <summary>Counters of a live run, updated from any thread.</summary>
public sealed class RunStats
{
    private long _sent;
    private long _failed;
    private long _connectionErrors;
    private long _connects;
    private long _connected;
    private long _commands;
    private long _queued;
    private string? _lastConnectionError;

    /// <summary>Messages the broker acknowledged (QoS 1 PUBACK).</summary>
    public long Sent => Interlocked.Read(ref _sent);

    /// <summary>Messages given up on (the run ended or the broker refused them).</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Failed connection attempts and lost connections.</summary>
    public long ConnectionErrors => Interlocked.Read(ref _connectionErrors);

    /// <summary>Why the latest failed connection attempt failed (device and reason), or null if none has.</summary>
    public string? LastConnectionError => Volatile.Read(ref _lastConnectionError);

    /// <summary>Successful connections, first ones and reconnections.</summary>
    public long Connects => Interlocked.Read(ref _connects);

    /// <summary>Devices connected now.</summary>
    public long Connected => Interlocked.Read(ref _connected);

    /// <summary>Commands received on devices' command topics.</summary>
    public long Commands => Interlocked.Read(ref _commands);

    /// <summary>Messages waiting to be published.</summary>
    public long Queued => Interlocked.Read(ref _queued);

    internal void OnSent() => Interlocked.Increment(ref _sent);

    internal void OnFailed() => Interlocked.Increment(ref _failed);

    internal void OnConnectionError() => Interlocked.Increment(ref _connectionErrors);

    /// <summary>A connection attempt that failed, and why (shown on the progress display).</summary>
    internal void OnConnectFailed(string deviceId, Exception error)
    {
        Volatile.Write(ref _lastConnectionError, $"{deviceId}: {error.GetBaseException().Message}");
        OnConnectionError();
    }

    internal void OnConnected()
    {
        Interlocked.Increment(ref _connects);
        Interlocked.Increment(ref _connected);
    }

    internal void OnDisconnected() => Interlocked.Decrement(ref _connected);

    internal void OnCommand() => Interlocked.Increment(ref _commands);

    internal void OnQueued() => Interlocked.Increment(ref _queued);

    internal void OnDequeued() => Interlocked.Decrement(ref _queued);
}
