using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Text;
using Microsoft.Extensions.Logging;
using SmartPower.Contract;
using SmartPower.Pipeline;
using SmartPower.Registry;

namespace SmartPower.Mqtt;

/// <summary>Why a connection, publish or subscription was refused before reaching the log.</summary>
public enum IngressRefusal
{
    None,
    BadCredentials,
    UnknownDevice,
    TopicNotAllowed,
    SubscriptionNotAllowed,
    Oversize,
    RateLimited,
    AuthThrottled,
}

/// <summary>A message offered to the ingress: refused (and why), or taken by the log and durable once <see cref="Durable"/> completes.</summary>
public readonly record struct Admission(IngressRefusal Refusal, Task Durable);

/// <summary>Limits the ingress enforces on every device.</summary>
public sealed class IngressOptions
{
    /// <summary>Largest payload accepted (the contract's 8 KiB).</summary>
    public int MaxPayloadBytes { get; set; } = ReadingLimits.Default.MaxPayloadBytes;

    /// <summary>
    /// Sustained messages per second a device may publish (its readings, status and resends after a reconnect) to the
    /// embedded broker, which refuses the rest with a PUBACK the device sees. Not applied to messages from an external
    /// broker: it has acknowledged them to the device already and replays a backlog as fast as the bridge takes it, so a
    /// refusal there would lose readings.
    /// </summary>
    public double RatePerSecond { get; set; } = 5;

    /// <summary>Messages a device may publish at once before the rate applies (a reconnect flushes a backlog).</summary>
    public double RateBurst { get; set; } = 60;

    /// <summary>Failed logins of one device id in <see cref="AuthWindow"/> after which its logins are refused for <see cref="AuthLockout"/>.</summary>
    public int AuthFailuresAllowed { get; set; } = 5;

