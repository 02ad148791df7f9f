using Microsoft.Azure.Cosmos;
using SmartPower.Alerts;
using SmartPower.Cosmos;

namespace SmartPower.Azure.Tests;

/// <summary>
/// The store's cache of device documents on the Azure path: a read that finished after a newer write of the same process
/// replaced the newer document in the cache (found in review); each document now carries a generation, and the cache
/// keeps the newer copy.
/// </summary>
public sealed class DeviceCacheRaceTests : CosmosNightTests
{
    /// <summary>
    /// Sequence: in one Functions worker (one <see cref="CosmosStore"/> for detection and the watchdog), the watchdog
    /// reads the site's device document p0 (on Azure its query, <c>FindSilentAsync</c>, which remembers every document
    /// it returns, cached or not; here the same read by <c>LoadAsync</c> after the cache started over at
    /// <c>MaxCachedDocuments</c>). Before that response is remembered, detection stores batch 5 (readings 300-360 s,
    /// where m-0001's critical leakage alert opens at 310 s) and caches the new document. Then the watchdog's read is
    /// remembered: the cache holds the document as it was before batch 5. The partition's clock is still the one this
    /// process saved, so batch 6 trusts the cache: it runs on m-0001's state without batch 5, opens a second leakage
    /// alert (at 370 s) and stores it before the device writes fail on the versions; the run again on the fresh state
    /// continues the first alert, and nothing ever clears the second.
    /// What went wrong: a duplicate critical leakage alert, open for ever (and a duplicate fire-station notification).
    /// </summary>
    [Fact]
    public async Task A_device_document_read_before_a_batch_s_write_and_cached_after_it_does_not_run_the_next_batch_on_older_state()
    {
        var hook = new AfterDocumentRead();
        var store = new CosmosStore(CosmosServer.CreateClient(hook), Night.Registry, Options);
        var alerts = new RecordingAlerts(store);
        var processor = new DeviceBatchProcessor(Night.Registry, store, alerts, new RecordingCommands(), store, new PipelineMetrics());
        var batches = Night.Batches(60);
        for (var i = 0; i < batches.Count; i++)
        {
            if (i == 5)
            {
                var batch = batches[i];
                store.ForgetDevices(); // the cache started over (MaxCachedDocuments): the watchdog's read goes to the server
                hook.OnRead = () => processor.ProcessAsync(0, batch, CancellationToken.None); // detection writes meanwhile
                await store.LoadAsync(0, [.. Night.Registry.Devices], CancellationToken.None);
                Assert.Null(hook.OnRead);
                continue;
            }

            await processor.ProcessAsync(0, batches[i], CancellationToken.None);
        }

        foreach (var (id, alert) in Night.FinalAlerts)
        {
            Assert.Equal(alert, (await store.GetAlertAsync(id))!.Alert);
        }

        // Before the fix: a second leakage alert of m-0001, opened at 12:06:10 and open for ever.
        var extra = new List<string>();
        foreach (var id in alerts.Committed.Select(t => t.Alert.AlertId).Distinct().Where(id => !Night.FinalAlerts.ContainsKey(id)))
        {
            var stored = (await store.GetAlertAsync(id))!.Alert;
            extra.Add($"{AlertNames.Of(stored.Type)} {stored.DeviceId} opened {stored.OpenedAt:HH:mm:ss} {AlertNames.Of(stored.State)}");
        }

        Assert.Empty(extra);
    }

    /// <summary>Runs a hook once, after the server answered a read of the device document p0 and before the store sees the answer.</summary>
    private sealed class AfterDocumentRead : RequestHandler
    {
        private Func<Task>? _onRead;

        public Func<Task>? OnRead
        {
            get => Volatile.Read(ref _onRead);
            set => Volatile.Write(ref _onRead, value);
        }

        public override async Task<ResponseMessage> SendAsync(RequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            if (request.Method == HttpMethod.Get && request.RequestUri.OriginalString.EndsWith("/docs/p0", StringComparison.Ordinal)
                && Interlocked.Exchange(ref _onRead, null) is { } hook)
            {
                await hook();
            }

            return response;
        }
    }
}
