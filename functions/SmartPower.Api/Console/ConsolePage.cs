namespace SmartPower.Api.Console;

/// <summary>The duty-officer console: one static page (HTML, CSS and script inline), embedded in this assembly so any host serves it as it is.</summary>
public static class ConsolePage
{
    public const string ContentType = "text/html; charset=utf-8";

    /// <summary>Where the page finds the API, relative to its own address: the local host serves it at <c>/console</c>, beside <c>/api</c>.</summary>
    public const string DefaultApiBase = "api/v1/";

    private const string ApiBaseTag = "<meta name=\"smartpower-api\" content=\"" + DefaultApiBase + "\">";

    /// <summary>The page's bytes, read once, with its API at <see cref="DefaultApiBase"/>.</summary>
    public static ReadOnlyMemory<byte> Html { get; } = Read();

    /// <summary>
    /// The page for a host that serves it elsewhere: <paramref name="apiBase"/> is the API's <c>v1/</c> relative to the
    /// page's address (or absolute), e.g. <c>v1/</c> for a page at <c>/api/console</c>.
    /// </summary>
    public static ReadOnlyMemory<byte> WithApiBase(string apiBase)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(apiBase);
        var page = System.Text.Encoding.UTF8.GetString(Html.Span);
        var tag = "<meta name=\"smartpower-api\" content=\"" + System.Net.WebUtility.HtmlEncode(apiBase) + "\">";
        return System.Text.Encoding.UTF8.GetBytes(page.Replace(ApiBaseTag, tag, StringComparison.Ordinal));
    }

    private static byte[] Read()
    {
        using var stream = typeof(ConsolePage).Assembly.GetManifestResourceStream("console.html")
            ?? throw new InvalidOperationException("the console page is missing from the build");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        var page = copy.ToArray();
        return System.Text.Encoding.UTF8.GetString(page).Contains(ApiBaseTag, StringComparison.Ordinal)
            ? page
            : throw new InvalidOperationException("the console page does not say where its API is");
    }
}
