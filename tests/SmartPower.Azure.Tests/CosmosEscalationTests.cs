using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Azure.Cosmos;
using Microsoft.Extensions.Logging.Abstractions;
using SmartPower.Alerts;
using SmartPower.Cosmos;
using SmartPower.Escalation;
using SmartPower.Functions;
using SmartPower.Notifications;

namespace SmartPower.Azure.Tests;

/// <summary>
/// Escalation on the Cosmos DB store, for real against the test server: the escalation store contract (the same
/// expectations as SQLite's), a crash between the history write and the outbox writes recovered without loss or
/// duplication, and the <c>escalation</c> timer function. The watches query runs only on Azure (the server runs no
/// SQL; its text and indexed fields are in <see cref="QueryShapeTests"/>): here it is answered by point reads of the
/// alerts the test stored, with the query's own condition (<see cref="CosmosStore.WatchOf"/>).
/// </summary>
public sealed class CosmosEscalationTests : EscalationStoreContractTests
{
    private readonly CosmosStoreOptions _options = new();
    private CosmosStore _store = null!;

    protected override IPipelineStore Store => _store;

    protected override IEscalationStore Escalation => new PointReadWatches(_store, _options, StoredAlerts);

    protected override IOutboxStore Outbox => _store;

    public override async Task InitializeAsync() => _store = await CosmosServer.NewStoreAsync(Registry, _options, Time);

    public override Task DisposeAsync() => CosmosServer.DropAsync(_options);

    protected override Task RestartAsync()
    {
        _store = new CosmosStore(CosmosServer.Client, Registry, _options, Time);
        return Task.CompletedTask;
    }

    protected override Task<StoredAlert?> GetAlertAsync(string alertId) => _store.GetAlertAsync(alertId);

    protected override Task<IReadOnlyList<StoredTransition>> GetTransitionsAsync(string alertId) => _store.GetTransitionsAsync(alertId);

    protected override Task<HumanActOutcome> AcknowledgeAsync(string alertId, string actor, string? note) => _store.AcknowledgeAsync(alertId, actor, note);

    /// <summary>The whole outbox container read as a feed (no SQL: the server lists a container's documents), this alert's.</summary>
    protected override async Task<IReadOnlyList<NotificationDelivery>> GetDeliveriesAsync(string alertId)
    {
        var ids = new List<string>();
        using var feed = CosmosServer.Client.GetContainer(_options.Database, CosmosSchema.Outbox).GetItemQueryStreamIterator();
        while (feed.HasMoreResults)
        {
            using var page = await feed.ReadNextAsync();
            page.EnsureSuccessStatusCode();
            using var json = await JsonDocument.ParseAsync(page.Content);
            ids.AddRange(json.RootElement.GetProperty("Documents").EnumerateArray()
                .Where(d => d.GetProperty("alertId").GetString() == alertId)
                .Select(d => d.GetProperty("id").GetString()!));
        }

        var deliveries = new List<NotificationDelivery>();
        foreach (var id in ids)
        {
            deliveries.Add((await _store.GetDeliveryAsync(id))!);
        }

        return deliveries;
    }

    [Fact]
    public async Task A_crash_after_the_history_write_loses_no_notification_the_change_feed_adds_them_once()
    {
        var id = await StoreWarningAsync();
        Time.Advance(TimeSpan.FromMinutes(15));

        // The outbox refuses every write: the process dies after the alert document was replaced.
        await using (var crashing = Crashing(request => IsWrite(request, CosmosSchema.Outbox)))
        {
            await Assert.ThrowsAnyAsync<IOException>(() => new Escalator(crashing.Escalation, Registry, time: Time).RunOnceAsync(CancellationToken.None));
        }

        Assert.Equal(["opened", "escalated"], (await GetTransitionsAsync(id)).Select(t => t.Kind));
        Assert.Equal(Start.AddMinutes(15), (await GetAlertAsync(id))!.RaisedToStationAt);
        Assert.Empty(await EscalationDeliveriesAsync(id));

        // The next pass takes no step again: the document says it was taken.
        Time.Advance(TimeSpan.FromMinutes(1));
        Assert.Empty(await new Escalator(Escalation, Registry, time: Time).RunOnceAsync(CancellationToken.None));
        Assert.Empty(await EscalationDeliveriesAsync(id));

        // The change feed delivers the changed document (at least once): its escalation entry becomes the same
        // notifications the escalator makes, added and posted once however often the change comes.
        var posted = await FeedAsync(id, times: 3);
        Assert.Equal(["escalated manager", "escalated fire-station"], await EscalationDeliveriesAsync(id));
        Assert.Equal(2, posted.Count);
        await AssertAsTheEscalatorMakesThemAsync(id);
    }

