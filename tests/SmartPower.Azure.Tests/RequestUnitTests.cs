using System.Globalization;
using SmartPower.Cosmos;
using SmartPower.Registry;
using Xunit.Abstractions;

namespace SmartPower.Azure.Tests;

/// <summary>
/// Request units per reading, from the store's own request accounting (<see cref="CosmosStore.Charges"/>: every request
/// with its <c>x-ms-request-charge</c> and the document bytes it carried, by operation), for 192 meters at one reading per
/// 10 s on 4 partitions, in sites of 4 to 48 meters (1, 2 or 12 devices of a site per partition, so as many devices per
/// stored document), with trigger batches of 10 s to 5 min of event time, from a warm instance (it kept its partitions:
/// it reads a document only the first time) and a cold one (every document read at every batch).
/// <para>
/// A model, not a measurement of Azure: the test server charges a flat 1 RU per request, so what is measured exactly is
/// the requests and the bytes of each; Cosmos DB's charges are then applied from its published table for the measured
/// document sizes (learn.microsoft.com/azure/cosmos-db/understand-request-unit-consumption, session consistency:
/// <see cref="Published"/>), interpolated between its rows. That table assumes default indexing; the store indexes one
/// path of the device documents, so real writes should cost no more.
/// </para>
/// Run with <c>--logger "console;verbosity=detailed"</c> to see the table (infra/README.md has it).
/// </summary>
public sealed class RequestUnitTests(ITestOutputHelper output)
{
    private const int Partitions = 4;
    private const int PerPartition = 48;
    private const int Minutes = 10;

    /// <summary>Cosmos DB's published charges by document size: KB, point read, write.</summary>
    private static readonly (double Kb, double Read, double Write)[] Published =
    [
        (1, 1.00, 4.95), (2, 1.04, 6.29), (4, 1.14, 6.67), (8, 1.33, 7.04), (16, 1.67, 9.52), (32, 2.19, 11.23),
        (64, 4.76, 22.67), (128, 9.95, 48.19), (256, 20.28, 98.29), (512, 40.95, 184.57), (1024, 145.90, 625.00), (2048, 291.80, 1250.00),
    ];

    [Fact]
    public async Task Request_units_per_reading_by_devices_per_document_and_batch_window()
    {
        output.WriteLine($"{Partitions * PerPartition} meters on {Partitions} partitions, one reading per 10 s, {Minutes} minutes; Azure RU by the published table");
        output.WriteLine("site/partition  window  process  requests/1000  doc-bytes  Azure-RU/reading");
        var results = new Dictionary<(int PerDoc, int Window, bool Warm), double>();
        foreach (var perDoc in new[] { 1, 2, 3, 12 })
        {
            var registry = Registry(perDoc);
            var events = Events(registry, perDoc);
            foreach (var (window, warm) in new[] { (60, false), (60, true), (120, true), (300, true) })
            {
                var options = new CosmosStoreOptions { CacheDevices = warm };
                var store = await CosmosServer.NewStoreAsync(registry, options);
                try
                {
                    var processor = new DeviceBatchProcessor(registry, store, store, new RecordingCommands(), store, new PipelineMetrics());
                    foreach (var batch in events.GroupBy(e => (e.Event.ArrivedAtMs / (window * 1000L), e.Partition)))
                    {
                        await processor.ProcessAsync(batch.Key.Partition, [.. batch.Select(e => e.Event)], CancellationToken.None);
                    }

                    var charges = store.Charges.Read();
                    var requests = charges.Sum(c => c.Requests) * 1000.0 / events.Count;
                    var azure = charges.Sum(AzureRequestUnits) / events.Count;
                    var device = charges.Single(c => c.Operation == "device.write");
                    results[(perDoc, window, warm)] = azure;
                    output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{perDoc,14}  {window,4} s  {(warm ? "warm" : "cold"),7}  {requests,13:F0}  {device.Bytes / (double)device.Requests,9:F0}  {azure,16:F3}"));
                    Assert.Equal(charges.Sum(c => c.Requests), charges.Sum(c => c.RequestUnits), 6); // the test server's flat 1 RU a request
                }
                finally
                {
                    await CosmosServer.DropAsync(options);
                }
            }
        }

        // A document costs one write per batch whatever it holds, so the more readings a write carries (devices per
        // document, times readings per device per batch), the cheaper a reading.
        Assert.True(results[(1, 60, true)] > results[(1, 120, true)] && results[(1, 120, true)] > results[(1, 300, true)]);
        Assert.True(results[(1, 60, true)] > results[(2, 60, true)] && results[(2, 60, true)] > results[(12, 60, true)]);
        Assert.True(results[(1, 60, true)] > 0.5, "one device a document with one-minute batches costs what one document per device did");

        // The shipped configuration, one-minute batches: at most 0.5 RU a reading once a site has three devices per
        // partition (96 devices on the deployed 32 partitions). Two were enough (0.487) until the reactive hold rule's
        // rings (stop 20) made a meter's saved state about 440 bytes larger: 0.548 with two. A cold instance (its first
        // batch of a partition) also reads each document once.
        Assert.True(results[(3, 60, true)] <= 0.5, $"{results[(3, 60, true)]:F3} RU a reading, three devices a document, one-minute batches");
        Assert.True(results[(12, 60, true)] <= 0.15, $"{results[(12, 60, true)]:F3} RU a reading, twelve devices a document");
        Assert.True(results[(12, 60, false)] <= 0.5, $"{results[(12, 60, false)]:F3} RU a reading cold, twelve devices a document");
    }

