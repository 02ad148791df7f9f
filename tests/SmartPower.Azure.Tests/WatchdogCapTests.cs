using SmartPower.Alerts;
using SmartPower.Cosmos;
using SmartPower.Registry;

namespace SmartPower.Azure.Tests;

/// <summary>The watchdog's cap on one sweep (<see cref="Watchdog.MaxPerRun"/>) on the Azure path.</summary>
public sealed class WatchdogCapTests : IAsyncLifetime
{
    // Two meters that report hourly (offline limit 3 h), two every 10 s (limit 60 s), in one site.
    private const string RegistryJson = """
        {"sites":[{"siteId":"xihu-wutong","name":"Wutong Apartments","address":"88 Wutong Rd","fireStation":"xihu-3","managerId":"pm-greenleaf","timeZone":"Asia/Shanghai"}],
         "devices":[
          {"deviceId":"m-0001","siteId":"xihu-wutong","kind":"meter","circuit":"common-area","ratedCurrentA":16,"reportIntervalS":3600},
          {"deviceId":"m-0002","siteId":"xihu-wutong","kind":"meter","circuit":"common-area","ratedCurrentA":16,"reportIntervalS":3600},
          {"deviceId":"m-0100","siteId":"xihu-wutong","kind":"meter","circuit":"dwelling","ratedCurrentA":40,"reportIntervalS":10},
          {"deviceId":"m-0200","siteId":"xihu-wutong","kind":"meter","circuit":"dwelling","ratedCurrentA":40,"reportIntervalS":10}]}
        """;

    private readonly CosmosStoreOptions _options = new();
    private readonly DeviceRegistry _registry = RegistryLoader.Parse(RegistryJson);
    private CosmosStore _store = null!;

    public async Task InitializeAsync() => _store = await CosmosServer.NewStoreAsync(_registry, _options);

    public Task DisposeAsync() => CosmosServer.DropAsync(_options);

    /// <summary>
    /// Sequence: the hourly meters m-0001 and m-0002 report at 0 s; m-0100 reports every 10 s until 600 s and then falls
    /// silent; m-0200 keeps reporting. The watchdog sweeps every minute with a cap of 2 devices a run (10,000 on
    /// Azure, <c>WatchdogMaxPerRun</c>; scaled down here with the number of hourly devices). Its query
    /// (<c>FindSilentAsync</c>) returned the devices heard before now - (shortest limit, 60 s) - grace (90 s), capped at
    /// MaxPerRun, and only then did the watchdog check each device's own limit: the hourly meters, silent for more than
    /// 150 s but far within their 3 h, filled the cap at every sweep in the order the document lists them, and were
    /// skipped, so m-0100's offline alert was never raised (found in review). The device's own limit now comes first.
    /// </summary>
    [Fact]
    public async Task Devices_within_their_own_longer_limit_do_not_fill_the_sweep_s_cap_and_hide_a_silent_device()
    {
        var time = new ManualTime(Feed.T0);
        var states = new QueryingStates(_store, _registry);
        var processor = new DeviceBatchProcessor(_registry, states, _store, new RecordingCommands(), _store, new PipelineMetrics());
        var watchdog = new Watchdog(_registry, states, _store, time) { MaxPerRun = 2 };
        var seq = new Dictionary<string, long>();
        var raised = new List<AlertTransition>();
        for (var minute = 0; minute < 30; minute++)
        {
            var batch = new List<TelemetryEvent>();
            for (var t = minute * 60.0; t < (minute + 1) * 60; t += 10)
            {
                foreach (var device in new[] { "m-0001", "m-0002", "m-0100", "m-0200" })
                {
                    var sends = device switch
                    {
                        "m-0001" or "m-0002" => t == 0,
                        "m-0100" => t < 600,
                        _ => true,
                    };
                    if (sends)
                    {
                        var n = seq[device] = seq.GetValueOrDefault(device) + 1;
                        batch.Add(Night.Event(n, Feed.Topic(device), Feed.MeterPayload(t, n, 5), t));
                    }
                }
            }

            await processor.ProcessAsync(0, batch, CancellationToken.None);
            time.Now = Feed.T0.AddSeconds((minute + 1) * 60);
            raised.AddRange(await watchdog.RunAsync(CancellationToken.None));
        }

        // m-0100 was last heard at 590 s: its offline alert is due at 650 s and is raised by the first sweep past
        // 740 s (its limit and the 90 s grace). Before the fix: no alert at all by 1800 s.
        var offline = Assert.Single(raised, t => t.Alert.DeviceId == "m-0100" && t.Kind == TransitionKind.Opened);
        Assert.Equal(Feed.T0.AddSeconds(650), offline.Alert.OpenedAt);
    }

    /// <summary>
    /// The store, with the watchdog's query answered as <c>CosmosStore.FindSilentAsync</c> answers it (the test server
    /// cannot run Cosmos DB SQL): the devices of the site's document in the order the document holds them (by id),
    /// those with a reading, no watchdog alert, heard before the cutoff and due, the first <c>max</c> of them.
    /// </summary>
    private sealed class QueryingStates(CosmosStore store, DeviceRegistry registry) : IDeviceStateStore
    {
        public Task<IReadOnlyDictionary<string, DeviceRecord>> LoadAsync(int partition, IReadOnlyCollection<Device> devices, CancellationToken cancellationToken) => store.LoadAsync(partition, devices, cancellationToken);

        public Task<IReadOnlyList<string?>> SaveAsync(IReadOnlyList<DeviceRecord> records, CancellationToken cancellationToken) => store.SaveAsync(records, cancellationToken);

        public Task<ReadOnlyMemory<byte>?> LoadClockAsync(int partition, CancellationToken cancellationToken) => store.LoadClockAsync(partition, cancellationToken);

        public Task SaveClockAsync(int partition, ReadOnlyMemory<byte> clock, CancellationToken cancellationToken) => store.SaveClockAsync(partition, clock, cancellationToken);

        public void Forget(int partition) => store.Forget(partition);

        public async Task<IReadOnlyList<DeviceRecord>> FindSilentAsync(long heardBeforeMs, Func<DeviceRecord, bool> due, int max, CancellationToken cancellationToken)
        {
            var all = await store.LoadAsync(0, [.. registry.Devices], cancellationToken);
            return [.. all.Values.OrderBy(r => r.DeviceId, StringComparer.Ordinal).Where(r => r.LastReadingTsMs is not null && r.WatchdogOffline is null && r.HeardAtMs < heardBeforeMs && due(r)).Take(max)];
        }
    }
}