    [Fact]
    public async Task A_crash_among_the_outbox_writes_is_finished_by_the_change_feed_without_a_second_copy()
    {
        var id = await StoreWarningAsync();
        Time.Advance(TimeSpan.FromMinutes(15));
        var writes = 0;
        await using (var crashing = Crashing(request => IsWrite(request, CosmosSchema.Outbox) && Interlocked.Increment(ref writes) > 1))
        {
            await Assert.ThrowsAnyAsync<IOException>(() => new Escalator(crashing.Escalation, Registry, time: Time).RunOnceAsync(CancellationToken.None));
        }

        var first = Assert.Single(await GetDeliveriesAsync(id), d => d.Kind == EscalationPolicy.Escalated);
        Time.Advance(TimeSpan.FromMinutes(1));
        Assert.Empty(await new Escalator(Escalation, Registry, time: Time).RunOnceAsync(CancellationToken.None));
        var posted = await FeedAsync(id, times: 2);
        Assert.Equal(["escalated manager", "escalated fire-station"], await EscalationDeliveriesAsync(id));
        Assert.NotEqual(first.Recipient, Assert.Single(posted).Recipient); // only the missing one was added
        Assert.Equal(first.CreatedAt, (await _store.GetDeliveryAsync(first.NotificationId))!.CreatedAt); // the one written before the crash is untouched
        await AssertAsTheEscalatorMakesThemAsync(id);
    }

    [Fact]
    public async Task A_crash_before_the_history_write_leaves_nothing_and_the_next_pass_takes_the_step()
    {
        var id = await StoreWarningAsync();
        Time.Advance(TimeSpan.FromMinutes(15));
        await using (var crashing = Crashing(request => request.Method == HttpMethod.Put && IsDocument(request, CosmosSchema.Alerts)))
        {
            await Assert.ThrowsAnyAsync<IOException>(() => new Escalator(crashing.Escalation, Registry, time: Time).RunOnceAsync(CancellationToken.None));
        }

        Assert.Equal(["opened"], (await GetTransitionsAsync(id)).Select(t => t.Kind));
        Assert.Empty(await EscalationDeliveriesAsync(id));
        Time.Advance(TimeSpan.FromMinutes(1));
        var step = Assert.Single(await new Escalator(Escalation, Registry, time: Time).RunOnceAsync(CancellationToken.None));
        Assert.Equal(Start.AddMinutes(15), step.At); // the same step, dated when its limit ran out
        Assert.Equal(["escalated manager", "escalated fire-station"], await EscalationDeliveriesAsync(id));
        Assert.Empty(await FeedAsync(id, times: 1)); // nothing left for the change feed to add
    }

    [Fact]
    public async Task The_escalation_function_records_a_due_step_and_posts_its_notifications_at_once()
    {
        var id = await StoreWarningAsync();
        Time.Advance(TimeSpan.FromMinutes(16));
        var notifier = new RecordingNotifier();
        var function = new EscalationFunction(new Escalator(Escalation, Registry, time: Time), new OutboxDispatcher(_store, notifier, time: Time), NullLogger<EscalationFunction>.Instance);
        await function.RunAsync(new Microsoft.Azure.Functions.Worker.TimerInfo(), CancellationToken.None);
        await function.RunAsync(new Microsoft.Azure.Functions.Worker.TimerInfo(), CancellationToken.None);

        Assert.Equal([RecipientKind.Manager, RecipientKind.FireStation], notifier.Sent.Select(n => n.Recipient.Kind).Order());
        Assert.All(await GetDeliveriesAsync(id), d => Assert.Equal(d.Kind == EscalationPolicy.Escalated ? DeliveryState.Delivered : DeliveryState.Pending, d.State));
        Assert.Equal(Start.AddMinutes(15), (await GetAlertAsync(id))!.RaisedToStationAt);
    }

    [Fact]
    public async Task The_watches_query_projects_every_field_escalation_reads_from_a_stored_alert()
    {
        var id = await StoreWarningAsync();
        Assert.Equal(HumanActOutcome.Done, await AcknowledgeAsync(id, "pm-zhao", null));
        var text = CosmosStore.WatchesQuery().QueryText;
        var projected = text["SELECT ".Length..text.IndexOf(" FROM ", StringComparison.Ordinal)].Split(", ").Select(f => f["c.".Length..]).ToList();
        using var response = await CosmosServer.Client.GetContainer(_options.Database, CosmosSchema.Alerts).ReadItemStreamAsync(id, new PartitionKey(id));
        var document = (await JsonNode.ParseAsync(response.Content))!.AsObject();
        var projection = new JsonObject(document.Where(p => projected.Contains(p.Key)).Select(p => KeyValuePair.Create(p.Key, p.Value?.DeepClone())));
        Assert.DoesNotContain("history", projection.Select(p => p.Key));
        using var full = JsonDocument.Parse(document.ToJsonString());
        using var part = JsonDocument.Parse(projection.ToJsonString());
        var watch = CosmosStore.WatchOf(part.RootElement);
        Assert.Equal(CosmosStore.WatchOf(full.RootElement), watch);
        Assert.Equal((Start, false, false), (watch!.StoredAt, watch.Escalated, watch.ReAlarmed));
        Assert.Equal((await GetAlertAsync(id))!.AcknowledgedAt, watch.AcknowledgedAt);
    }

