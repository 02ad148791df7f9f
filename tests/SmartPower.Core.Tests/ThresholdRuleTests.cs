using SmartPower.Alerts;

namespace SmartPower.Tests;

/// <summary>Each threshold rule at and around its limits, on event time.</summary>
public sealed class ThresholdRuleTests
{
    [Fact]
    public void Overload_above_rating_for_two_minutes_opens_a_warning_not_before()
    {
        var feed = new Feed();
        feed.MeterSeries("m-0001", 0, 60, _ => 10);
        feed.MeterSeries("m-0001", 60, 170, _ => 44); // 110 s above 40 A
        Assert.Empty(feed.Of(AlertType.Overload));

        feed.MeterSeries("m-0001", 170, 190, _ => 44); // reaches 120 s at t=180
        var opened = Assert.Single(feed.Opened);
        Assert.Equal(AlertType.Overload, opened.Type);
        Assert.Equal(Severity.Warning, opened.Severity);
        Assert.Equal(Feed.T0.AddSeconds(180), opened.OpenedAt);
        Assert.Equal(40, opened.Evidence["ratedCurrentA"]);
        Assert.Equal(120, opened.Evidence["sustainedS"]);
    }

    [Fact]
    public void Overload_above_one_point_four_five_times_for_a_minute_is_critical()
    {
        var feed = new Feed();
        feed.MeterSeries("m-0001", 0, 30, _ => 10);
        feed.MeterSeries("m-0001", 30, 80, _ => 59); // 1.475 x 40, 50 s
        Assert.Empty(feed.Of(AlertType.Overload));
        feed.Meter("m-0001", 90, 59); // 60 s
        var opened = Assert.Single(feed.Opened);
        Assert.Equal(Severity.Critical, opened.Severity);
        Assert.Equal(Feed.T0.AddSeconds(90), opened.OpenedAt);
    }

    [Fact]
    public void Overload_warning_rises_to_critical_within_the_same_incident()
    {
        var feed = new Feed();
        feed.MeterSeries("m-0001", 0, 130, _ => 45);   // warning at t=120
        feed.MeterSeries("m-0001", 130, 200, _ => 60); // critical after 60 s more
        var transitions = feed.Of(AlertType.Overload).ToList();
        Assert.Equal(TransitionKind.Opened, transitions[0].Kind);
        var raised = Assert.Single(transitions, t => t.Kind == TransitionKind.Updated && t.Alert.Severity == Severity.Critical);
        Assert.Equal(transitions[0].Alert.AlertId, raised.Alert.AlertId);
        Assert.Single(feed.Opened);
    }

    [Fact]
    public void Overload_one_sample_inrush_never_alerts()
    {
        var feed = new Feed();
        for (var s = 0; s < 3600; s += 10)
        {
            feed.Meter("m-0001", s, s % 600 == 300 ? 200 : 12); // a 5x inrush every ten minutes
        }

        Assert.Empty(feed.Sink.Transitions);
    }

    [Fact]
    public void Overload_a_long_load_just_under_the_rating_is_not_an_overload()
    {
        var feed = new Feed();
        feed.MeterSeries("m-0001", 0, 4 * 3600, s => 39.6 + (0.3 * Math.Sin(s / 60)));
        Assert.Empty(feed.Sink.Transitions);
    }

    [Fact]
    public void Overload_clears_only_after_two_minutes_below_ninety_percent()
    {
        var feed = new Feed();
        feed.MeterSeries("m-0001", 0, 200, _ => 45);
        feed.MeterSeries("m-0001", 200, 600, _ => 37);   // between 0.9 and 1.0 x rating: stays open
        Assert.DoesNotContain(feed.Sink.Transitions, t => t.Kind == TransitionKind.Cleared);
        feed.MeterSeries("m-0001", 600, 710, _ => 20);   // 110 s below 36 A
        Assert.DoesNotContain(feed.Sink.Transitions, t => t.Kind == TransitionKind.Cleared);
        feed.MeterSeries("m-0001", 710, 730, _ => 20);
        var cleared = Assert.Single(feed.Sink.Transitions, t => t.Kind == TransitionKind.Cleared);
        Assert.Equal(Feed.T0.AddSeconds(720), cleared.Alert.ClearedAt);
        Assert.Equal(AlertState.Cleared, cleared.Alert.State);
    }