    /// <summary>Cosmos DB's published charge for each request of the operation at its measured average document size.</summary>
    private static double AzureRequestUnits(RequestCharges.Snapshot c)
    {
        var kb = c.Bytes / (double)Math.Max(1, c.Requests) / 1024;
        var write = !c.Operation.EndsWith(".read", StringComparison.Ordinal) && !c.Operation.EndsWith(".query", StringComparison.Ordinal);
        return c.Requests * Charge(kb, write);
    }

    private static double Charge(double kb, bool write)
    {
        double Of((double Kb, double Read, double Write) row) => write ? row.Write : row.Read;
        if (kb <= Published[0].Kb)
        {
            return Of(Published[0]);
        }

        for (var i = 1; i < Published.Length; i++)
        {
            if (kb <= Published[i].Kb)
            {
                var (lo, hi) = (Published[i - 1], Published[i]);
                return Of(lo) + ((Of(hi) - Of(lo)) * (kb - lo.Kb) / (hi.Kb - lo.Kb));
            }
        }

        throw new ArgumentOutOfRangeException(nameof(kb), kb, "over Cosmos DB's 2 MB document limit");
    }

    /// <summary>Sites of <c>Partitions x perDoc</c> meters; meter i of a site on partition i mod Partitions.</summary>
    private static DeviceRegistry Registry(int perDoc)
    {
        var sites = PerPartition / perDoc;
        var siteList = string.Join(",", Enumerable.Range(0, sites).Select(s => $$"""{"siteId":"s-{{s:D2}}","name":"Site {{s}}"}"""));
        var devices = string.Join(",", Enumerable.Range(0, Partitions * PerPartition).Select(i =>
            $$"""{"deviceId":"m-{{i:D4}}","siteId":"s-{{i / (Partitions * perDoc):D2}}","kind":"meter","circuit":"dwelling","ratedCurrentA":40,"reportIntervalS":10}"""));
        return RegistryLoader.Parse($$"""{"sites":[{{siteList}}],"devices":[{{devices}}]}""");
    }

    private static List<(int Partition, TelemetryEvent Event)> Events(DeviceRegistry registry, int perDoc)
    {
        var events = new List<(int, TelemetryEvent)>();
        var random = new Random(7);
        var index = 0;
        for (var t = 0; t < Minutes * 60; t += 10)
        {
            for (var i = 0; i < registry.Devices.Count; i++)
            {
                var device = registry.Devices[i];
                var current = Math.Round(3 + (random.NextDouble() * 8), 2);
                var partition = i % (Partitions * perDoc) % Partitions;
                var payload = Feed.MeterPayload(t + (i % 8), (t / 10) + 1, current);
                events.Add((partition, Night.Event(index++, $"smartpower/v1/{device.SiteId}/meter/{device.DeviceId}/telemetry", payload, t)));
            }
        }

        return events;
    }
}
