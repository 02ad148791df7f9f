namespace SmartPower.Api.Live;

/// <summary>One event of the console stream: its name (the server-sent event's type) and one line of JSON.</summary>
public sealed record LiveEvent(string Name, string Data);

/// <summary>What a watch request gets: a refusal (401, 403) or the stream of events.</summary>
public sealed record LiveWatch(ApiResult? Refusal, IAsyncEnumerable<LiveEvent> Events);