    [Fact]
    public void Overload_after_clearing_a_new_episode_is_a_new_incident_with_a_new_id()
    {
        var feed = new Feed();
        feed.MeterSeries("m-0001", 0, 200, _ => 45);
        feed.MeterSeries("m-0001", 200, 400, _ => 10);
        feed.MeterSeries("m-0001", 400, 600, _ => 45);
        var opened = feed.Opened.ToList();
        Assert.Equal(2, opened.Count);
        Assert.NotEqual(opened[0].AlertId, opened[1].AlertId);
    }

    [Fact]
    public void Leakage_300_mA_on_two_consecutive_readings_is_critical_one_is_not()
    {
        var feed = new Feed();
        feed.MeterSeries("m-0001", 0, 100, _ => 5, s => s == 50 ? 400 : 3);
        Assert.Empty(feed.Sink.Transitions);

        feed.MeterSeries("m-0001", 100, 120, _ => 5, _ => 300);
        var opened = Assert.Single(feed.Opened);
        Assert.Equal((AlertType.Leakage, Severity.Critical), (opened.Type, opened.Severity));
        Assert.Equal(Feed.T0.AddSeconds(110), opened.OpenedAt);
    }

    [Fact]
    public void Leakage_100_mA_held_five_minutes_is_a_warning()
    {
        var feed = new Feed();
        feed.MeterSeries("m-0001", 0, 290, _ => 5, _ => 120);
        Assert.Empty(feed.Sink.Transitions);
        feed.MeterSeries("m-0001", 290, 310, _ => 5, _ => 120);
        var opened = Assert.Single(feed.Opened);
        Assert.Equal((AlertType.Leakage, Severity.Warning), (opened.Type, opened.Severity));
        Assert.Equal(Feed.T0.AddSeconds(300), opened.OpenedAt);
    }

    [Fact]
    public void Leakage_just_under_100_mA_for_hours_is_quiet()
    {
        var feed = new Feed();
        feed.MeterSeries("m-0001", 0, 3 * 3600, _ => 5, _ => 99.5);
        Assert.Empty(feed.Sink.Transitions);
    }

    [Fact]
    public void Overtemperature_70_C_held_30_s_warns_and_85_C_is_critical()
    {
        var feed = new Feed();
        feed.MeterSeries("m-0001", 0, 30, _ => 5, tempC: _ => 72);
        Assert.Empty(feed.Sink.Transitions);
        feed.Meter("m-0001", 30, 5, tempC: 72);
        var warning = Assert.Single(feed.Opened);
        Assert.Equal((AlertType.Overtemperature, Severity.Warning), (warning.Type, warning.Severity));

        feed.MeterSeries("m-0001", 40, 70, _ => 5, tempC: _ => 88);
        Assert.DoesNotContain(feed.Sink.Transitions, t => t.Alert.Severity == Severity.Critical);
        feed.Meter("m-0001", 70, 5, tempC: 88);
        var critical = Assert.Single(feed.Sink.Transitions, t => t.Alert.Severity == Severity.Critical);
        Assert.Equal(warning.AlertId, critical.Alert.AlertId);
        Assert.Equal(88, critical.Alert.Evidence["tempC"]);
    }

    [Fact]
    public void Overtemperature_one_hot_sample_is_quiet()
    {
        var feed = new Feed();
        feed.MeterSeries("m-0001", 0, 600, _ => 5, tempC: s => s == 300 ? 95 : 45);
        Assert.Empty(feed.Sink.Transitions);
    }

