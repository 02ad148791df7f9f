namespace SmartPower.Api.Console;

/// <summary>The duty-officer console: one static page (HTML, CSS and script inline), embedded in this assembly so any host serves it as it is.</summary>
public static class ConsolePage
{
    public const string ContentType = "text/html; charset=utf-8";

    /// <summary>The page's bytes, read once.</summary>
    public static ReadOnlyMemory<byte> Html { get; } = Read();

    private static byte[] Read()
    {
        using var stream = typeof(ConsolePage).Assembly.GetManifestResourceStream("console.html")
            ?? throw new InvalidOperationException("the console page is missing from the build");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
