using SmartPower.Alerts;
using SmartPower.Detection;

namespace SmartPower.Tests;

public sealed class OfflineTests
{
    [Fact]
    public void A_device_silent_for_three_intervals_but_at_least_60_s_while_others_report_goes_offline()
    {
        var feed = new Feed();
        for (var s = 0; s < 600; s += 10)
        {
            if (s < 200)
            {
                feed.Meter("m-0001", s, 5);
            }

            feed.Meter("m-0002", s + 3, 5);
            feed.Meter("m-0100", s + 6, 1);
        }

        var opened = Assert.Single(feed.Opened);
        Assert.Equal((AlertType.Offline, "m-0001", Severity.Warning), (opened.Type, opened.DeviceId, opened.Severity));
        Assert.Equal(Feed.T0.AddSeconds(190 + 60), opened.OpenedAt); // last reading + max(3 x 10 s, 60 s)
    }

    [Fact]
    public void A_device_whose_clock_runs_minutes_slow_is_not_offline_while_it_reports_and_is_when_it_stops()
    {
        // m-0001's clock is 150 s behind the others: every reading arrives "late" on the stream's clock. Silence is
        // measured from when it was heard, so it does not flap offline on every reading; when it stops, it goes
        // offline 60 s of stream time after it was last heard.
        var feed = new Feed();
        for (var s = 0; s < 1200; s += 10)
        {
            feed.Meter("m-0002", s + 3, 5);
            feed.Meter("m-0100", s + 6, 1);
            if (s < 900)
            {
                feed.Meter("m-0001", s - 150, 5);
            }
        }

        var opened = Assert.Single(feed.Opened);
        Assert.Equal("m-0001", opened.DeviceId);
        Assert.InRange(opened.OpenedAt, Feed.T0.AddSeconds(890 + 60), Feed.T0.AddSeconds(900 + 60));
        Assert.DoesNotContain(feed.Sink.Transitions, t => t.Kind == TransitionKind.Cleared);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-180)]
    public void Readings_held_back_in_a_burst_just_under_the_limit_are_not_a_silence_however_the_device_clock_runs(int skewS)
    {
        // Ten meters report every 10 s, each at its own second. m-0001's readings of 400-440 s are held back by the
        // network and arrive at once, just before its 450 s one: 60 s without a word, the limit itself, not more. Its
        // clock is on time, or 3 minutes slow (the faulty-network night's m-0014), which must not make it less patient.
        var feed = new Feed(RegistryOfMeters(10));
        for (var s = 0; s < 900; s += 10)
        {
            for (var m = 2; m <= 10; m++)
            {
                feed.Meter($"m-{m:D4}", s + m - 1, 5);
            }

            if (s is < 400 or >= 450)
            {
                if (s == 450)
                {
                    for (var held = 400; held < 450; held += 10)
                    {
                        feed.Meter("m-0001", held + 9.5 + skewS, 5);
                    }
                }

                feed.Meter("m-0001", s + 9.5 + skewS, 5);
            }
        }

        Assert.Empty(feed.Of(AlertType.Offline));
    }

    private static string RegistryOfMeters(int count) =>
        $$"""
        {"sites":[{"siteId":"{{Feed.Site}}","name":"Wutong Apartments","address":"88 Wutong Rd","fireStation":"xihu-3","managerId":"pm-greenleaf"}],
         "devices":[{{string.Join(",", Enumerable.Range(1, count).Select(m =>
            $$"""{"deviceId":"m-{{m:D4}}","siteId":"{{Feed.Site}}","kind":"meter","circuit":"dwelling","ratedCurrentA":40,"reportIntervalS":10}"""))}}]}
        """;

    [Fact]
    public void When_most_devices_fall_silent_at_once_the_one_still_reporting_is_accepted_and_the_others_go_offline()
    {
        // A power cut: three of four devices stop at 300 s; the pile (on its own supply) goes on for 30 minutes.
        var feed = new Feed();
        var refused = 0;
        for (var s = 0; s < 2100; s += 10)
        {
            if (s < 300)
            {
                feed.Meter("m-0001", s, 5);
                feed.Meter("m-0002", s + 2, 5);
                feed.Meter("m-0100", s + 4, 1);
            }

            refused += feed.Pile("p-0001", s + 6, 100, 0, 0, 0).Outcome == MessageOutcome.Rejected ? 1 : 0;
        }

        Assert.Equal(0, refused);
        Assert.Equal(["m-0001", "m-0002", "m-0100"], feed.Opened.Where(a => a.Type == AlertType.Offline).Select(a => a.DeviceId).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void A_device_whose_clock_jumps_far_ahead_is_still_refused()
    {
        var feed = new Feed(); // three devices make the stream's time a judge of a fourth (StreamClock.Quorum)
        for (var s = 0; s < 300; s += 10)
        {
            feed.Meter("m-0001", s, 5);
            feed.Meter("m-0002", s + 3, 5);
            feed.Pile("p-0001", s + 6, 0);
        }

        Assert.Equal(MessageOutcome.Rejected, feed.Meter("m-0002", 303 + 3600, 5).Outcome);
        Assert.Equal(MessageOutcome.Rejected, feed.Meter("m-0100", 3600, 1).Outcome); // first heard an hour ahead
    }

    [Fact]
    public void The_next_reading_clears_offline()
    {
        var feed = new Feed();
        for (var s = 0; s < 600; s += 10)
        {
            if (s is < 200 or >= 400)
            {
                feed.Meter("m-0001", s, 5);
            }

            feed.Meter("m-0002", s + 3, 5);
        }

        var cleared = Assert.Single(feed.Sink.Transitions, t => t.Kind == TransitionKind.Cleared);
        Assert.Equal(Feed.T0.AddSeconds(400), cleared.Alert.ClearedAt);
        Assert.Single(feed.Opened);
    }

    [Fact]
    public void When_the_whole_stream_stops_nobody_goes_offline()
    {
        var feed = new Feed();
        feed.MeterSeries("m-0001", 0, 100, _ => 5);
        feed.MeterSeries("m-0002", 5, 105, _ => 5);
        Assert.Empty(feed.Sink.Transitions);
    }

    [Fact]
    public void One_device_with_a_clock_minutes_ahead_does_not_make_the_others_look_offline()
    {
        var feed = new Feed();
        for (var s = 0; s < 900; s += 10)
        {
            feed.Meter("m-0001", s, 5);
            feed.Meter("m-0002", s + 2, 5);
            feed.Meter("m-0100", s + 4 + 300, 1); // five minutes fast
        }

        Assert.Empty(feed.Sink.Transitions);
    }

    [Fact]
    public void A_reading_far_ahead_of_the_stream_is_refused_and_changes_nothing()
    {
        var feed = new Feed(); // three devices make the stream's time a judge of a fourth (StreamClock.Quorum)
        void Report(double from, double to)
        {
            for (var s = from; s < to; s += 10)
            {
                feed.Meter("m-0001", s, 5);
                feed.Meter("m-0100", s + 1, 1);
                feed.Pile("p-0001", s + 2, 0);
            }
        }

        Report(0, 100);
        var result = feed.Meter("m-0002", 3600, 5);
        Assert.Equal(SmartPower.Contract.RejectReason.TimestampOutOfRange, result.Failure.Reason);
        Report(100, 200);
        Assert.Empty(feed.Sink.Transitions);
    }
}