    [Fact]
    public void Arc_fault_one_reading_is_critical_and_clears_after_five_quiet_minutes()
    {
        var feed = new Feed();
        feed.Meter("m-0001", 0, 5);
        feed.Meter("m-0001", 10, 5, arc: true);
        var opened = Assert.Single(feed.Opened);
        Assert.Equal((AlertType.ArcFault, Severity.Critical), (opened.Type, opened.Severity));
        feed.Meter("m-0001", 20, 5, arc: true); // the same incident
        feed.MeterSeries("m-0001", 30, 320, _ => 5);
        Assert.DoesNotContain(feed.Sink.Transitions, t => t.Kind == TransitionKind.Cleared);
        feed.Meter("m-0001", 330, 5);
        Assert.Single(feed.Sink.Transitions, t => t.Kind == TransitionKind.Cleared);
        Assert.Single(feed.Opened);
    }

    [Fact]
    public void Port_overpower_held_30_s_is_critical_and_stops_that_port_once()
    {
        var feed = new Feed();
        feed.Pile("p-0001", 0, 180, 0, 200, 0);
        feed.Pile("p-0001", 10, 180, 0, 650, 0);
        feed.Pile("p-0001", 20, 180, 0, 650, 0);
        feed.Pile("p-0001", 30, 180, 0, 650, 0);
        Assert.Empty(feed.Sink.Transitions);
        feed.Pile("p-0001", 40, 180, 0, 650, 0);
        var opened = Assert.Single(feed.Opened);
        Assert.Equal((AlertType.PortOverpower, Severity.Critical, 3), (opened.Type, opened.Severity, opened.Port));
        feed.Pile("p-0001", 50, 180, 0, 700, 0);
        var command = Assert.Single(feed.Sink.Commands);
        Assert.Equal(("stop-port", 3, opened.AlertId, "port-overpower"), (command.Command, command.Port, command.AlertId, command.Reason));
        Assert.Equal("smartpower/v1/xihu-wutong/pile/p-0001/command", command.Topic);
        Assert.Equal("""{"command":"stop-port","port":3,"alertId":"%","reason":"port-overpower"}""".Replace("%", opened.AlertId, StringComparison.Ordinal), System.Text.Encoding.UTF8.GetString(command.ToPayload()));
    }

    [Fact]
    public void Port_overpower_one_sample_start_transient_never_alerts()
    {
        var feed = new Feed();
        for (var s = 0; s < 1200; s += 10)
        {
            feed.Pile("p-0001", s, s % 300 == 0 ? 900 : 220, 0, 0, 0);
        }

        Assert.Empty(feed.Sink.Transitions);
        Assert.Empty(feed.Sink.Commands);
    }

    [Fact]
    public void Thresholds_are_overridable_per_site_and_per_device()
    {
        var registry = Feed.RegistryJson
            .Replace("\"timeZone\":\"Asia/Shanghai\"}", "\"timeZone\":\"Asia/Shanghai\",\"thresholds\":{\"leakageWarningMa\":50,\"leakageWarningHoldS\":60}}", StringComparison.Ordinal)
            .Replace("\"ratedCurrentA\":40,\"reportIntervalS\":10}", "\"ratedCurrentA\":40,\"reportIntervalS\":10,\"thresholds\":{\"overloadWarningHoldS\":30}}", StringComparison.Ordinal);
        var feed = new Feed(registry);
        Assert.Equal(30, feed.Registry.Devices[0].Thresholds.OverloadWarningHoldS);
        Assert.Equal(50, feed.Registry.Devices[0].Thresholds.LeakageWarningMa); // the site's override reaches the device
        Assert.Equal(120, feed.Registry.Devices[2].Thresholds.OverloadWarningHoldS);

        feed.MeterSeries("m-0001", 0, 40, _ => 45);
        Assert.Equal(AlertType.Overload, Assert.Single(feed.Opened).Type);
        feed.MeterSeries("m-0100", 0, 70, _ => 1, _ => 60);
        Assert.Contains(feed.Opened, a => a.Type == AlertType.Leakage && a.DeviceId == "m-0100");
    }
}
