using System.Net.ServerSentEvents;

namespace SmartPower.Api.Live;

/// <summary>One event of the console stream: its name (the server-sent event's type) and one line of JSON.</summary>
public sealed record LiveEvent(string Name, string Data)
{
    /// <summary>The event as a server-sent event: <c>event: NAME</c>, <c>data: JSON</c>; every host writes these.</summary>
    public SseItem<string> ToSseItem() => new(Data, Name);
}

/// <summary>What a watch request gets: a refusal (401, 403) or the stream of events.</summary>
public sealed record LiveWatch(ApiResult? Refusal, IAsyncEnumerable<LiveEvent> Events)
{
    /// <summary>The events as server-sent events, for a host to write (ASP.NET's ServerSentEvents result, or <see cref="SseFormatter"/>).</summary>
    public IAsyncEnumerable<SseItem<string>> Items => Events.Select(e => e.ToSseItem());

    /// <summary>Writes <see cref="Items"/> to <paramref name="body"/>, each flushed as it comes, until the stream ends or the caller goes.</summary>
    public Task WriteAsync(Stream body, CancellationToken cancellationToken) => SseFormatter.WriteAsync(Items, body, cancellationToken);
}

/// <summary>
/// How a host that does not see the pipeline's changes as they are stored (Azure Functions: detection runs elsewhere)
/// follows a station: it reads the station's list every <see cref="Interval"/> and sends what changed, so a change
/// reaches the console within one interval; it ends the response after <see cref="Lifetime"/> (under Azure's 230 s
/// limit for an HTTP response), and the console reconnects and starts again from a snapshot.
/// </summary>
public sealed record StationPolling
{
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(2);

    public TimeSpan Lifetime { get; init; } = TimeSpan.FromSeconds(200);
}
