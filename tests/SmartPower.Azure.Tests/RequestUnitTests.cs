using System.Globalization;
using System.Text;
using SmartPower.Cosmos;
using SmartPower.Registry;
using Xunit.Abstractions;

namespace SmartPower.Azure.Tests;

/// <summary>
/// Request units per 1,000 readings, from the store's own request charges (<see cref="CosmosStore.Charges"/>: the
/// <c>x-ms-request-charge</c> of every response, with the requests and bytes written by operation), for 30 meters at one
/// reading per 10 s, batches of 10 s to 5 min of event time, a cold process (every device read each batch) and a warm one
/// (devices it saved last not read again). The test server charges a flat 1 RU per request, so its figure is the number
/// of requests; the Azure figure applies Cosmos DB's published charges for the measured document sizes (a point read of
/// up to 1 KB: 1 RU; a write of up to 1 KB: 4.95 RU, 2 KB: 6.29 RU, with default indexing, which this store narrows).
/// Run with <c>--logger "console;verbosity=detailed"</c> to see the table.
/// </summary>
public sealed class RequestUnitTests(ITestOutputHelper output)
{
    private const int Meters = 30;
    private const double Minutes = 15;

    [Fact]
    public async Task Request_units_per_thousand_readings_by_batch_window()
    {
        var registry = Registry();
        var events = Events(registry);
        output.WriteLine($"{events.Count} readings of {Meters} meters; per 1,000 readings:");
        output.WriteLine("window  process  requests  server-RU  device-doc-bytes  Azure-RU  Azure-RU/reading");
        var results = new Dictionary<(int, bool), double>();
        foreach (var window in new[] { 10, 60, 120, 300 })
        {
            foreach (var warm in new[] { false, true })
            {
                var options = new CosmosStoreOptions();
                var store = await CosmosServer.NewStoreAsync(registry, options);
                try
                {
                    var processor = new DeviceBatchProcessor(registry, store, store, new RecordingCommands(), store, new PipelineMetrics(), cache: warm ? new DeviceRecordCache() : null);
                    foreach (var batch in events.GroupBy(e => e.ArrivedAtMs / (window * 1000L)))
                    {
                        await processor.ProcessAsync(0, [.. batch], CancellationToken.None);
                    }

                    var per = 1000.0 / events.Count;
                    var charges = store.Charges.Read();
                    var requests = charges.Sum(c => c.Requests) * per;
                    var server = charges.Sum(c => c.RequestUnits) * per;
                    var azure = charges.Sum(c => AzureRequestUnits(c)) * per;
                    var device = charges.Single(c => c.Operation == "device.write");
                    var docBytes = device.BytesWritten / (double)device.Requests;
                    results[(window, warm)] = azure / 1000;
                    output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{window,4} s  {(warm ? "warm" : "cold"),7}  {requests,8:F0}  {server,9:F0}  {docBytes,16:F0}  {azure,8:F0}  {azure / 1000,16:F3}"));
                    Assert.Equal(requests, server, 6); // the test server's flat charge: 1 RU a request
                }
                finally
                {
                    await CosmosServer.DropAsync(options);
                }
            }
        }

        // Per reading, a device costs one read and one write per batch: the longer the batch, the cheaper a reading.
        Assert.True(results[(10, false)] > results[(60, false)] && results[(60, false)] > results[(120, false)]);
        Assert.True(results[(120, true)] <= 0.5, $"{results[(120, true)]:F3} RU a reading with 2-minute batches, warm");
    }

    /// <summary>Cosmos DB's published charge for the operation at its measured document size (session consistency).</summary>
    private static double AzureRequestUnits(RequestCharges.Snapshot c)
    {
        var size = c.BytesWritten / (double)Math.Max(1, c.Requests);
        var isWrite = c.Operation.EndsWith(".write", StringComparison.Ordinal);
        var each = isWrite ? (size <= 1024 ? 4.95 : size <= 2048 ? 6.29 : 6.67) : 1.0;
        return c.Requests * each;
    }

    private static DeviceRegistry Registry()
    {
        var devices = string.Join(",", Enumerable.Range(1, Meters).Select(i =>
            $$"""{"deviceId":"m-{{i:D4}}","siteId":"{{Feed.Site}}","kind":"meter","circuit":"dwelling","ratedCurrentA":40,"reportIntervalS":10}"""));
        return RegistryLoader.Parse($$"""{"sites":[{"siteId":"{{Feed.Site}}","name":"Wutong"}],"devices":[{{devices}}]}""");
    }

    private static List<TelemetryEvent> Events(DeviceRegistry registry)
    {
        var events = new List<TelemetryEvent>();
        var random = new Random(7);
        for (var t = 0; t < Minutes * 60; t += 10)
        {
            for (var i = 0; i < registry.Devices.Count; i++)
            {
                var current = 3 + (random.NextDouble() * 8);
                events.Add(Night.Event(events.Count, Feed.Topic(registry.Devices[i].DeviceId), Feed.MeterPayload(t + (i % 8), (t / 10) + 1, Math.Round(current, 2)), t));
            }
        }

        return events;
    }
}
