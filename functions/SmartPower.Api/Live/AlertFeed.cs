using System.Threading.Channels;

namespace SmartPower.Api.Live;

/// <summary>
/// Tells live watchers (the console's stream) which alerts changed: the host publishes each transition the pipeline
/// stores, the API each act of a person, and anything else that writes an alert's history (escalation) does the same.
/// Only ids travel: a watcher reads the alert as it is when it sends it, so what it sends is never older than what it
/// sent before. A watcher that falls 1,000 changes behind is told to start again from a fresh snapshot.
/// </summary>
public sealed class AlertFeed
{
    private const int Capacity = 1000;
    private readonly Lock _lock = new();
    private readonly List<Subscription> _subscriptions = [];

    /// <summary>The alert <paramref name="alertId"/> changed and the change is stored.</summary>
    public void Publish(string alertId)
    {
        lock (_lock)
        {
            foreach (var subscription in _subscriptions)
            {
                if (!subscription.Channel.Writer.TryWrite(alertId))
                {
                    subscription.Overflowed = true;
                }
            }
        }
    }

    public Subscription Subscribe()
    {
        var subscription = new Subscription(this);
        lock (_lock)
        {
            _subscriptions.Add(subscription);
        }

        return subscription;
    }

    private void Remove(Subscription subscription)
    {
        lock (_lock)
        {
            _subscriptions.Remove(subscription);
        }
    }

    /// <summary>One watcher's queue of changed alert ids.</summary>
    public sealed class Subscription : IDisposable
    {
        private readonly AlertFeed _feed;
        private volatile bool _overflowed;

        internal Subscription(AlertFeed feed)
        {
            _feed = feed;
            Channel = System.Threading.Channels.Channel.CreateBounded<string>(new BoundedChannelOptions(Capacity)
            {
                FullMode = BoundedChannelFullMode.Wait, // TryWrite fails when full, and the watcher is told to resync
                SingleReader = true,
            });
        }

        internal Channel<string> Channel { get; }

        public ChannelReader<string> Changes => Channel.Reader;

        /// <summary>Changes were dropped: the watcher must start again from a snapshot (which clears this).</summary>
        public bool Overflowed
        {
            get => _overflowed;
            internal set => _overflowed = value;
        }

        /// <summary>Empties the queue and clears <see cref="Overflowed"/>, before a fresh snapshot is read.</summary>
        public void Reset()
        {
            while (Channel.Reader.TryRead(out _))
            {
            }

            _overflowed = false;
        }

        public void Dispose() => _feed.Remove(this);
    }
}
