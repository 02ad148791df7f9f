using System.Text.Json;
using Microsoft.Playwright;
using SmartPower.Alerts;
using SmartPower.Api.Access;
using SmartPower.Registry;
using Xunit.Abstractions;

namespace SmartPower.Pipeline.Tests;

/// <summary>
/// The duty-officer console in a real browser (Debian's chromium, driven by Playwright): a critical alert raised by
/// devices over MQTT appears on the page within a second of being stored, announced visibly and audibly; acknowledging
/// and resolving it from the page reaches the store; a screenshot shows the dark page with the alert's row.
/// </summary>
public sealed class ConsoleBrowserTests(ITestOutputHelper output)
{
    private const string Chromium = "/usr/bin/chromium";

    private const string RegistryJson = """
        {"sites":[{"siteId":"xihu-wutong","name":"Wutong Apartments","address":"88 Wutong Rd","fireStation":"xihu-3","managerId":"pm-greenleaf"}],
         "devices":[
          {"deviceId":"m-0001","siteId":"xihu-wutong","kind":"meter","circuit":"dwelling","ratedCurrentA":40,"location":{"building":"3","unit":"2","floor":5,"room":"502"}},
          {"deviceId":"m-0002","siteId":"xihu-wutong","kind":"meter","circuit":"dwelling","ratedCurrentA":40,"location":{"building":"3","unit":"2","floor":5,"room":"503"}}]}
        """;

