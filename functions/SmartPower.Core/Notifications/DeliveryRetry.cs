namespace SmartPower.Notifications;

/// <summary>
/// When a failed delivery is tried again: exponential backoff with jitter. After the n-th failed attempt the nominal
/// delay is <see cref="FirstDelay"/> x 2^(n-1), capped at <see cref="MaxDelay"/>, and the actual delay is drawn
/// uniformly from [nominal / 2, nominal] ("equal jitter"), so that notifications that failed together (a receiver
/// down) do not all come back at the same instant. With the defaults: 1-2 s, 2-4 s, 4-8 s, 8-16 s, 16-32 s, then
/// 30-60 s for as long as the receiver stays down, so a receiver that comes back has its backlog within a minute. A
/// notification is abandoned (kept, with its attempts) once it was written <see cref="GiveUpAfter"/> ago and has been
/// tried for that long too (by the shortest its backoff can take): one that waited out a host's outage of a day still
/// gets its day of tries, not one.
/// </summary>
public sealed record DeliveryRetry
{
    public static DeliveryRetry Default { get; } = new();

    public TimeSpan FirstDelay { get; init; } = TimeSpan.FromSeconds(2);

    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromMinutes(1);

    public TimeSpan GiveUpAfter { get; init; } = TimeSpan.FromHours(24);

    /// <summary>The nominal delay after <paramref name="failedAttempts"/> failures (at least 1), before jitter.</summary>
    public TimeSpan NominalDelay(int failedAttempts)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(failedAttempts, 1);
        var doublings = Math.Min(failedAttempts - 1, 30);
        var ms = FirstDelay.TotalMilliseconds * Math.Pow(2, doublings);
        return TimeSpan.FromMilliseconds(Math.Min(ms, MaxDelay.TotalMilliseconds));
    }

    /// <summary>The delay after <paramref name="failedAttempts"/> failures, with <paramref name="jitter"/> in [0, 1) picking where in [nominal / 2, nominal].</summary>
    public TimeSpan DelayAfter(int failedAttempts, double jitter)
    {
        var nominal = NominalDelay(failedAttempts);
        return nominal / 2 + nominal / 2 * Math.Clamp(jitter, 0, 1);
    }

    /// <summary>
    /// When to try a notification written at <paramref name="createdAt"/> again after its <paramref name="failedAttempts"/>-th
    /// failure at <paramref name="now"/>; null to give up.
    /// </summary>
    public DateTimeOffset? NextAttempt(DateTimeOffset createdAt, DateTimeOffset now, int failedAttempts, double jitter)
    {
        var next = now + DelayAfter(failedAttempts, jitter);
        return next - createdAt > GiveUpAfter && ShortestTriedFor(failedAttempts) >= GiveUpAfter ? null : next;
    }

    /// <summary>The least time <paramref name="failedAttempts"/> failures can have been tried for: half of each nominal delay, summed.</summary>
    public TimeSpan ShortestTriedFor(int failedAttempts)
    {
        var total = TimeSpan.Zero;
        for (var n = 1; n <= failedAttempts; n++)
        {
            var half = NominalDelay(n) / 2;
            if (half >= MaxDelay / 2)
            {
                return total + (half * (failedAttempts - n + 1)); // capped from here on
            }

            total += half;
        }

        return total;
    }
}
