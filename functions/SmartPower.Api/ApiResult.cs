using System.Text.Json.Serialization.Metadata;

namespace SmartPower.Api;

/// <summary>
/// What a handler answers: a status code and a body with the type information to write it. A host writes it as it
/// is (<see cref="ContentType"/>, <see cref="Status"/>, <see cref="Body"/> through <see cref="BodyType"/>), so every host
/// answers the same bytes.
/// </summary>
public sealed record ApiResult(int Status, object Body, JsonTypeInfo BodyType)
{
    public string ContentType => Body is Problem ? "application/problem+json" : "application/json";

    public static ApiResult Ok<T>(T body, JsonTypeInfo<T> type, int status = 200)
        where T : notnull => new(status, body, type);

    public static ApiResult Problem(int status, string? detail) => new(status, Api.Problem.Of(status, detail), ApiJson.Default.Problem);

    public static ApiResult Unauthorized { get; } = Problem(401, "send a valid API key in the X-Api-Key header");

    public static ApiResult Forbidden(string detail) => Problem(403, detail);

    public static ApiResult BadRequest(string detail) => Problem(400, detail);

    public static ApiResult NotFound(string what) => Problem(404, $"no {what} of that id is visible to this key");
}
