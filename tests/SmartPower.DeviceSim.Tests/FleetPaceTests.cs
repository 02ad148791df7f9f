using System.Diagnostics;
using SmartPower.DeviceSim.Mqtt;

namespace SmartPower.DeviceSim.Tests;

public sealed class FleetPaceTests
{
    [Fact]
    public async Task A_step_waits_until_every_live_device_has_sent_what_it_had_two_steps_before()
    {
        var pace = new FleetPace();
        var slow = new FleetPace.Tickets(pace);
        var fast = new FleetPace.Tickets(pace);
        await pace.WaitAsync(0, CancellationToken.None);
        slow.Queued();
        fast.Queued();
        fast.Sent();
        await pace.WaitAsync(1, CancellationToken.None); // step 1 waits for nothing
        Assert.False(pace.Ready(2)); // slow has not sent its reading of step 0

        var next = pace.WaitAsync(2, CancellationToken.None);
        Assert.False(next.IsCompleted);
        slow.Sent();
        await next.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(2, pace.Current);
    }

    [Fact]
    public async Task A_device_that_is_not_connected_does_not_hold_the_fleet_back_and_its_backlog_never_counts()
    {
        var pace = new FleetPace();
        var device = new FleetPace.Tickets(pace);
        await pace.WaitAsync(0, CancellationToken.None);
        device.Queued();
        device.Offline();
        Assert.True(pace.Ready(2));
        device.Queued(); // queued while offline: the backlog

        await pace.WaitAsync(2, CancellationToken.None);
        device.Online();
        device.Queued(); // counts toward step 2
        device.Sent(2); // the backlog goes first
        Assert.False(pace.Ready(4));
        device.Sent();
        Assert.True(pace.Ready(4));
    }

    [Fact]
    public async Task A_step_held_by_a_device_that_never_sends_goes_ahead_after_the_limit_and_is_counted()
    {
        var pace = new FleetPace();
        var stuck = new FleetPace.Tickets(pace);
        await pace.WaitAsync(0, CancellationToken.None);
        stuck.Queued(); // connected, and never sends it
        var started = Stopwatch.GetTimestamp();

        await pace.WaitAsync(2, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(Stopwatch.GetElapsedTime(started) >= FleetPace.MaxHold - TimeSpan.FromMilliseconds(50), "the step did not wait for the device");
        Assert.Equal(1, pace.HeldTooLong);
        Assert.Equal(2, pace.Current);
    }
}
