namespace SmartPower.Api;

/// <summary>
/// An error as RFC 7807 problem details (<c>application/problem+json</c>). <c>type</c> is <c>about:blank</c>, so the
/// title is the HTTP status's phrase and <c>detail</c> says what went wrong for this request. A resource outside the
/// caller's scope is reported exactly as one that does not exist.
/// </summary>
public sealed record Problem(string Type, string Title, int Status, string? Detail)
{
    public static Problem Of(int status, string? detail) => new("about:blank", Phrase(status), status, detail);

    private static string Phrase(int status) => status switch
    {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        413 => "Payload Too Large",
        _ => "Error",
    };
}
