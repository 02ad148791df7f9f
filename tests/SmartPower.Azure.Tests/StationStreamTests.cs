using System.IO.Pipelines;
using System.Net.ServerSentEvents;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Time.Testing;
using SmartPower.Alerts;
using SmartPower.Api;
using SmartPower.Api.Access;
using SmartPower.Api.Live;
using SmartPower.Cosmos;
using SmartPower.Functions;

namespace SmartPower.Azure.Tests;

/// <summary>
/// The station's stream as an HTTP function over the Cosmos DB store on the test server, read with .NET's own SSE
/// parser while a fake clock drives the polling: a critical alert stored by detection reaches the console as an
/// <c>alert</c> event and its clearing as <c>removed</c>; quiet time brings heartbeats; the response ends after its
/// lifetime; keys are refused as on the local host. What it does not cover: the station listing's Cosmos DB query,
/// which the test server cannot run. Here the listing is answered by point reads of the alerts the test stored, with
/// the query's own condition (<see cref="AlertQuery.Matches"/>) and order; the query's text is checked in
/// <see cref="StatusFunctionsTests"/> and runs only on Azure.
/// </summary>
public sealed class StationStreamTests : CosmosNightTests
{
    private const string Station = "xihu-3"; // the fire station of the night's site, xihu-wutong

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 27, 20, 0, 0, TimeSpan.Zero));
    private readonly StationPolling _polling = new() { Interval = TimeSpan.FromSeconds(2), Lifetime = TimeSpan.FromSeconds(60) };

    [Fact]
    public async Task A_console_gets_an_alert_when_one_is_stored_and_removed_when_it_clears_then_the_response_ends()
    {
        var listing = new PointReadListing(Store);
        var functions = Functions(listing);
        var (_, officer) = await ApiKeys.IssueAsync(Store, Role.DutyOfficer, Station, "Station 3", TimeProvider.System, CancellationToken.None);
        var critical = Night.Transitions.Where(t => t.Alert.Severity == Severity.Critical).GroupBy(t => t.Alert.AlertId).First().ToList();
        Assert.Equal(TransitionKind.Cleared, critical[^1].Kind);
        var id = critical[0].Alert.AlertId;

        await using var stream = Open(functions, officer);
        var snapshot = await stream.NextAsync(_time);
        Assert.Equal((200, "text/event-stream"), (stream.Context.Response.StatusCode, stream.Context.Response.ContentType));
        Assert.Equal("snapshot", snapshot.EventType);
        Assert.Equal(0, JsonDocument.Parse(snapshot.Data).RootElement.GetProperty("alerts").GetArrayLength());

        // Detection stores the alert (another instance, in Azure): the next poll sends it.
        listing.Stored.Enqueue(id);
        await Store.CommitAsync(new BatchCommit(0, critical[..^1], [], null), CancellationToken.None);
        var joined = await stream.NextAsync(_time);
        Assert.Equal("alert", joined.EventType);
        using (var alert = JsonDocument.Parse(joined.Data))
        {
            Assert.Equal((id, "open", "critical"), (alert.RootElement.GetProperty("alertId").GetString(), alert.RootElement.GetProperty("state").GetString(), alert.RootElement.GetProperty("severity").GetString()));
        }

        // Nothing changed: heartbeats only, never the same alert again.
        var quiet = await stream.NextAsync(_time, skipHeartbeats: false);
        Assert.Equal("heartbeat", quiet.EventType);

        // A person acknowledges it through the API (any instance): the alert is sent again, as it now is.
        Assert.Equal(200, ((ContentResult)await functions.AcknowledgeAsync(StatusFunctionsTests.Request(officer, """{"actor":"Li"}"""), id, CancellationToken.None)).StatusCode);
        var acknowledged = await stream.NextAsync(_time);
        Assert.Equal("alert", acknowledged.EventType);
        Assert.Equal("Li", JsonDocument.Parse(acknowledged.Data).RootElement.GetProperty("acknowledged").GetProperty("by").GetString());

        // It clears: it leaves the station's list.
        await Store.CommitAsync(new BatchCommit(0, [critical[^1]], [], null), CancellationToken.None);
        var removed = await stream.NextAsync(_time);
        Assert.Equal("removed", removed.EventType);
        Assert.Equal(id, JsonDocument.Parse(removed.Data).RootElement.GetProperty("alertId").GetString());

        // The response ends by itself within its lifetime, and the function answers nothing more.
        Assert.Null(await stream.EndAsync(_time, _polling.Lifetime));
        Assert.IsType<EmptyResult>(await stream.Function);
        var polls = listing.Queries;
        _time.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(polls, listing.Queries);
    }

    [Fact]
    public async Task A_reconnecting_console_starts_from_a_snapshot_of_what_is_open()
    {
        var listing = new PointReadListing(Store);
        var (_, officer) = await ApiKeys.IssueAsync(Store, Role.DutyOfficer, Station, "Station 3", TimeProvider.System, CancellationToken.None);
        var critical = Night.Transitions.Where(t => t.Alert.Severity == Severity.Critical).GroupBy(t => t.Alert.AlertId).First().ToList();
        listing.Stored.Enqueue(critical[0].Alert.AlertId);
        await Store.CommitAsync(new BatchCommit(0, critical[..^1], [], null), CancellationToken.None);

        await using var stream = Open(Functions(listing), officer);
        var snapshot = await stream.NextAsync(_time);
        Assert.Equal("snapshot", snapshot.EventType);
        using var body = JsonDocument.Parse(snapshot.Data);
        Assert.Equal(Station, body.RootElement.GetProperty("fireStation").GetString());
        Assert.Equal([critical[0].Alert.AlertId], body.RootElement.GetProperty("alerts").EnumerateArray().Select(a => a.GetProperty("alertId").GetString()));
    }

    [Fact]
    public async Task Keys_are_refused_as_on_the_local_host()
    {
        var functions = Functions(new PointReadListing(Store));
        var (_, otherStation) = await ApiKeys.IssueAsync(Store, Role.DutyOfficer, "xihu-9", "Station 9", TimeProvider.System, CancellationToken.None);
        var (_, manager) = await ApiKeys.IssueAsync(Store, Role.PropertyManager, "pm-greenleaf", "Greenleaf", TimeProvider.System, CancellationToken.None);
        Assert.Equal(401, Status(await functions.StationStreamAsync(StatusFunctionsTests.Request(null), Station, CancellationToken.None)));
        Assert.Equal(401, Status(await functions.StationStreamAsync(StatusFunctionsTests.Request("spk_not-a-key"), Station, CancellationToken.None)));
        Assert.Equal(403, Status(await functions.StationStreamAsync(StatusFunctionsTests.Request(otherStation), Station, CancellationToken.None)));
        var refused = (ContentResult)await functions.StationStreamAsync(StatusFunctionsTests.Request(manager), Station, CancellationToken.None);
        Assert.Equal((403, "application/problem+json"), (refused.StatusCode, refused.ContentType));
    }

    private StatusFunctions Functions(PointReadListing listing) => new(new StatusApi(Night.Registry, listing, Store, Store, time: _time), _polling);

    private static EventStream Open(StatusFunctions functions, string key)
    {
        var pipe = new Pipe();
        var request = StatusFunctionsTests.Request(key);
        request.HttpContext.Response.Body = pipe.Writer.AsStream();
        async Task<IActionResult> RunAsync()
        {
            try
            {
                return await functions.StationStreamAsync(request, Station, CancellationToken.None);
            }
            finally
            {
                await pipe.Writer.CompleteAsync();
            }
        }

        return new EventStream(request.HttpContext, RunAsync(), SseParser.Create(pipe.Reader.AsStream()).EnumerateAsync().GetAsyncEnumerator());
    }

    private static int Status(IActionResult result) => ((ContentResult)result).StatusCode!.Value;

    /// <summary>A running stream function and its events as the client parses them.</summary>
    private sealed class EventStream(HttpContext context, Task<IActionResult> function, IAsyncEnumerator<SseItem<string>> events) : IAsyncDisposable
    {
        public HttpContext Context => context;

        public Task<IActionResult> Function => function;

        /// <summary>
        /// The next event, moving the fake clock a second at a time while none has come (in real time the function
        /// needs a moment to reach its wait, so a step may be spent before it waits); at most a minute of clock.
        /// </summary>
        public async Task<SseItem<string>> NextAsync(FakeTimeProvider time, bool skipHeartbeats = true)
        {
            while (true)
            {
                Assert.True(await MoveAsync(time, TimeSpan.FromMinutes(1)), "the stream ended");
                if (!skipHeartbeats || events.Current.EventType != "heartbeat")
                {
                    return events.Current;
                }
            }
        }

        /// <summary>Null when the stream ends within <paramref name="within"/> of clock; else the event that came.</summary>
        public async Task<string?> EndAsync(FakeTimeProvider time, TimeSpan within)
        {
            while (await MoveAsync(time, within + TimeSpan.FromSeconds(10)))
            {
                if (events.Current.EventType != "heartbeat")
                {
                    return events.Current.EventType;
                }
            }

            return null;
        }

        public async ValueTask DisposeAsync() => await events.DisposeAsync();

        private async Task<bool> MoveAsync(FakeTimeProvider time, TimeSpan most)
        {
            var next = events.MoveNextAsync().AsTask();
            for (var moved = TimeSpan.Zero; !next.IsCompleted; moved += TimeSpan.FromSeconds(1))
            {
                Assert.True(moved <= most, $"nothing came in {most} of clock");
                await Task.WhenAny(next, Task.Delay(50));
                if (!next.IsCompleted)
                {
                    time.Advance(TimeSpan.FromSeconds(1));
                }
            }

            return await next;
        }
    }
}

