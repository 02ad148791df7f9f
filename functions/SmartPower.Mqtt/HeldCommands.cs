using System.Buffers;
using System.Text;
using MQTTnet;
using SmartPower.Contract;

namespace SmartPower.Mqtt;

/// <summary>
/// Commands a device was not there to take. Devices connect with a clean start, so a broker keeps nothing for a device
/// that is away, and a command published then (a pile reconnecting; the replay of a restarted host, whose consumers
/// run before the devices are back) would go nowhere while the alert that sent it stays open. A command whose publish
/// found no subscriber is held here and published again when the device is back (it subscribed to its command
/// topic, or was heard from). At most <see cref="PerDevice"/> a device, each for at most <see cref="MaxAge"/>: a stop
/// an hour old is no longer about the charge now on that port. In memory: a host that stops loses what it held.
/// </summary>
internal sealed class HeldCommands(TimeProvider? time = null)
{
    public const int PerDevice = 8;
    public static readonly TimeSpan MaxAge = TimeSpan.FromHours(1);

    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Dictionary<string, List<(MqttApplicationMessage Message, byte[] Payload, DateTimeOffset HeldAt)>> _byDevice = new(StringComparer.Ordinal);
    private volatile int _count;

    public bool IsEmpty => _count == 0;

    /// <summary>
    /// Publishes a command through <paramref name="publish"/> (QoS 1), and holds it when nobody took it (no subscriber:
    /// the device is away) or the broker could not be reached (held until the device is next heard from, which needs
    /// the broker back). Throws only when cancelled: a command that cannot go now must not hold up the alerts of the
    /// batch that raised it (the stop is also repeated while the port stays over its limit). Returns what went wrong
    /// for the caller to log (unreachable, or refused by the broker's ACL), or null.
    /// </summary>
    public async Task<string?> PublishAsync(MqttApplicationMessage message, Func<CancellationToken, Task<MqttClientPublishResult>> publish, DateTimeOffset? heldSince, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(publish);
        MqttClientPublishResult result;
        try
        {
            result = await publish(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            Hold(message, heldSince);
            return $"the broker could not be reached ({ex.Message}); held until the device is next heard from";
        }

        if (result.ReasonCode == MqttClientPublishReasonCode.NoMatchingSubscribers)
        {
            Hold(message, heldSince);
            return null;
        }

        return result.IsSuccess ? null : $"the broker refused it: {result.ReasonCode} {result.ReasonString}";
    }

    /// <summary>
    /// Holds a command message for the device its topic names (ignored if the topic is not a command topic), since
    /// <paramref name="since"/> if it was held before (sent again and still not taken: its hour does not start again).
    /// </summary>
    public void Hold(MqttApplicationMessage message, DateTimeOffset? since = null)
    {
        if (DeviceOf(message.Topic) is not { } deviceId)
        {
            return;
        }

        lock (_byDevice)
        {
            if (!_byDevice.TryGetValue(deviceId, out var held))
            {
                _byDevice[deviceId] = held = [];
            }

            var payload = message.Payload.ToArray();
            held.RemoveAll(h => h.Payload.AsSpan().SequenceEqual(payload)); // the same command held again: once
            held.Add((message, payload, since ?? _time.GetUtcNow()));
            if (held.Count > PerDevice)
            {
                held.RemoveAt(0);
            }

            _count = _byDevice.Sum(d => d.Value.Count);
        }
    }

    /// <summary>
    /// Sends what is held for the device again through <paramref name="publish"/> (each message with when it was first
    /// held, for a publish that holds it again if it is still not taken), oldest first. If one fails, it and the rest are
    /// held again as they were and the failure is thrown.
    /// </summary>
    public async Task SendAgainAsync(string deviceId, Func<MqttApplicationMessage, DateTimeOffset, Task> publish)
    {
        ArgumentNullException.ThrowIfNull(publish);
        var held = Release(deviceId);
        for (var i = 0; i < held.Count; i++)
        {
            try
            {
                await publish(held[i].Message, held[i].HeldAt).ConfigureAwait(false);
            }
            catch
            {
                foreach (var (message, heldAt) in held.Skip(i))
                {
                    Hold(message, heldAt);
                }

                throw;
            }
        }
    }

    /// <summary>Takes out what is held for the device, oldest first, with when each was first held, leaving out what is past <see cref="MaxAge"/>.</summary>
    private IReadOnlyList<(MqttApplicationMessage Message, DateTimeOffset HeldAt)> Release(string deviceId)
    {
        if (IsEmpty)
        {
            return [];
        }

        lock (_byDevice)
        {
            if (!_byDevice.Remove(deviceId, out var held))
            {
                return [];
            }

            _count = _byDevice.Sum(d => d.Value.Count);
            var oldest = _time.GetUtcNow() - MaxAge;
            return [.. held.Where(h => h.HeldAt >= oldest).Select(h => (h.Message, h.HeldAt))];
        }
    }

    /// <summary>The device a command topic names, or null for any other topic.</summary>
    public static string? DeviceOf(string topic) =>
        Topic.TryParse(Encoding.UTF8.GetBytes(topic), out var parsed) && parsed.Channel == TopicChannel.Command ? Encoding.UTF8.GetString(parsed.DeviceId) : null;
}
