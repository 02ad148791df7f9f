using System.Text;
using SmartPower.Host.Log;

namespace SmartPower.Pipeline.Tests;

/// <summary>The local log: per-device order, durability across reopen, a torn tail cut off, segments, back-pressure.</summary>
public sealed class FileTelemetryLogTests : IDisposable
{
    private readonly TempDirectory _directory = new("log");

    [Fact]
    public async Task Each_devices_messages_come_back_in_order_on_its_partition_and_survive_a_reopen()
    {
        var options = Options();
        var log = FileTelemetryLog.Open(options);
        for (var i = 0; i < 200; i++)
        {
            await log.AppendAsync(Message($"m-{i % 7:0000}", i), CancellationToken.None);
        }

        var before = await ReadAllAsync(log);
        await log.DisposeAsync();
        Assert.Equal(200, before.Sum(p => p.Count));
        foreach (var partition in before)
        {
            foreach (var device in partition.GroupBy(r => r.Device))
            {
                Assert.Equal(device.Select(r => r.N).Order(), device.Select(r => r.N)); // in order
                Assert.Single(before, p => p.Any(r => r.Device == device.Key)); // on one partition
            }
        }

        await using var reopened = FileTelemetryLog.Open(options);
        Assert.Equal(before.Select(p => p.Select(r => r.N)), (await ReadAllAsync(reopened)).Select(p => p.Select(r => r.N)));
    }

    [Fact]
    public async Task A_torn_record_at_the_end_is_cut_off_on_open()
    {
        var options = Options(partitions: 1);
        await using (var log = FileTelemetryLog.Open(options))
        {
            await log.AppendAsync(Message("m-0001", 1), CancellationToken.None);
        }

        var segment = Directory.GetFiles(_directory.File("p0"), "*.seg").Single();
        var good = new FileInfo(segment).Length;
        await File.AppendAllTextAsync(segment, "\u00ff\u0001\u0000\u0000partial"); // a crash mid-write

        await using var reopened = FileTelemetryLog.Open(options);
        Assert.Equal(good, reopened.Partition(0).EndPosition);
        await reopened.AppendAsync(Message("m-0001", 2), CancellationToken.None);
        Assert.Equal([1, 2], (await ReadAllAsync(reopened))[0].Select(r => r.N));
    }

    [Fact]
    public async Task Segments_roll_and_checkpointed_ones_are_deleted()
    {
        var options = Options(partitions: 1);
        options.SegmentBytes = 1000;
        await using var log = FileTelemetryLog.Open(options);
        for (var i = 0; i < 50; i++)
        {
            await log.AppendAsync(Message("m-0001", i), CancellationToken.None);
        }

        var partition = log.Partition(0);
        var segments = Directory.GetFiles(_directory.File("p0"), "*.seg").Length;
        Assert.True(segments > 3, $"expected several segments, got {segments}");
        Assert.Equal(Enumerable.Range(0, 50), (await ReadAllAsync(log))[0].Select(r => r.N));

        partition.Release(partition.EndPosition);
        Assert.Single(Directory.GetFiles(_directory.File("p0"), "*.seg"));
        var next = partition.EndPosition;
        await log.AppendAsync(Message("m-0001", 50), CancellationToken.None);
        var tail = await partition.ReadAsync(next, 10, TimeSpan.Zero, CancellationToken.None);
        Assert.Equal("{\"n\":50}", Encoding.UTF8.GetString(Assert.Single(tail.Records).Payload.Span));
    }

    [Fact]
    public async Task Appends_wait_while_the_consumer_is_too_far_behind()
    {
        var options = Options(partitions: 1);
        options.MaxLagBytes = 2000;
        await using var log = FileTelemetryLog.Open(options);
        var partition = log.Partition(0);
        for (var i = 0; i < 100; i++)
        {
            // Whether this append is held back is known before it starts (each one before it is durable by then): the
            // lag it finds. Judged by the time it takes instead, a slow fsync on a busy machine would look held back.
            var lagBefore = partition.EndPosition;
            var append = log.AppendAsync(Message("m-0001", i), CancellationToken.None).AsTask();
            if (lagBefore < options.MaxLagBytes)
            {
                await append.WaitAsync(TimeSpan.FromSeconds(10));
                continue;
            }

            // Held back: it stays so until the consumer reads, then completes.
            Assert.NotSame(append, await Task.WhenAny(append, Task.Delay(300)));
            var batch = await partition.ReadAsync(0, 1000, TimeSpan.Zero, CancellationToken.None);
            await partition.ReadAsync(batch.NextPosition, 1, TimeSpan.Zero, CancellationToken.None);
            await append.WaitAsync(TimeSpan.FromSeconds(10));
            return;
        }

        Assert.Fail("appends never waited for the consumer");
    }

