using System.Text.Json;
using SmartPower.Alerts;
using SmartPower.Notifications;
using SmartPower.Registry;

namespace SmartPower.Tests;

/// <summary>Who is told of what, the notification's id and body, and the retry schedule.</summary>
public sealed class NotificationTests
{
    private const string RegistryJson = """
        {"sites":[{"siteId":"xihu-wutong","name":"Wutong Apartments","address":"88 Wutong Rd","fireStation":"xihu-3","lat":30.28,"lon":120.12,"managerId":"pm-greenleaf"},
                  {"siteId":"orphan","name":"No one to tell"}],
         "devices":[{"deviceId":"m-0001","siteId":"xihu-wutong","kind":"meter","circuit":"dwelling","ratedCurrentA":40,
                     "location":{"building":"3","unit":"2","floor":5,"room":"502"}},
                    {"deviceId":"m-0900","siteId":"orphan","kind":"meter","circuit":"dwelling","ratedCurrentA":40},
                    {"deviceId":"p-0001","siteId":"xihu-wutong","kind":"pile","circuit":"pile","portCount":2,"portMaxW":400,
                     "location":{"building":"shed-A"}}]}
        """;

    private static readonly DeviceRegistry Registry = RegistryLoader.Parse(RegistryJson);

    [Fact]
    public void Warnings_go_to_the_manager_and_criticals_to_the_manager_and_the_fire_station()
    {
        var feed = new Feed();
        feed.MeterSeries("m-0002", 0, 400, t => t >= 100 ? 45 : 8); // overload warning: 1.125 x rating
        feed.MeterSeries("m-0001", 0, 200, _ => 6, leakageMa: t => t >= 100 ? 350 : 3); // leakage critical
        var transitions = feed.Sink.Transitions;
        var notifications = Notification.ForTransitions(transitions, feed.Registry);

        var overload = transitions.Single(t => t.Alert.Type == AlertType.Overload);
        Assert.Equal(Severity.Warning, overload.Alert.Severity);
        Assert.Equal(["manager pm-greenleaf"], notifications.Where(n => n.AlertId == overload.Alert.AlertId).Select(n => n.Recipient.ToString()));
        var leakage = transitions.Single(t => t.Alert.Type == AlertType.Leakage);
        Assert.Equal(Severity.Critical, leakage.Alert.Severity);
        Assert.Equal(["manager pm-greenleaf", "fire-station xihu-3"], notifications.Where(n => n.AlertId == leakage.Alert.AlertId).Select(n => n.Recipient.ToString()));
    }

    [Fact]
    public void A_site_without_a_manager_or_fire_station_has_nobody_of_that_kind_to_tell()
    {
        var site = Registry.GetSite("orphan");
        Assert.Empty(NotificationRouting.For(site, Severity.Critical));
        Assert.Equal([RecipientKind.FireStation], NotificationRouting.For(site with { FireStation = "x-1" }, Severity.Critical).Select(r => r.Kind));
        Assert.Equal([RecipientKind.FireStation], NotificationRouting.For(site with { FireStation = "x-1" }, Severity.Warning, raisedToFireStation: true).Select(r => r.Kind));
    }

    [Fact]
    public void Ids_are_deterministic_and_differ_by_step_time_and_recipient()
    {
        var alert = Alert(Severity.Critical);
        var first = Notification.For(alert, "opened", alert.OpenedAt, null, false, Registry);
        var again = Notification.For(alert, "opened", alert.OpenedAt, null, false, Registry);
        Assert.Equal(first, again);
        Assert.Equal(2, first.Count);
        Assert.NotEqual(first[0].NotificationId, first[1].NotificationId);
        Assert.All(first, n => Assert.Matches("^[0-9a-f]{32}$", n.NotificationId));
        var cleared = Notification.For(alert, "cleared", alert.OpenedAt, null, false, Registry);
        var later = Notification.For(alert, "opened", alert.OpenedAt.AddMilliseconds(1), null, false, Registry);
        Assert.Equal(6, first.Concat(cleared).Concat(later).Select(n => n.NotificationId).Distinct().Count());
    }