/// <summary>
/// The status store with the station listing answered by point reads of the alerts the test stored, with the query's
/// own condition, order and keyset (the test server cannot run the Cosmos DB SQL query); everything else is the Cosmos
/// store's. Counts the listings, to see that a stream that ended reads no more.
/// </summary>
internal sealed class PointReadListing(CosmosStore store) : IStatusStore
{
    private int _queries;

    public System.Collections.Concurrent.ConcurrentQueue<string> Stored { get; } = new();

    public int Queries => Volatile.Read(ref _queries);

    public async Task<IReadOnlyList<StoredAlert>> QueryAlertsAsync(AlertQuery query, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _queries);
        var found = new List<StoredAlert>();
        foreach (var id in Stored)
        {
            if (await store.GetAlertAsync(id, cancellationToken) is { } stored && query.Matches(stored) && After(stored, query.After))
            {
                found.Add(stored);
            }
        }

        return [.. found.OrderByDescending(a => a.Alert.OpenedAt).ThenBy(a => a.Alert.AlertId, StringComparer.Ordinal).Take(query.Limit)];
    }

    public Task<StoredAlert?> GetAlertAsync(string alertId, CancellationToken cancellationToken) => store.GetAlertAsync(alertId, cancellationToken);

    public Task<IReadOnlyList<StoredTransition>> GetTransitionsAsync(string alertId, CancellationToken cancellationToken) => store.GetTransitionsAsync(alertId, cancellationToken);

    public Task<IReadOnlyList<StoredDevice>> GetDevicesAsync(string siteId, CancellationToken cancellationToken) => ((IStatusStore)store).GetDevicesAsync(siteId, cancellationToken);

    public Task<StoredDevice?> GetDeviceAsync(string deviceId, CancellationToken cancellationToken) => ((IStatusStore)store).GetDeviceAsync(deviceId, cancellationToken);

    public Task<HumanActOutcome> AcknowledgeAsync(string alertId, string actor, string? note, CancellationToken cancellationToken) => ((IStatusStore)store).AcknowledgeAsync(alertId, actor, note, cancellationToken);

    public Task<HumanActOutcome> ResolveAsync(string alertId, string actor, string? note, CancellationToken cancellationToken) => ((IStatusStore)store).ResolveAsync(alertId, actor, note, cancellationToken);

    private static bool After(StoredAlert stored, AlertCursor? cursor) =>
        cursor is not { } c
        || stored.Alert.OpenedAt.ToUnixTimeMilliseconds() < c.OpenedAtMs
        || (stored.Alert.OpenedAt.ToUnixTimeMilliseconds() == c.OpenedAtMs && string.CompareOrdinal(stored.Alert.AlertId, c.AlertId) > 0);
}