    [Fact]
    public async Task Under_back_pressure_devices_are_taken_in_the_order_they_came_and_a_busy_one_waits_its_turn()
    {
        var options = Options(partitions: 1);
        options.MaxLagBytes = 2000;
        await using var log = FileTelemetryLog.Open(options);
        SmartPower.Pipeline.ITelemetryLog port = log;
        var partition = log.Partition(0);

        // The consumer reads nothing, so the lag and then the open commit fill up, until a take waits.
        Task first;
        for (var n = 0; ; n++)
        {
            var take = port.TakeAsync(Message("m-0000", n), CancellationToken.None);
            if (!take.IsCompleted)
            {
                first = take.AsTask();
                break;
            }

            await take;
        }

        // Twenty devices come one after another and wait; then a device that sends as fast as it is let (it has its
        // next message ready at once, where the others' loops must be scheduled first).
        var waiting = Enumerable.Range(1, 20).Select(d => port.TakeAsync(Message($"m-{d:0000}", 0), CancellationToken.None).AsTask()).ToList();
        async Task BusyAsync()
        {
            var durable = Task.CompletedTask;
            for (var k = 0; k < 40; k++)
            {
                durable = await port.TakeAsync(Message("m-9999", k), CancellationToken.None);
            }

            await durable; // written: the reads below see every message
        }

        var busy = BusyAsync();
        Assert.False(busy.IsCompleted);

        // The consumer catches up, again and again, until the busy device's messages are all written and read.
        var order = new List<string>();
        var position = 0L;
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while ((!busy.IsCompleted || position < partition.EndPosition) && DateTime.UtcNow < deadline)
        {
            var batch = await partition.ReadAsync(position, 1000, TimeSpan.FromMilliseconds(20), CancellationToken.None);
            order.AddRange(batch.Records.Select(r => Encoding.UTF8.GetString(r.Topic.Span).Split('/')[4]));
            position = batch.NextPosition;
        }

        await busy.WaitAsync(TimeSpan.FromSeconds(10));
        await Task.WhenAll(waiting.Append(first)).WaitAsync(TimeSpan.FromSeconds(10));
        var queued = order.SkipWhile(d => d == "m-0000").ToList();
        Assert.Equal([.. Enumerable.Range(1, 20).Select(d => $"m-{d:0000}"), "m-9999"], queued.Take(21));
        Assert.Equal(40, queued.Count(d => d == "m-9999"));
    }

    [Fact]
    public async Task A_full_disk_fails_the_appends_that_did_not_fit_and_leaves_no_torn_record_behind()
    {
        using var disk = SmallFilesystem.Mount(_directory.File("small"), 1);
        var options = new FileTelemetryLogOptions { Directory = Path.Combine(disk.Path, "log"), Partitions = 1, FlushToDisk = true };
        var pad = new string('x', 3000); // records bigger than the slack a full tmpfs leaves in a file's last page
        var acknowledged = new List<int>();
        await using (var log = FileTelemetryLog.Open(options))
        {
            async Task AppendAsync(int n)
            {
                try
                {
                    await log.AppendAsync(new("m-0001", Feed.Topic("m-0001"), Encoding.UTF8.GetBytes($$"""{"n":{{n}},"pad":"{{pad}}"}"""), n), CancellationToken.None);
                    acknowledged.Add(n);
                }
                catch (IOException)
                {
                    // Not acknowledged: the device keeps it and sends it again.
                }
            }

            for (var n = 0; n < 20; n++)
            {
                await AppendAsync(n);
            }

            disk.Fill();
            for (var n = 20; n < 40; n++)
            {
                await AppendAsync(n);
            }

            Assert.True(acknowledged.Count < 40, "the full disk must have refused appends");
            Assert.NotNull(log.Failure);
            disk.Free();
            for (var n = 40; n < 60; n++)
            {
                await AppendAsync(n);
            }

            Assert.Null(log.Failure);
            Assert.Equal(acknowledged, await ReadNumbersAsync(log));
        }

        await using var reopened = FileTelemetryLog.Open(options);
        Assert.Equal(acknowledged, await ReadNumbersAsync(reopened));
    }