    /// <summary>The outbox holds exactly what the escalator makes for the step: the same ids and bodies.</summary>
    private async Task AssertAsTheEscalatorMakesThemAsync(string id)
    {
        var alert = (await GetAlertAsync(id))!.Alert;
        var expected = Notification.For(alert, EscalationPolicy.Escalated, Start.AddMinutes(15), (await GetTransitionsAsync(id)).Single(t => t.Kind == EscalationPolicy.Escalated).Note, raisedToFireStation: true, Registry);
        var outbox = CosmosServer.Client.GetContainer(_options.Database, CosmosSchema.Outbox);
        foreach (var n in expected)
        {
            using var response = await outbox.ReadItemStreamAsync(n.NotificationId, new PartitionKey(n.NotificationId));
            var doc = (await JsonNode.ParseAsync(response.Content))!;
            Assert.Equal(n.Body, doc["body"]!.GetValue<string>());
        }
    }

    /// <summary>The alert document as the change feed delivers it, through the notification function, <paramref name="times"/> times; what was posted.</summary>
    private async Task<IReadOnlyList<PendingNotification>> FeedAsync(string id, int times)
    {
        var notifier = new RecordingNotifier();
        var function = new NotificationFunction(new NotifyingAlertChanges(Registry, _store, new OutboxDispatcher(_store, notifier, time: Time)));
        using var response = await CosmosServer.Client.GetContainer(_options.Database, CosmosSchema.Alerts).ReadItemStreamAsync(id, new PartitionKey(id));
        using var document = await JsonDocument.ParseAsync(response.Content);
        for (var i = 0; i < times; i++)
        {
            await function.RunAsync([document.RootElement.Clone()], CancellationToken.None);
        }

        return [.. notifier.Sent.Where(n => n.Body.Contains("\"kind\":\"escalated\"", StringComparison.Ordinal))];
    }

    /// <summary>
    /// A second process on the same database whose requests matching <paramref name="crashesOn"/> never reach the
    /// server. It writes one notification at a time, so that a crash at the second leaves the first written.
    /// </summary>
    private CrashingProcess Crashing(Func<RequestMessage, bool> crashesOn) =>
        new(CosmosServer.CreateClient(new CrashOn(crashesOn)), Registry, new CosmosStoreOptions { Database = _options.Database, MaxConcurrency = 1 }, Time, StoredAlerts);

    private static bool IsDocument(RequestMessage request, string container) =>
        $"{request.RequestUri.OriginalString}/".Contains($"/colls/{container}/", StringComparison.Ordinal);

    private static bool IsWrite(RequestMessage request, string container) => request.Method == HttpMethod.Post && IsDocument(request, container);

    private sealed class CrashingProcess(CosmosClient client, Registry.DeviceRegistry registry, CosmosStoreOptions options, TimeProvider time, ConcurrentQueue<string> stored) : IAsyncDisposable
    {
        public IEscalationStore Escalation { get; } = new PointReadWatches(new CosmosStore(client, registry, options, time), options, stored);

        public ValueTask DisposeAsync()
        {
            client.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    /// <summary>The process dies at this request: it is never sent.</summary>
    private sealed class CrashOn(Func<RequestMessage, bool> crashesOn) : RequestHandler
    {
        public override Task<ResponseMessage> SendAsync(RequestMessage request, CancellationToken cancellationToken) =>
            crashesOn(request) ? throw new IOException("simulated crash") : base.SendAsync(request, cancellationToken);
    }
}

/// <summary>
/// The Cosmos DB escalation store with its watches query answered by point reads of the alerts the test stored and the
/// query's own condition (<see cref="CosmosStore.WatchOf"/>): the test server runs no SQL.
/// </summary>
internal sealed class PointReadWatches(CosmosStore store, CosmosStoreOptions options, IEnumerable<string> alertIds) : IEscalationStore
{
    public async Task<IReadOnlyList<AlertWatch>> GetWatchesAsync(CancellationToken cancellationToken)
    {
        var alerts = CosmosServer.Client.GetContainer(options.Database, CosmosSchema.Alerts);
        var watches = new List<AlertWatch>();
        foreach (var id in alertIds.Distinct(StringComparer.Ordinal))
        {
            using var response = await alerts.ReadItemStreamAsync(id, new PartitionKey(id), cancellationToken: cancellationToken);
            using var document = await JsonDocument.ParseAsync(response.Content, cancellationToken: cancellationToken);
            if (CosmosStore.WatchOf(document.RootElement) is { } watch)
            {
                watches.Add(watch);
            }
        }

        return watches;
    }

    public Task<IReadOnlyList<Notification>?> RecordAsync(EscalationStep step, IReadOnlyList<Notification> notifications, CancellationToken cancellationToken) =>
        store.RecordAsync(step, notifications, cancellationToken);
}

/// <summary>A notifier that accepts everything and remembers what it was given.</summary>
internal sealed class RecordingNotifier : INotifier
{
    private readonly ConcurrentQueue<PendingNotification> _sent = new();

    public IReadOnlyList<PendingNotification> Sent => [.. _sent];

    public Task<DeliveryResult> SendAsync(PendingNotification notification, int attempt, CancellationToken cancellationToken)
    {
        _sent.Enqueue(notification);
        return Task.FromResult(DeliveryResult.Success(200));
    }
}
