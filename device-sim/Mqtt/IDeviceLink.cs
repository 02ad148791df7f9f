namespace SmartPower.DeviceSim.Mqtt;

/// <summary>One device's connection to the broker, as a live run drives it.</summary>
internal interface IDeviceLink : IAsyncDisposable
{
    /// <summary>Connects (retrying with backoff) and starts publishing what is queued.</summary>
    Task StartAsync(CancellationToken cancellationToken);

    /// <summary>Queues a reading for publishing (in order).</summary>
    void Enqueue(string topic, string payload);

    /// <summary>Drops the connection as a network failure would (the broker publishes the Last Will).</summary>
    Task DropAsync(CancellationToken cancellationToken);

    /// <summary>Publishes what is queued (waiting up to <paramref name="drain"/>), leaves a retained offline status, and disconnects.</summary>
    Task StopAsync(TimeSpan drain);
}