    [Fact]
    public async Task After_a_failed_write_a_devices_later_messages_are_refused_until_it_connects_again()
    {
        using var disk = SmallFilesystem.Mount(_directory.File("small-fence"), 1);
        var options = new FileTelemetryLogOptions { Directory = Path.Combine(disk.Path, "log"), Partitions = 1, FlushToDisk = true };
        var pad = new string('x', 3000);
        SmartPower.Pipeline.TelemetryMessage Padded(string device, int n) => new(device, Feed.Topic(device), Encoding.UTF8.GetBytes($$"""{"n":{{n}},"pad":"{{pad}}"}"""), n);
        await using var log = FileTelemetryLog.Open(options);
        SmartPower.Pipeline.ITelemetryLog port = log;
        await await port.TakeAsync(Padded("m-0001", 0), CancellationToken.None);

        // Taken, not yet durable, when the disk is full: its write fails, and so does the next message's take.
        disk.Fill();
        var failed = 0;
        for (var n = 1; n < 20 && failed == 0; n++)
        {
            try
            {
                await await port.TakeAsync(Padded("m-0001", n), CancellationToken.None);
            }
            catch (IOException)
            {
                failed = n;
            }
        }

        Assert.True(failed > 0, "the full disk must have failed a write");
        disk.Free();
        await Assert.ThrowsAsync<IOException>(async () => await port.TakeAsync(Padded("m-0001", failed + 1), CancellationToken.None));
        await await port.TakeAsync(Padded("m-0002", 100), CancellationToken.None); // other devices go on
        await log.AppendAsync(Padded("m-0001", 101), CancellationToken.None); // a caller that waits for each message is not held back

        port.Reopen("m-0001");
        await await port.TakeAsync(Padded("m-0001", failed), CancellationToken.None); // sent again once connected again
        var numbers = await ReadNumbersAsync(log);
        Assert.Equal([.. Enumerable.Range(0, failed), 100, 101, failed], numbers);
    }

    public void Dispose() => _directory.Dispose();

    private static async Task<List<int>> ReadNumbersAsync(FileTelemetryLog log)
    {
        var batch = await log.Partition(0).ReadAsync(0, 100_000, TimeSpan.Zero, CancellationToken.None);
        return [.. batch.Records.Select(r => System.Text.Json.JsonDocument.Parse(r.Payload).RootElement.GetProperty("n").GetInt32())];
    }

    private FileTelemetryLogOptions Options(int partitions = 3) => new() { Directory = _directory.Path, Partitions = partitions, FlushToDisk = false };

    private static SmartPower.Pipeline.TelemetryMessage Message(string device, int n) =>
        new(device, Feed.Topic(device), Encoding.UTF8.GetBytes($$"""{"n":{{n}}}"""), 1000 + n);

    private static async Task<List<List<(string Device, int N)>>> ReadAllAsync(FileTelemetryLog log)
    {
        var result = new List<List<(string, int)>>();
        for (var p = 0; p < log.PartitionCount; p++)
        {
            var records = new List<(string, int)>();
            var batch = await log.Partition(p).ReadAsync(0, 100_000, TimeSpan.Zero, CancellationToken.None);
            foreach (var r in batch.Records)
            {
                var topic = Encoding.UTF8.GetString(r.Topic.Span);
                var payload = Encoding.UTF8.GetString(r.Payload.Span);
                records.Add((topic.Split('/')[4], int.Parse(payload[5..^1], System.Globalization.CultureInfo.InvariantCulture)));
            }

            result.Add(records);
        }

        return result;
    }
}
