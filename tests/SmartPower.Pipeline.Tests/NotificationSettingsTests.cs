using System.Text;
using SmartPower.Notifications;
using SmartPower.Webhooks;

namespace SmartPower.Pipeline.Tests;

/// <summary>The notifications file (<c>serve --notifications FILE</c>) and the webhook signature.</summary>
public sealed class NotificationSettingsTests
{
    [Fact]
    public void The_file_names_webhooks_by_recipient_with_a_fallback_per_kind_and_times_with_their_units()
    {
        var settings = NotificationSettings.Parse("""
            {"webhooks":[
               {"recipient":"manager","id":"pm-greenleaf","url":"https://pm.example/hook","secret":"0123456789abcdef"},
               {"recipient":"fire-station","id":"*","url":"http://127.0.0.1:9000/any","secret":"fedcba9876543210"}],
             "retry":{"firstDelayS":0.5,"maxDelayS":30},
             "escalation":{"acknowledgeWithinMin":10}}
            """);
        Assert.True(settings.Webhooks.TryFind(new Recipient(RecipientKind.Manager, "pm-greenleaf"), out var manager));
        Assert.Equal("https://pm.example/hook", manager.Url.ToString());
        Assert.False(settings.Webhooks.TryFind(new Recipient(RecipientKind.Manager, "pm-other"), out _));
        Assert.True(settings.Webhooks.TryFind(new Recipient(RecipientKind.FireStation, "xihu-9"), out var station));
        Assert.Equal("fedcba9876543210", station.Secret);
        Assert.Equal((TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(30), TimeSpan.FromHours(24)), (settings.Retry.FirstDelay, settings.Retry.MaxDelay, settings.Retry.GiveUpAfter));
        Assert.Equal((TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(30)), (settings.Escalation.AcknowledgeWithin, settings.Escalation.ReAlarmCriticalAfter));
        Assert.Equal(NotificationSettings.Default.Escalation, NotificationSettings.Parse("{}").Escalation);
    }

    [Theory]
    [InlineData("""{"webhooks":[{"recipient":"tenant","id":"a","url":"http://x/","secret":"0123456789abcdef"}]}""", "webhooks[0]: 'recipient' must be \"manager\" or \"fire-station\"")]
    [InlineData("""{"webhooks":[{"recipient":"manager","id":"a","url":"ftp://x/","secret":"0123456789abcdef"}]}""", "webhooks[0]: 'url' must be an absolute http or https URL")]
    [InlineData("""{"webhooks":[{"recipient":"manager","id":"a","url":"http://x/","secret":"short"}]}""", "webhooks[0]: 'secret' must be at least 16 characters")]
    [InlineData("""{"webhooks":[{"recipient":"manager","url":"http://x/","secret":"0123456789abcdef"}]}""", "webhooks[0]: 'id' is missing")]
    [InlineData("""{"retry":{"firstDelayS":0}}""", "retry: 'firstDelayS' must be a positive number")]
    [InlineData("""{"escalation":{"acknowledgeWithin":15}}""", "escalation: unknown field 'acknowledgeWithin'")]
    [InlineData("""{"webhook":[]}""", "the settings: unknown field 'webhook'")]
    [InlineData("""[1]""", "the settings must be a JSON object")]
    public void A_mistake_is_refused_naming_the_entry_and_field(string json, string message)
    {
        var e = Assert.Throws<NotificationSettingsException>(() => NotificationSettings.Parse(json));
        Assert.StartsWith(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Serve_refuses_a_notifications_file_it_cannot_use_before_starting()
    {
        using var directory = new TempDirectory("settings");
        var file = directory.File("notifications.json");
        File.WriteAllText(file, """{"webhooks":[{"recipient":"manager","id":"pm-1","url":"http://x/","secret":"short"}]}""");
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        Assert.Equal(Host.CommandLine.Failed, Host.CommandLine.Run(["serve", "--registry", directory.File("registry.json"), "--notifications", file], stdout, stderr));
        Assert.Equal("error: notifications: webhooks[0]: 'secret' must be at least 16 characters", stderr.ToString().Trim());
        Assert.Equal(Host.CommandLine.Failed, Host.CommandLine.Run(["serve", "--demo", "--notifications", directory.File("missing.json")], stdout, stderr));
        Assert.Contains("does not exist", stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_signature_verifies_only_for_the_same_secret_body_and_a_recent_timestamp()
    {
        var body = Encoding.UTF8.GetBytes("""{"notificationId":"abc"}""");
        var now = new DateTimeOffset(2026, 11, 26, 21, 0, 0, TimeSpan.Zero);
        var timestamp = now.ToUnixTimeSeconds();
        var signature = WebhookSignature.Sign("0123456789abcdef", timestamp, body);
        var ts = timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.Matches("^sha256=[0-9a-f]{64}$", signature);
        Assert.True(WebhookSignature.Verify("0123456789abcdef", ts, body, signature, now.AddMinutes(4), TimeSpan.FromMinutes(5)));
        Assert.False(WebhookSignature.Verify("0123456789abcdeX", ts, body, signature, now, TimeSpan.FromMinutes(5)));
        Assert.False(WebhookSignature.Verify("0123456789abcdef", ts, [.. body, (byte)' '], signature, now, TimeSpan.FromMinutes(5)));
        Assert.False(WebhookSignature.Verify("0123456789abcdef", (timestamp + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), body, signature, now, TimeSpan.FromMinutes(5)));
        Assert.False(WebhookSignature.Verify("0123456789abcdef", ts, body, signature, now.AddMinutes(6), TimeSpan.FromMinutes(5)));
        Assert.False(WebhookSignature.Verify("0123456789abcdef", ts, body, "sha256=zz", now, TimeSpan.FromMinutes(5)));
        Assert.False(WebhookSignature.Verify("0123456789abcdef", null, body, signature, now, TimeSpan.FromMinutes(5)));
    }

    [Fact]
    public void The_signature_is_the_one_the_README_computes_with_openssl_and_python()
    {
        // README, "Checking a delivery": the same secret, timestamp and body give this value with openssl dgst and Python's hmac.
        var body = Encoding.UTF8.GetBytes("{\"notificationId\":\"abc\",\"x\":\"ü\"}");
        Assert.Equal("sha256=10b016e55c7acffff074db52dcbaf741a0126d498b7b1f88ce53735cd6be828b", WebhookSignature.Sign("0123456789abcdef", 1795726800, body));
    }
}