    [Fact]
    public void The_body_carries_the_contract_alert_the_step_and_where_it_is()
    {
        var alert = Alert(Severity.Warning);
        var at = new DateTimeOffset(2026, 11, 26, 21, 19, 0, TimeSpan.Zero);
        var n = Assert.Single(Notification.For(alert, "escalated", at, "not acknowledged within 15 min: notified again", false, Registry));
        using var body = JsonDocument.Parse(n.Body);
        var root = body.RootElement;
        Assert.Equal(n.NotificationId, root.GetProperty("notificationId").GetString());
        Assert.Equal("manager", root.GetProperty("recipient").GetProperty("kind").GetString());
        Assert.Equal("pm-greenleaf", root.GetProperty("recipient").GetProperty("id").GetString());
        Assert.Equal("escalated", root.GetProperty("transition").GetProperty("kind").GetString());
        Assert.Equal("2026-11-26T21:19:00.000Z", root.GetProperty("transition").GetProperty("at").GetString());
        Assert.Equal("not acknowledged within 15 min: notified again", root.GetProperty("transition").GetProperty("reason").GetString());
        Assert.Equal(AlertJson.ToJson(alert), root.GetProperty("alert").GetRawText());
        Assert.Equal("88 Wutong Rd", root.GetProperty("site").GetProperty("address").GetString());
        Assert.Equal(30.28, root.GetProperty("site").GetProperty("lat").GetDouble());
        Assert.Equal("building 3, unit 2, floor 5, room 502", root.GetProperty("location").GetProperty("description").GetString());
        Assert.Equal(5, root.GetProperty("location").GetProperty("floor").GetInt32());
    }

    [Fact]
    public void A_location_part_the_registry_does_not_give_is_null_in_the_body_as_in_the_status_api()
    {
        var alert = Alert(Severity.Critical) with { DeviceId = "p-0001" };
        var n = Notification.For(alert, "opened", Feed.T0, null, false, Registry)[0];
        using var body = JsonDocument.Parse(n.Body);
        var location = body.RootElement.GetProperty("location");
        Assert.Equal("shed-A", location.GetProperty("building").GetString());
        Assert.All(new[] { "unit", "floor", "room" }, name => Assert.Equal(JsonValueKind.Null, location.GetProperty(name).ValueKind));
    }

    [Fact]
    public void Retries_back_off_exponentially_with_jitter_up_to_a_cap_and_give_up_after_a_day()
    {
        var retry = DeliveryRetry.Default;
        Assert.Equal([2, 4, 8, 16, 32, 60, 60, 60], Enumerable.Range(1, 8).Select(n => retry.NominalDelay(n).TotalSeconds));
        Assert.Equal(TimeSpan.FromSeconds(1), retry.DelayAfter(1, 0));
        Assert.Equal(TimeSpan.FromSeconds(2), retry.DelayAfter(1, 1));
        Assert.Equal(TimeSpan.FromSeconds(45), retry.DelayAfter(9, 0.5));
        Assert.Equal(TimeSpan.FromSeconds(60), retry.NominalDelay(1000));

        var created = Feed.T0;
        Assert.Equal(created.AddHours(23).AddSeconds(60), retry.NextAttempt(created, created.AddHours(23), 100, 1));
        Assert.Equal(TimeSpan.FromSeconds(1 + 2 + 4 + 8 + 16 + (30 * 95)), retry.ShortestTriedFor(100));
        Assert.Null(retry.NextAttempt(created, created.AddHours(24), 2_900, 0)); // a day old, and tried for a day
        Assert.Equal(created.AddHours(25).AddSeconds(1), retry.NextAttempt(created, created.AddHours(25), 1, 0)); // a day old, tried once: a host was down
        Assert.Null(retry.NextAttempt(created, created.AddHours(48), 2_900, 0));
    }

    private static Alert Alert(Severity severity) => new(
        SmartPower.Alerts.Alert.IdFor("xihu-wutong", "m-0001", AlertType.Leakage, null, Feed.T0.ToUnixTimeMilliseconds()),
        AlertType.Leakage,
        severity,
        "m-0001",
        "xihu-wutong",
        null,
        Feed.T0,
        null,
        AlertState.Open,
        new Evidence([new EvidenceItem("leakageMa", 120)]));
}
