using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using SmartPower.Api.Console;
using SmartPower.Functions;

namespace SmartPower.Azure.Tests;

/// <summary>
/// The duty console as the Functions app serves it: the local host's page, told that its API is <c>v1/</c> beside it
/// (the page is at <c>{routePrefix}/console</c>). The page in a browser is tested on the local host
/// (ConsoleBrowserTests), where it finds its API the same way, from its own address; here the address it resolves to.
/// </summary>
public sealed class ConsolePageTests
{
    [Fact]
    public void The_console_page_is_served_with_its_api_beside_it()
    {
        var page = (FileContentResult)StatusFunctions.Console(new DefaultHttpContext().Request);
        Assert.Equal(ConsolePage.ContentType, page.ContentType);
        var html = System.Text.Encoding.UTF8.GetString(page.FileContents);
        Assert.Contains("""<meta name="smartpower-api" content="v1/">""", html, StringComparison.Ordinal);
        Assert.DoesNotContain("\"/api/v1/", html, StringComparison.Ordinal); // no absolute path left in the script

        // Resolved as the browser does: from /api/console (or under a proxy's prefix) to the Functions' /api/v1/.
        Assert.Equal("https://fn.example/api/v1/me", new Uri(new Uri(new Uri("https://fn.example/api/console"), "v1/"), "me").ToString());
        Assert.Equal("https://proxy.example/sp/api/v1/me", new Uri(new Uri(new Uri("https://proxy.example/sp/api/console"), "v1/"), "me").ToString());
        Assert.Contains("""<meta name="smartpower-api" content="api/v1/">""", System.Text.Encoding.UTF8.GetString(ConsolePage.Html.Span), StringComparison.Ordinal);
    }
}
