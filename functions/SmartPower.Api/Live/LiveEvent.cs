namespace SmartPower.Api.Live;

/// <summary>One server-sent event of the console stream: its name and one line of JSON.</summary>
public sealed record LiveEvent(string Name, string Data)
{
    /// <summary>The event in the <c>text/event-stream</c> format, as every host writes it.</summary>
    public string ToServerSentEvent() => $"event: {Name}\ndata: {Data}\n\n";
}

/// <summary>What a watch request gets: a refusal (401, 403) or the stream of events.</summary>
public sealed record LiveWatch(ApiResult? Refusal, IAsyncEnumerable<LiveEvent> Events);