    [Fact]
    public async Task A_critical_alert_from_mqtt_telemetry_appears_within_a_second_and_is_acknowledged_and_resolved_from_the_page()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: test.sh installs it with 'apt-get install -y chromium'");
        await using var api = await ApiHarness.StartAsync(RegistryLoader.Parse(RegistryJson));
        var key = await api.KeyAsync(Role.DutyOfficer, "xihu-3", "station 3 desk");
        var stored = new TaskCompletionSource<(string AlertId, DateTimeOffset At)>(TaskCreationOptions.RunContinuationsAsynchronously);
        api.Pipeline.Pipeline.AlertStored += t =>
        {
            if (t.Kind == TransitionKind.Opened && t.Alert.Severity == Severity.Critical)
            {
                stored.TrySetResult((t.Alert.AlertId, DateTimeOffset.UtcNow));
            }
        };

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--autoplay-policy=no-user-gesture-required"],
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 720 } });
        page.Console += (_, m) => output.WriteLine($"browser {m.Type}: {m.Text}");
        await page.GotoAsync(new Uri(api.BaseAddress, $"/console#key={key}").ToString());
        await page.WaitForSelectorAsync("body[data-stream='live']", new PageWaitForSelectorOptions { Timeout = 15_000 });
        Assert.DoesNotContain(key, page.Url, StringComparison.Ordinal); // taken out of the address bar
        Assert.Equal(0, await page.Locator("li.alert").CountAsync());

        // Residual current of 350 mA on two consecutive readings opens a critical leakage alert.
        await using (var device = await api.Pipeline.ConnectAsync("m-0001"))
        {
            foreach (var (_, topic, payload) in Story.Messages(130).Where(m => m.DeviceId == "m-0001"))
            {
                await device.PublishReliablyAsync(topic, payload, CancellationToken.None);
            }
        }

        var (alertId, raisedAt) = await stored.Task.WaitAsync(TimeSpan.FromSeconds(20));
        var row = page.Locator($"li.alert[data-alert-id='{alertId}']");
        await row.WaitForAsync(new LocatorWaitForOptions { Timeout = 5_000 });
        var shownAt = DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(await row.GetAttributeAsync("data-shown-at") ?? "0", System.Globalization.CultureInfo.InvariantCulture));
        var storedAt = (await api.Store.GetAlertAsync(alertId, CancellationToken.None))!.StoredAt;
        output.WriteLine($"stored_at {storedAt:HH:mm:ss.fff}, AlertStored {raisedAt:HH:mm:ss.fff}, on the page {shownAt:HH:mm:ss.fff}: "
            + $"{(shownAt - storedAt).TotalMilliseconds:0} ms after stored_at, {(shownAt - raisedAt).TotalMilliseconds:0} ms after AlertStored");
        Assert.InRange((shownAt - storedAt).TotalMilliseconds, -50, 1000);

        // Enough to dispatch: compound, address, where inside, device, type, evidence, age.
        var text = await row.InnerTextAsync();
        foreach (var expected in new[] { "Wutong Apartments", "88 Wutong Rd", "building 3", "unit 2", "floor 5", "room 502", "m-0001", "leakage", "leakageMa 350", "not acknowledged" })
        {
            Assert.Contains(expected, text, StringComparison.Ordinal);
        }

        Assert.Matches(@"^\d+ s ago$", await row.Locator(".age").InnerTextAsync());

        // Announced: a banner that names it, the tab title, and the chime played.
        var banner = page.Locator("#announce");
        Assert.True(await banner.IsVisibleAsync());
        Assert.Contains("leakage at Wutong Apartments", await banner.InnerTextAsync(), StringComparison.Ordinal);
        Assert.StartsWith("(1)", await page.TitleAsync(), StringComparison.Ordinal);
        Assert.Equal(1, await page.EvaluateAsync<int>("window.smartpowerConsole.beeps"));

        await CheckScreenshotAsync(browser, page, row);

        // Acknowledge from the page: the store records who and the note, and the row says so.
        await page.FillAsync("#actor", "Officer Li");
        await page.Locator("#actor").DispatchEventAsync("change");
        await row.Locator("[data-act='ack']").ClickAsync();
        await row.Locator("input[name='note']").FillAsync("crew 2 dispatched");
        await row.Locator("button[type='submit']").ClickAsync();
        await Expect(row.Locator(".state")).ToContainTextAsync("acknowledged by Officer Li");
        var acknowledged = (await api.Store.GetAlertAsync(alertId, CancellationToken.None))!;
        Assert.Equal("Officer Li", acknowledged.AcknowledgedBy);
        var entry = (await api.Store.GetTransitionsAsync(alertId, CancellationToken.None)).Single(t => t.Kind == "acknowledged");
        Assert.Equal(("Officer Li", "crew 2 dispatched"), (entry.Actor, entry.Note));

        // Resolve from the page: it leaves the list.
        await row.Locator("[data-act='resolve']").ClickAsync();
        await row.Locator("input[name='note']").FillAsync("breaker replaced");
        await row.Locator("button[type='submit']").ClickAsync();
        await Expect(page.Locator("li.alert")).ToHaveCountAsync(0);
        Assert.Equal("Officer Li", (await api.Store.GetAlertAsync(alertId, CancellationToken.None))!.ResolvedBy);
        Assert.True(await page.Locator("#empty").IsVisibleAsync());
    }

    /// <summary>
    /// Another officer acknowledges an alert (from another console, or curl). The row's "acknowledged by ... ago" was
    /// written once and kept saying "0 s ago" (found in review); it now grows older every second like the alert's age.
    /// </summary>
    [Fact]
    public async Task The_age_of_an_acknowledgement_keeps_counting()
    {
        await using var session = await OneAlertAsync();
        var (api, key, alert, page) = (session.Api, session.Key, session.Alert, session.Page);
        var row = await session.ShowAsync();

        using var client = api.Client(key);
        using var body = new StringContent("""{"actor":"Officer Li"}""", System.Text.Encoding.UTF8, "application/json");
        (await client.PostAsync($"/api/v1/alerts/{alert.AlertId}/ack", body)).EnsureSuccessStatusCode();
        await Expect(row.Locator(".state")).ToContainTextAsync("acknowledged by Officer Li");
        await Expect(row.Locator(".state")).ToContainTextAsync(new System.Text.RegularExpressions.Regex(@"· [3-9] s ago$"), new LocatorAssertionsToContainTextOptions { Timeout = 10_000 });
    }

    /// <summary>
    /// Officer A presses Acknowledge; the server records it, but its answer is slow to come back (a busy network). Meanwhile
    /// officer B resolves the alert, and the stream's <c>removed</c> takes it off A's list. When A's late answer arrives,
    /// <c>submitAct</c> upserts the (acknowledged, unresolved) alert it carries, and the resolved alert is back on the list,
    /// where it stays: the stream has nothing more to say about it.
    /// </summary>
    [Fact]
    public async Task An_acknowledgement_answered_after_the_alert_was_removed_does_not_put_it_back_on_the_list()
    {
        await using var session = await OneAlertAsync();
        var (api, key, alert, page) = (session.Api, session.Key, session.Alert, session.Page);
        var row = await session.ShowAsync();

        // The acknowledgement reaches the server at once; its answer is held back until released.
        var recorded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var answered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await page.RouteAsync("**/ack", async route =>
        {
            var response = await route.FetchAsync();
            recorded.TrySetResult();
            await release.Task;
            await route.FulfillAsync(new RouteFulfillOptions { Response = response });
            answered.TrySetResult();
        });

        await page.FillAsync("#actor", "Officer A");
        await page.Locator("#actor").DispatchEventAsync("change");
        await row.Locator("[data-act='ack']").ClickAsync();
        await row.Locator("button[type='submit']").ClickAsync();
        await recorded.Task.WaitAsync(TimeSpan.FromSeconds(10));

        // Officer B resolves it from elsewhere: the stream removes it from A's page.
        using (var client = api.Client(key))
        using (var body = new StringContent("""{"actor":"Officer B"}""", System.Text.Encoding.UTF8, "application/json"))
        {
            (await client.PostAsync($"/api/v1/alerts/{alert.AlertId}/resolve", body)).EnsureSuccessStatusCode();
        }

        await Expect(page.Locator("li.alert")).ToHaveCountAsync(0);

        // A's answer (200, acknowledged by A) arrives now, after the removal.
        release.SetResult();
        await answered.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await page.WaitForTimeoutAsync(1500);
        Assert.Equal(0, await page.Locator("li.alert").CountAsync());
        Assert.Equal("SmartPower duty console", await page.TitleAsync());
    }

    /// <summary>
    /// The page is (re)loaded while the server answers <c>GET me</c> with a 5xx (the store briefly failing, a proxy's 502
    /// while the host restarts). Only a refusal (401, 403) should sign the console out; <c>resume</c> treats every answer
    /// that is not a network error as one, deletes the key from the tab and leaves the kiosk on the sign-in form for good,
    /// showing no alerts, although the stream's own loop treats the same 5xx as transient and retries.
    /// </summary>
    [Fact]
    public async Task A_console_whose_server_briefly_answers_5xx_on_load_keeps_its_key_and_shows_the_alerts()
    {
        await using var session = await OneAlertAsync();
        var (api, key, alert, page) = (session.Api, session.Key, session.Alert, session.Page);

        // The first answer to GET me is a 503 with a problem body, as a host whose store is briefly unavailable gives.
        var failures = 1;
        await page.RouteAsync("**/api/v1/me", async route =>
        {
            if (Interlocked.Decrement(ref failures) >= 0)
            {
                await route.FulfillAsync(new RouteFulfillOptions
                {
                    Status = 503,
                    ContentType = "application/problem+json",
                    Body = """{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"the store is not available"}""",
                });
            }
            else
            {
                await route.ContinueAsync();
            }
        });

        try
        {
            await session.ShowAsync();
        }
        catch (TimeoutException)
        {
            Assert.Fail($"no alert on the page 15 s after one 503: login form shown = {await page.Locator("#login").IsVisibleAsync()}, "
                + $"login error = '{await page.Locator("#login-error").InnerTextAsync()}', "
                + $"key kept = {await page.EvaluateAsync<bool>("sessionStorage.getItem('smartpower.key') !== null")}");
        }
    }

    /// <summary>Saves a screenshot and reads its pixels back through the browser: a dark page, and the alert's red stripe.</summary>
    private async Task CheckScreenshotAsync(IBrowser browser, IPage page, ILocator row)
    {
        var path = Path.Combine(AppContext.BaseDirectory, "artifacts", "console.png");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = path });
        var info = new FileInfo(path);
        output.WriteLine($"screenshot {path}: {info.Length:N0} bytes");
        Assert.True(info.Exists && info.Length > 10_000, $"screenshot {path} is {info.Length} bytes");

        var box = (await row.BoundingBoxAsync())!;
        var reader = await browser.NewPageAsync();
        var pixels = await reader.EvaluateAsync<JsonElement>(
            """
            async ({ png, stripeX, stripeY }) => {
              const img = new Image();
              img.src = "data:image/png;base64," + png;
              await img.decode();
              const canvas = Object.assign(document.createElement("canvas"), { width: img.width, height: img.height });
              const g = canvas.getContext("2d");
              g.drawImage(img, 0, 0);
              const at = (x, y) => Array.from(g.getImageData(Math.round(x), Math.round(y), 1, 1).data.slice(0, 3));
              let dark = 0, samples = 0;
              for (let y = 5; y < img.height; y += 20) for (let x = 5; x < img.width; x += 20) {
                const [r, gr, b] = at(x, y);
                samples++;
                if (0.2126 * r + 0.7152 * gr + 0.0722 * b < 48) dark++;
              }
              return { width: img.width, height: img.height, darkShare: dark / samples, stripe: at(stripeX, stripeY) };
            }
            """,
            new Dictionary<string, object>
            {
                ["png"] = Convert.ToBase64String(await File.ReadAllBytesAsync(path)),
                ["stripeX"] = (int)box.X + 3,
                ["stripeY"] = (int)(box.Y + (box.Height / 2)),
            });
        await reader.CloseAsync();
        output.WriteLine($"screenshot pixels: {pixels}");
        Assert.Equal(1280, pixels.GetProperty("width").GetInt32());
        Assert.True(pixels.GetProperty("darkShare").GetDouble() > 0.8, $"a dark page: {pixels}");
        var stripe = pixels.GetProperty("stripe").EnumerateArray().Select(c => c.GetInt32()).ToArray();
        Assert.True(stripe[0] > 150 && stripe[1] < 120 && stripe[2] < 120, $"the alert row's stripe is red: [{string.Join(", ", stripe)}]");
    }

    private static ILocatorAssertions Expect(ILocator locator) => Assertions.Expect(locator);

    /// <summary>A host with one critical alert planted, a duty officer's key for its station, and chromium on a blank page.</summary>
    private async Task<Session> OneAlertAsync()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: test.sh installs it with 'apt-get install -y chromium'");
        var api = await ApiHarness.StartAsync(RegistryLoader.Parse(RegistryJson));
        var key = await api.KeyAsync(Role.DutyOfficer, "xihu-3", "station 3 desk");
        var alert = await api.PlantAsync("m-0001", AlertType.Leakage, Severity.Critical, DateTimeOffset.UtcNow);
        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = Chromium, Headless = true });
        var page = await browser.NewPageAsync();
        page.Console += (_, m) => output.WriteLine($"browser {m.Type}: {m.Text}");
        return new Session(api, key, alert, playwright, browser, page);
    }

    private sealed record Session(ApiHarness Api, string Key, Alert Alert, IPlaywright Playwright, IBrowser Browser, IPage Page) : IAsyncDisposable
    {
        /// <summary>Opens the console with the key and waits (15 s at most) for the alert's row.</summary>
        public async Task<ILocator> ShowAsync()
        {
            await Page.GotoAsync(new Uri(Api.BaseAddress, $"/console#key={Key}").ToString());
            var row = Page.Locator($"li.alert[data-alert-id='{Alert.AlertId}']");
            await row.WaitForAsync(new LocatorWaitForOptions { Timeout = 15_000 });
            return row;
        }

        public async ValueTask DisposeAsync()
        {
            await Browser.DisposeAsync();
            Playwright.Dispose();
            await Api.DisposeAsync();
        }
    }
}
