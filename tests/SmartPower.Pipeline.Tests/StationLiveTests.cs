using System.Text.Json;
using SmartPower.Alerts;
using SmartPower.Api;
using SmartPower.Api.Access;
using SmartPower.Api.Live;
using SmartPower.Escalation;
using SmartPower.Notifications;
using SmartPower.Registry;
using SmartPower.Sqlite;

namespace SmartPower.Pipeline.Tests;

/// <summary>
/// The station's live stream at two edges a review found (each failed on the old code): a quiet station among busy
/// ones, and an escalation pass in which one step cannot be recorded.
/// </summary>
public sealed class StationLiveTests : IAsyncLifetime
{
    private readonly TempDirectory _directory = new("station-live");
    private readonly DeviceRegistry _registry = Tenancy.Registry();
    private SqliteStore _store = null!;

    public async Task InitializeAsync() => _store = await SqliteStore.OpenAsync(new SqliteStoreOptions { Path = _directory.File("store.db") });

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        _directory.Dispose();
    }

    /// <summary>
    /// Other districts' alerts change every 100 ms. The heartbeat restarted at every change of any station's alert, so a
    /// quiet station's stream sent nothing, and the console's 45 s watchdog showed "connection lost" over and over.
    /// </summary>
    [Fact]
    public async Task A_quiet_station_gets_heartbeats_while_other_stations_alerts_change()
    {
        var api = new StatusApi(_registry, _store, _store, _store) { HeartbeatInterval = TimeSpan.FromMilliseconds(500) };
        var (_, key) = await ApiKeys.IssueAsync(_store, Role.DutyOfficer, "fs-1", "fs-1 desk", TimeProvider.System, CancellationToken.None);
        var other = await PlantAsync("cedar-m1", AlertType.Leakage, Severity.Critical); // fs-2's district
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var watch = await api.WatchStationAsync(key, "fs-1", cancel.Token);
        await using var events = new Events(watch.Events, cancel.Token);
        Assert.Equal("snapshot", (await events.NextAsync(TimeSpan.FromSeconds(5)))!.Name);

        // Another district's alert changes every 100 ms (updates, acknowledgements, ...).
        var busy = Task.Run(async () =>
        {
            while (!cancel.IsCancellationRequested)
            {
                api.Feed.Publish(other.AlertId);
                await Task.Delay(100, CancellationToken.None);
            }
        });

        var next = await events.NextAsync(TimeSpan.FromSeconds(3));
        await cancel.CancelAsync();
        await busy;
        Assert.Equal("heartbeat", next?.Name);
    }

    /// <summary>
    /// Two warnings raised to the station in one escalation pass; the second's record fails (disk full, database
    /// locked). The pass threw, so the first, recorded, was never published to the stream, and the next pass did not
    /// return it (already in its history): the console never showed it. Now a pass goes on past a failed step and
    /// returns what it recorded, and the next pass takes the failed one.
    /// </summary>
    [Fact]
    public async Task A_warning_raised_to_the_station_reaches_the_stream_even_when_a_later_step_of_the_pass_fails()
    {
        var api = new StatusApi(_registry, _store, _store, _store) { HeartbeatInterval = TimeSpan.FromMinutes(5) };
        var (_, key) = await ApiKeys.IssueAsync(_store, Role.DutyOfficer, "fs-1", "fs-1 desk", TimeProvider.System, CancellationToken.None);
        var a = await PlantAsync("acacia-m1", AlertType.Leakage, Severity.Warning);
        var b = await PlantAsync("birch-m1", AlertType.Leakage, Severity.Warning);
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var watch = await api.WatchStationAsync(key, "fs-1", cancel.Token);
        await using var events = new Events(watch.Events, cancel.Token);
        Assert.Equal(0, JsonDocument.Parse((await events.NextAsync(TimeSpan.FromSeconds(5)))!.Data).RootElement.GetProperty("alerts").GetArrayLength());

        // Both warnings are 16 minutes unacknowledged; the second RecordAsync of the first pass fails.
        var escalator = new Escalator(new FailingOnce(_store, failOnCall: 2), _registry, time: new Later(TimeSpan.FromMinutes(16)));
        for (var pass = 0; pass < 2; pass++)
        {
            // What NotificationService.EscalateAsync does with a pass.
            var failures = 0;
            foreach (var step in await escalator.RunOnceAsync(CancellationToken.None, (_, _) => failures++))
            {
                api.Feed.Publish(step.Alert.AlertId);
            }

            Assert.Equal(pass == 0 ? 1 : 0, failures);
        }

        // Both are on the station's list now...
        var listed = await api.StationAlertsAsync(key, "fs-1", null, null, CancellationToken.None);
        Assert.Equal(2, ((AlertPage)listed.Body).Items.Count);

        // ...and the open stream is told of both.
        var sent = new HashSet<string>(StringComparer.Ordinal);
        while (await events.NextAsync(TimeSpan.FromSeconds(2)) is { } e)
        {
            if (e.Name == "alert")
            {
                sent.Add(JsonDocument.Parse(e.Data).RootElement.GetProperty("alertId").GetString()!);
            }
        }

        Assert.Equal(new[] { a.AlertId, b.AlertId }.Order(StringComparer.Ordinal), sent.Order(StringComparer.Ordinal));
    }

    private async Task<Alert> PlantAsync(string deviceId, AlertType type, Severity severity)
    {
        _registry.TryGetDevice(deviceId, out var device);
        var openedAt = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        var alert = new Alert(Alert.IdFor(device.SiteId, deviceId, type, null, openedAt.ToUnixTimeMilliseconds()), type, severity, deviceId, device.SiteId, null, openedAt, null, AlertState.Open,
            new Evidence(new EvidenceItem("leakageMa", 60)));
        List<AlertTransition> transitions = [new(TransitionKind.Opened, alert, openedAt.ToUnixTimeMilliseconds())];
        await _store.CommitAsync(new BatchCommit(0, transitions, [], null) { Notifications = Notification.ForTransitions(transitions, _registry) }, CancellationToken.None);
        return alert;
    }

    private sealed class Later(TimeSpan by) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + by;
    }

    private sealed class FailingOnce(SqliteStore store, int failOnCall) : IEscalationStore
    {
        private int _calls;

        public Task<IReadOnlyList<AlertWatch>> GetWatchesAsync(CancellationToken cancellationToken) => store.GetWatchesAsync(cancellationToken);

        public Task<IReadOnlyList<Notification>?> RecordAsync(EscalationStep step, IReadOnlyList<Notification> notifications, CancellationToken cancellationToken) =>
            ++_calls == failOnCall ? throw new IOException("disk I/O error") : store.RecordAsync(step, notifications, cancellationToken);
    }

    /// <summary>Reads a live stream with timeouts, one MoveNextAsync in flight at a time.</summary>
    private sealed class Events : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop;
        private readonly IAsyncEnumerator<LiveEvent> _enumerator;
        private Task<bool>? _pending;

        public Events(IAsyncEnumerable<LiveEvent> events, CancellationToken cancellationToken)
        {
            _stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            _enumerator = events.GetAsyncEnumerator(_stop.Token);
        }

        public async Task<LiveEvent?> NextAsync(TimeSpan within)
        {
            _pending ??= _enumerator.MoveNextAsync().AsTask();
            if (await Task.WhenAny(_pending, Task.Delay(within, CancellationToken.None)) != _pending)
            {
                return null;
            }

            var more = await _pending;
            _pending = null;
            return more ? _enumerator.Current : null;
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            if (_pending is not null)
            {
                try
                {
                    await _pending;
                }
                catch (OperationCanceledException)
                {
                }
            }

            await _enumerator.DisposeAsync();
            _stop.Dispose();
        }
    }
}