    public TimeSpan AuthWindow { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// How long a device id that failed too often is refused, right password or not. Keyed by device id, not by
    /// address: a compound's devices often share one NAT address, and one misconfigured meter must not lock out the rest.
    /// </summary>
    public TimeSpan AuthLockout { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>At most one log line per refusal reason in this interval; the rest are counted and summarised.</summary>
    public TimeSpan LogInterval { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// The checks every message passes on its way in, whichever broker it came through: the device exists, publishes only
/// its own telemetry and status topics, within the payload limit and its rate; then it is appended to the telemetry
/// log. The embedded broker also asks it about connections and subscriptions. Refusals are counted by reason (the
/// <c>smartpower.ingress.refused</c> counter) and logged at most once per reason per interval. Thread-safe.
/// </summary>
public sealed class Ingress : IDisposable
{
    private static readonly IngressRefusal[] Refusals = Enum.GetValues<IngressRefusal>();
    private readonly DeviceRegistry _registry;
    private readonly ITelemetryLog _log;
    private readonly IngressOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly long[] _refused = new long[Refusals.Length];
    private readonly long[] _lastLogged = new long[Refusals.Length];
    private readonly long[] _loggedCount = new long[Refusals.Length];
    private readonly ConcurrentDictionary<string, TokenBucket> _buckets = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, LoginFailures> _logins = new(StringComparer.Ordinal);
    private readonly Meter _meter;
    private long _appended;
    private volatile bool _closed;

    public Ingress(DeviceRegistry registry, ITelemetryLog log, IngressOptions? options = null, ILogger? logger = null, TimeProvider? time = null)
    {
        _registry = registry;
        _log = log;
        _options = options ?? new IngressOptions();
        _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        _time = time ?? TimeProvider.System;
        _meter = new Meter(PipelineMetrics.MeterName);
        _meter.CreateObservableCounter("smartpower.ingress.appended", () => Appended, "{message}", "Messages accepted by the ingress and appended to the log");
        _meter.CreateObservableCounter("smartpower.ingress.refused", ObserveRefused, "{message}", "Connections, messages and subscriptions refused at the ingress, by reason");
    }

    public DeviceRegistry Registry => _registry;

    public long Appended => Interlocked.Read(ref _appended);

    /// <summary>Whether <see cref="Close"/> was called: the host is stopping.</summary>
    public bool IsClosed => _closed;

    /// <summary>
    /// Takes no more messages: from now on <see cref="AcceptAsync"/> and <see cref="AdmitAsync"/> throw
    /// <see cref="IngressClosedException"/>, so a message arriving is not acknowledged and its device (or broker) sends it
    /// again after the restart. The host calls it first when stopping, so that detection can drain the log while the
    /// broker still delivers the commands that drain raises.
    /// </summary>
    public void Close() => _closed = true;

    public long RefusedFor(IngressRefusal refusal) => Interlocked.Read(ref _refused[(int)refusal]);

    /// <summary>Refusals by reason name (kebab case), only reasons seen.</summary>
    public IReadOnlyDictionary<string, long> RefusedByReason()
    {
        var result = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var refusal in Refusals)
        {
            if (refusal != IngressRefusal.None && RefusedFor(refusal) > 0)
            {
                result[NameOf(refusal)] = RefusedFor(refusal);
            }
        }

        return result;
    }

    /// <summary>Whether a device may subscribe to <paramref name="topicFilter"/>: only its own command topic, no wildcards.</summary>
    public IngressRefusal CheckSubscription(string deviceId, string topicFilter)
    {
        var refusal = _registry.TryGetDevice(deviceId, out var device)
            ? topicFilter == Topic.For(device.SiteId, device.Kind, device.DeviceId, TopicChannel.Command) ? IngressRefusal.None : IngressRefusal.SubscriptionNotAllowed
            : IngressRefusal.UnknownDevice;
        return Count(refusal, deviceId, topicFilter);
    }

    /// <summary>Counts a refused connection (wrong password, unknown device).</summary>
    public void RefuseConnection(IngressRefusal refusal, string? deviceId)
    {
        if (refusal == IngressRefusal.BadCredentials && deviceId is not null)
        {
            _logins.GetOrAdd(deviceId, static _ => new LoginFailures()).Fail(_time.GetTimestamp(), _time, _options);
        }

        Count(refusal, deviceId ?? "(none)", "connect");
    }

    /// <summary>
    /// Whether logins of <paramref name="deviceId"/> are refused for now, after too many wrong passwords (password
    /// guessing is slowed to a handful of tries a minute and counted as <c>auth-throttled</c>).
    /// </summary>
    public bool IsLoginThrottled(string deviceId)
    {
        if (_logins.TryGetValue(deviceId, out var failures) && failures.LockedOut(_time.GetTimestamp()))
        {
            Count(IngressRefusal.AuthThrottled, deviceId, "connect");
            return true;
        }

        return false;
    }

    /// <summary>
    /// Checks a message and, if allowed, appends it to the log; completes when it is durable, so the caller may then
    /// acknowledge it. <paramref name="deviceId"/> is the authenticated device (the embedded broker's username), or
    /// null when the message comes from an external broker that authenticated it (the topic then names the device).
    /// </summary>
    public async ValueTask<IngressRefusal> AcceptAsync(string? deviceId, string topic, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        ThrowIfClosed();
        var refusal = Check(deviceId, topic, payload.Length, out var device);
        if (refusal != IngressRefusal.None)
        {
            return Count(refusal, deviceId ?? "(topic)", topic);
        }

        await _log.AppendAsync(new TelemetryMessage(device!.DeviceId, topic, payload, _time.GetUtcNow().ToUnixTimeMilliseconds()), cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref _appended);
        return IngressRefusal.None;
    }

    /// <summary>
    /// Checks a message and, if allowed, hands it to the log; completes once the log has taken it (the payload is no
    /// longer needed), with <see cref="Admission.Durable"/> completing once it is durable: the embedded broker reads a
    /// device's next message meanwhile and holds the acknowledgement back until then. Throws, like the log, when it
    /// cannot take the message (the device must connect again, see <see cref="Reconnected"/>).
    /// </summary>
    public async ValueTask<Admission> AdmitAsync(string deviceId, string topic, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        ThrowIfClosed();
        var refusal = Check(deviceId, topic, payload.Length, out var device);
        if (refusal != IngressRefusal.None)
        {
            return new Admission(Count(refusal, deviceId, topic), Task.CompletedTask);
        }

        var durable = await _log.TakeAsync(new TelemetryMessage(device!.DeviceId, topic, payload, _time.GetUtcNow().ToUnixTimeMilliseconds()), cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref _appended);
        return new Admission(IngressRefusal.None, durable);
    }

    /// <summary>A device connected again: messages it sends are taken again after a failed write (see <see cref="ITelemetryLog.TakeAsync"/>).</summary>
    public void Reconnected(string deviceId) => _log.Reopen(deviceId);

    public void Dispose() => _meter.Dispose();

    private void ThrowIfClosed()
    {
        if (_closed)
        {
            throw new IngressClosedException();
        }
    }

    public static string NameOf(IngressRefusal refusal) => refusal switch
    {
        IngressRefusal.BadCredentials => "bad-credentials",
        IngressRefusal.UnknownDevice => "unknown-device",
        IngressRefusal.TopicNotAllowed => "topic-not-allowed",
        IngressRefusal.SubscriptionNotAllowed => "subscription-not-allowed",
        IngressRefusal.Oversize => "oversize",
        IngressRefusal.RateLimited => "rate-limited",
        IngressRefusal.AuthThrottled => "auth-throttled",
        _ => "none",
    };

    private IngressRefusal Check(string? deviceId, string topic, int payloadBytes, out Device? device)
    {
        device = null;
        Span<byte> utf8 = stackalloc byte[256]; // a topic that does not fit (long, or of multi-byte characters) is no contract topic
        if (topic.Length > 200 || !Encoding.UTF8.TryGetBytes(topic, utf8, out var length) || !Topic.TryParse(utf8[..length], out var parsed)
            || parsed.Channel == TopicChannel.Command)
        {
            return IngressRefusal.TopicNotAllowed;
        }

        if (!_registry.TryGetDevice(parsed.DeviceId, out device))
        {
            return deviceId is null ? IngressRefusal.UnknownDevice : IngressRefusal.TopicNotAllowed;
        }

        // A device speaks only for itself, on its own site and kind.
        if ((deviceId is not null && device.DeviceId != deviceId) || !device.IsOnSite(parsed.SiteId) || parsed.Kind != device.Kind)
        {
            return IngressRefusal.TopicNotAllowed;
        }

        if (payloadBytes > _options.MaxPayloadBytes)
        {
            return IngressRefusal.Oversize;
        }

        if (deviceId is null)
        {
            return IngressRefusal.None; // from an external broker: see IngressOptions.RatePerSecond
        }

        var bucket = _buckets.GetOrAdd(device.DeviceId, static (_, o) => new TokenBucket(o.RateBurst), _options);
        return bucket.TryTake(_time.GetTimestamp(), _time.TimestampFrequency, _options.RatePerSecond, _options.RateBurst)
            ? IngressRefusal.None
            : IngressRefusal.RateLimited;
    }

    private IngressRefusal Count(IngressRefusal refusal, string who, string what)
    {
        if (refusal == IngressRefusal.None)
        {
            return refusal;
        }

        var i = (int)refusal;
        var total = Interlocked.Increment(ref _refused[i]);
        var now = _time.GetTimestamp();
        var last = Interlocked.Read(ref _lastLogged[i]);
        if ((last == 0 || _time.GetElapsedTime(last, now) >= _options.LogInterval) && Interlocked.CompareExchange(ref _lastLogged[i], now, last) == last)
        {
            var since = total - Interlocked.Exchange(ref _loggedCount[i], total);
            _logger.LogWarning("ingress refused {Reason}: {Who} {What} ({Count} of this reason since the last such line, {Total} in all)", NameOf(refusal), who, what, since, total);
        }

        return refusal;
    }

    private IEnumerable<Measurement<long>> ObserveRefused()
    {
        foreach (var refusal in Refusals)
        {
            if (refusal != IngressRefusal.None)
            {
                yield return new Measurement<long>(RefusedFor(refusal), new KeyValuePair<string, object?>("reason", NameOf(refusal)));
            }
        }
    }

    /// <summary>A device id's recent failed logins, and until when it is locked out.</summary>
    private sealed class LoginFailures
    {
        private long _windowStart;
        private int _count;
        private long _lockedUntil;

        public void Fail(long now, TimeProvider time, IngressOptions options)
        {
            lock (this)
            {
                if (_count == 0 || time.GetElapsedTime(_windowStart, now) > options.AuthWindow)
                {
                    _windowStart = now;
                    _count = 0;
                }

                if (++_count >= options.AuthFailuresAllowed)
                {
                    _lockedUntil = now + (long)(options.AuthLockout.TotalSeconds * time.TimestampFrequency);
                    _count = 0;
                }
            }
        }

        public bool LockedOut(long now)
        {
            lock (this)
            {
                return _lockedUntil != 0 && now < _lockedUntil;
            }
        }
    }

    /// <summary>A per-device token bucket: <c>burst</c> tokens, refilled at <c>rate</c> a second.</summary>
    private sealed class TokenBucket(double burst)
    {
        private double _tokens = burst;
        private long _at;

        public bool TryTake(long now, long frequency, double rate, double burst)
        {
            lock (this)
            {
                if (_at != 0)
                {
                    _tokens = Math.Min(burst, _tokens + ((now - _at) * rate / frequency));
                }

                _at = now;
                if (_tokens < 1)
                {
                    return false;
                }

                _tokens--;
                return true;
            }
        }
    }
}

/// <summary>The host is stopping and takes no more messages (<see cref="Ingress.Close"/>); they are not acknowledged.</summary>
public sealed class IngressClosedException : InvalidOperationException
{
    public IngressClosedException()
        : base("the host is stopping and takes no more messages")
    {
    }
}
