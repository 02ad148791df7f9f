using System.Buffers;
using System.Text;
using System.Text.Json;
using SmartPower.Alerts;
using SmartPower.Contract;
using SmartPower.Detection;
using SmartPower.DeviceSim.Simulation;
using SmartPower.DeviceSim.Truth;
using SmartPower.Registry;
using SmartPower.Replay;

namespace SmartPower.Tests;

/// <summary>
/// Checkpoints: an engine cut anywhere in a labelled night, saved, and restored into a brand-new engine (as a host that
/// stopped or was killed would) carries on exactly as if it had never stopped, whole or device by device.
/// </summary>
public sealed class SavedStateTests
{
    private static LabelledNight Night => Nights.EveryType;

    private static readonly Lazy<Uninterrupted> Baseline = new(() => Uninterrupted.Run(Night));

    /// <summary>How an engine is carried over a cut: whole, or device by device with the clock restored before or after.</summary>
    public static TheoryData<string> Ways() => ["whole engine", "device by device, clock last", "device by device, clock first"];

    [Theory]
    [MemberData(nameof(Ways))]
    public void A_night_cut_at_seven_points_and_restored_each_time_gives_the_uninterrupted_alerts_and_commands(string how)
    {
        var baseline = Baseline.Value;
        Func<DetectionEngine, DetectionEngine> carry = how switch
        {
            "whole engine" => engine => SaveAndRestoreWhole(engine, RegistryLoader.Parse(Night.RegistryJson)),
            "device by device, clock last" => engine => SaveAndRestoreByDevice(engine, clockFirst: false, RegistryLoader.Parse(Night.RegistryJson)),
            _ => engine => SaveAndRestoreByDevice(engine, clockFirst: true, RegistryLoader.Parse(Night.RegistryJson)),
        };

        var cut = Replay(Night.Lines, baseline.Cuts, carry);

        Assert.Equal(baseline.Sink.Transitions.Count, cut.Transitions.Count);
        for (var i = 0; i < cut.Transitions.Count; i++)
        {
            Assert.Equal(baseline.Sink.Transitions[i], cut.Transitions[i]);
        }

        Assert.Equal(baseline.Sink.Commands, cut.Commands);
    }

    [Fact]
    public void The_cut_points_fall_where_they_should()
    {
        var baseline = Baseline.Value;
        Assert.Equal(7, baseline.Cuts.Count);
        foreach (var type in new[] { AlertType.Overload, AlertType.Offline, AlertType.PortOverpower, AlertType.IllegalCharging, AlertType.Leakage })
        {
            Assert.Contains(baseline.Sink.Transitions, t => t.Alert.Type == type && t.Kind == TransitionKind.Opened);
        }

        Assert.NotEmpty(baseline.Sink.Commands);
        Assert.True(baseline.ChargeBeforeConfirmation.Cut < baseline.ChargeBeforeConfirmation.Opened, "cut before the charger is confirmed");
    }

    [Fact]
    public void State_saved_again_straight_after_a_restore_is_byte_for_byte_the_same()
    {
        var registry = RegistryLoader.Parse(Night.RegistryJson);
        var engine = new DetectionEngine(registry);
        var sink = new CollectingSink();
        var next = 0;
        foreach (var cut in Baseline.Value.Cuts)
        {
            for (; next < cut; next++)
            {
                ReplayRunner.ProcessLine(engine, Encoding.UTF8.GetBytes(Night.Lines[next]), sink);
            }

            var saved = Save(engine.SaveState);
            Assert.Equal(saved, Save(DetectionEngine.Restore(registry, saved).SaveState));
            foreach (var device in registry.Devices)
            {
                var restored = new DetectionEngine(registry);
                if (Save(w => engine.TrySaveDevice(device.DeviceId, w)) is { Length: > 0 } one)
                {
                    Assert.Equal(DeviceRestoreOutcome.Restored, restored.RestoreDevice(device.DeviceId, one));
                    Assert.Equal(one, Save(w => restored.TrySaveDevice(device.DeviceId, w)));
                }
            }
        }
    }

    [Fact]
    public void After_a_restore_a_reading_seen_before_the_cut_is_still_a_duplicate()
    {
        var feed = new Feed();
        for (var s = 0; s < 100; s += 10)
        {
            feed.Send(Feed.Topic("m-0001"), Feed.MeterPayload(s, 101 + (s / 10), 5));
        }

        feed.Engine = SaveAndRestoreWhole(feed.Engine);
        Assert.Equal(MessageOutcome.Duplicate, feed.Send(Feed.Topic("m-0001"), Feed.MeterPayload(90, 110, 5)).Outcome);
        Assert.Equal(MessageOutcome.Duplicate, feed.Send(Feed.Topic("m-0001"), Feed.MeterPayload(50, 106, 5)).Outcome);

        var byDevice = new DetectionEngine(feed.Registry);
        Assert.Equal(DeviceRestoreOutcome.Restored, byDevice.RestoreDevice("m-0001", Save(w => feed.Engine.TrySaveDevice("m-0001", w))));
        feed.Engine = byDevice;
        Assert.Equal(MessageOutcome.Duplicate, feed.Send(Feed.Topic("m-0001"), Feed.MeterPayload(90, 110, 5)).Outcome);
        Assert.Equal(MessageOutcome.Accepted, feed.Send(Feed.Topic("m-0001"), Feed.MeterPayload(100, 111, 5)).Outcome);
    }

    [Fact]
    public void An_alert_open_at_the_cut_is_updated_and_cleared_under_its_id_and_never_opened_again()
    {
        static List<AlertTransition> Overload(Func<DetectionEngine, DetectionEngine>[] carry)
        {
            var feed = new Feed();
            for (var s = 0; s < 800; s += 10)
            {
                if (s % 200 == 0 && s > 0)
                {
                    feed.Engine = carry[(s / 200) - 1](feed.Engine);
                }

                feed.Meter("m-0001", s, s < 400 ? 45 : s < 500 ? 60 : 10); // over 40 A: a warning; over 1.45 x: critical; then clear
                feed.Meter("m-0002", s + 5, 5);
            }

            return feed.Sink.Transitions;
        }

        var uninterrupted = Overload([e => e, e => e, e => e]);
        Assert.Equal([TransitionKind.Opened, TransitionKind.Updated, TransitionKind.Updated, TransitionKind.Cleared], uninterrupted.Select(t => t.Kind));
        Assert.Single(uninterrupted.Select(t => t.Alert.AlertId).Distinct());
        Assert.True(uninterrupted[0].At < Feed.T0.AddSeconds(200) && uninterrupted[^1].At > Feed.T0.AddSeconds(600), "open across every cut");

        var cut = Overload([e => SaveAndRestoreWhole(e), e => SaveAndRestoreByDevice(e, clockFirst: false), e => SaveAndRestoreWhole(e)]);
        Assert.Equal(uninterrupted, cut);
    }

    [Fact]
    public void Devices_falling_silent_together_go_offline_in_the_same_order_after_a_restore()
    {
        // Twelve meters reporting in step; half fall silent at once, so their offline deadlines tie and the order they go
        // offline in is the offline queue's heap order, which a restore must rebuild exactly.
        var meters = Enumerable.Range(1, 12).Select(i => $"m-{i:0000}").ToArray();
        var registry = Feed.RegistryJson[..Feed.RegistryJson.IndexOf("\"devices\":[", StringComparison.Ordinal)]
            + "\"devices\":[" + string.Join(',', meters.Select(m => $$"""{"deviceId":"{{m}}","siteId":"xihu-wutong","kind":"meter","circuit":"dwelling","ratedCurrentA":40,"reportIntervalS":10}""")) + "]}";

        List<string> Offline(Func<DetectionEngine, DetectionEngine> carry)
        {
            var feed = new Feed(registry);
            for (var s = 0; s < 400; s += 10)
            {
                if (s == 220)
                {
                    feed.Engine = carry(feed.Engine); // silent since 190 s, offline at 250 s
                }

                for (var i = 0; i < meters.Length; i++)
                {
                    if (s < 200 || i % 2 == 0)
                    {
                        feed.Meter(meters[i], s, 5);
                    }
                }
            }

            return [.. feed.Sink.Transitions.Select(t => $"{t.Kind} {t.Alert.DeviceId} {t.AtMs}")];
        }

        var uninterrupted = Offline(engine => engine);
        Assert.Equal(6, uninterrupted.Count(t => t.StartsWith("Opened", StringComparison.Ordinal)));
        Assert.Single(uninterrupted.Select(t => t.Split(' ')[2]).Distinct()); // all due at the same instant: a tie
        Assert.Equal(uninterrupted, Offline(engine => SaveAndRestoreWhole(engine)));
    }

    [Fact]
    public void Restoring_a_device_over_its_live_state_replaces_it_in_the_offline_queue_and_the_clock()
    {
        var feed = new Feed();
        for (var s = 0; s < 100; s += 10)
        {
            feed.Meter("m-0001", s, 5);
            feed.Meter("m-0002", s + 5, 5);
        }

        var earlier = Save(w => feed.Engine.TrySaveDevice("m-0001", w));
        for (var s = 100; s < 200; s += 10)
        {
            feed.Meter("m-0001", s, 5);
            feed.Meter("m-0002", s + 5, 5);
        }

        Assert.Equal(DeviceRestoreOutcome.Restored, feed.Engine.RestoreDevice("m-0001", earlier));
        Assert.Equal(MessageOutcome.Accepted, feed.Send(Feed.Topic("m-0001"), Feed.MeterPayload(195, 111, 5)).Outcome); // seq 111 was seen, but not by the restored state
        for (var s = 200; s < 600; s += 10)
        {
            feed.Meter("m-0002", s + 5, 5);
        }

        var offline = Assert.Single(feed.Opened);
        Assert.Equal(("m-0001", Feed.T0.AddSeconds(195 + 60)), (offline.DeviceId, offline.OpenedAt));
    }

    [Fact]
    public void Corrupt_truncated_and_wrong_version_state_is_refused_with_its_own_exception()
    {
        var feed = new Feed();
        feed.MeterSeries("m-0001", 0, 200, _ => 45);
        feed.Pile("p-0001", 5, 500, 0, 0, 0);
        var engine = Save(feed.Engine.SaveState);
        var device = Save(w => feed.Engine.TrySaveDevice("m-0001", w));

        foreach (var blob in new[] { engine, device })
        {
            for (var i = 0; i < blob.Length; i++)
            {
                var corrupt = (byte[])blob.Clone();
                corrupt[i] ^= (byte)(1 << (i % 8));
                AssertRefused(corrupt);
                AssertRefused(blob[..i]);
            }
        }

        var newer = (byte[])device.Clone();
        newer[3] = StateFormat.Version + 1;
        Assert.Contains("version", AssertRefused(newer).Message, StringComparison.Ordinal);
        Assert.Contains("not of an engine", Assert.Throws<StateFormatException>(() => DetectionEngine.Restore(feed.Registry, device)).Message, StringComparison.Ordinal);
        Assert.Contains("'m-0001', not of 'm-0002'", Assert.Throws<StateFormatException>(() => feed.Engine.RestoreDevice("m-0002", device)).Message, StringComparison.Ordinal);
        Assert.Throws<StateFormatException>(() => DetectionEngine.Restore(feed.Registry, "{\"not\":\"state\"}"u8));

        // A well-formed frame around a body that does not parse: trailing bytes, then a flag out of range.
        Assert.Contains("unexpected bytes", AssertRefused(Reframe(device, body => [.. body, 0])).Message, StringComparison.Ordinal);
        Assert.Throws<StateFormatException>(() => feed.Engine.RestoreDevice("m-0001", Reframe(device, body => { body[8] = 0xFF; return body; })));

        // Refusals leave the engine as it was: it carries on as a twin that never saw them.
        var twin = new Feed();
        twin.MeterSeries("m-0001", 0, 200, _ => 45);
        twin.Pile("p-0001", 5, 500, 0, 0, 0);
        feed.MeterSeries("m-0001", 200, 600, _ => 5);
        twin.MeterSeries("m-0001", 200, 600, _ => 5);
        Assert.Equal(twin.Sink.Transitions, feed.Sink.Transitions);

        StateFormatException AssertRefused(byte[] blob) => blob.Length > 2 && blob[2] == (byte)'E'
            ? Assert.Throws<StateFormatException>(() => DetectionEngine.Restore(feed.Registry, blob))
            : Assert.Throws<StateFormatException>(() => feed.Engine.RestoreDevice("m-0001", blob));
    }

    [Fact]
    public void A_device_gone_from_the_registry_is_skipped_and_one_whose_kind_changed_starts_fresh()
    {
        var feed = new Feed();
        for (var s = 0; s < 200; s += 10)
        {
            feed.Meter("m-0001", s, 5);
            feed.Meter("m-0002", s + 5, 45); // an overload opens at 125 s
            feed.Pile("p-0001", s + 7, 500, 0, 0, 0); // over-power on port 1
        }

        Assert.Equal(2, feed.Opened.Count());
        var whole = Save(feed.Engine.SaveState);
        var m2 = Save(w => feed.Engine.TrySaveDevice("m-0002", w));
        var pile = Save(w => feed.Engine.TrySaveDevice("p-0001", w));

        // m-0002 has left; the pile now has 6 ports; m-0001 is now a pile; m-0003 is new.
        var changed = RegistryLoader.Parse(Feed.RegistryJson
            .Replace("""{"deviceId":"m-0002","siteId":"xihu-wutong","kind":"meter","circuit":"dwelling","ratedCurrentA":40,"reportIntervalS":10},""", string.Empty, StringComparison.Ordinal)
            .Replace("\"portCount\":4", "\"portCount\":6", StringComparison.Ordinal)
            .Replace("""{"deviceId":"m-0001","siteId":"xihu-wutong","kind":"meter","circuit":"dwelling","ratedCurrentA":40,"reportIntervalS":10}""",
                """{"deviceId":"m-0001","siteId":"xihu-wutong","kind":"pile","circuit":"pile","portCount":2,"portMaxW":400,"reportIntervalS":10},{"deviceId":"m-0003","siteId":"xihu-wutong","kind":"meter","circuit":"dwelling","ratedCurrentA":40,"reportIntervalS":10}""",
                StringComparison.Ordinal));
        var engine = DetectionEngine.Restore(changed, whole);
        Assert.Equal(Feed.T0.AddSeconds(195), engine.StreamTime);
        Assert.Equal(DeviceRestoreOutcome.NotInRegistry, engine.RestoreDevice("m-0002", m2));
        Assert.Equal(DeviceRestoreOutcome.StartedFresh, engine.RestoreDevice("p-0001", pile));

        var sink = new CollectingSink();
        var pileAgain = Encoding.UTF8.GetBytes("""{"ts":"2026-11-26T12:03:20.000Z","seq":105,"voltageV":230,"ports":[{"port":1,"state":"charging","powerW":100}]}""");
        Assert.Equal(MessageOutcome.Accepted, engine.Process(Encoding.UTF8.GetBytes(Feed.Topic("m-0001", "pile")), pileAgain, sink).Outcome); // fresh: seq 105 is new to it
        Assert.Equal(MessageOutcome.Accepted, engine.Process(Encoding.UTF8.GetBytes(Feed.Topic("p-0001", "pile")), pileAgain, sink).Outcome);
        Assert.Equal(MessageOutcome.Accepted, engine.Process(Encoding.UTF8.GetBytes(Feed.Topic("m-0003")), Encoding.UTF8.GetBytes(Feed.MeterPayload(200, 1, 5)), sink).Outcome);
        Assert.Empty(sink.Transitions);
    }

    [Fact]
    public void Nothing_to_save_for_a_device_that_has_sent_nothing_or_is_unknown()
    {
        var feed = new Feed();
        var empty = DetectionEngine.Restore(feed.Registry, Save(feed.Engine.SaveState));
        Assert.Null(empty.StreamTime);
        Assert.Equal(Save(feed.Engine.SaveState), Save(empty.SaveState));

        feed.Meter("m-0001", 0, 5);
        var output = new ArrayBufferWriter<byte>();
        Assert.False(feed.Engine.TrySaveDevice("m-0002", output));
        Assert.False(feed.Engine.TrySaveDevice("m-9999", output));
        Assert.Equal(0, output.WrittenCount);
        Assert.True(feed.Engine.TrySaveDevice("m-0001", output));
    }

    [Fact]
    public void Saving_a_device_into_a_reused_buffer_allocates_nothing()
    {
        var feed = new Feed();
        feed.MeterSeries("m-0001", 0, 3600, s => s < 600 ? 0.3 : 0.8); // a 115 W step: a candidate with its sums
        var output = new ArrayBufferWriter<byte>(4096);
        feed.Engine.TrySaveDevice("m-0001", output);
        output.ResetWrittenCount();
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
        {
            feed.Engine.TrySaveDevice("m-0001", output);
            output.ResetWrittenCount();
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    internal static byte[] Save(Action<IBufferWriter<byte>> save)
    {
        var output = new ArrayBufferWriter<byte>();
        save(output);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>What a host that stopped does: a brand-new engine from the saved state (and a registry read afresh, if given).</summary>
    private static DetectionEngine SaveAndRestoreWhole(DetectionEngine engine, DeviceRegistry? registry = null) =>
        DetectionEngine.Restore(registry ?? engine.Registry, Save(engine.SaveState));

    /// <summary>What a host that keeps each device's state apart does, with the clock from its own checkpoint.</summary>
    private static DetectionEngine SaveAndRestoreByDevice(DetectionEngine engine, bool clockFirst, DeviceRegistry? registry = null)
    {
        var restored = new DetectionEngine(registry ?? engine.Registry);
        var clock = Save(engine.SaveStreamClock);
        if (clockFirst)
        {
            restored.RestoreStreamClock(clock);
        }

        foreach (var device in engine.Registry.Devices)
        {
            if (Save(w => engine.TrySaveDevice(device.DeviceId, w)) is { Length: > 0 } state)
            {
                Assert.Equal(DeviceRestoreOutcome.Restored, restored.RestoreDevice(device.DeviceId, state));
            }
        }

        if (!clockFirst)
        {
            restored.RestoreStreamClock(clock);
        }

        return restored;
    }

    private static byte[] Reframe(byte[] blob, Func<byte[], byte[]> edit)
    {
        var body = edit(blob[4..^4]);
        var output = new ArrayBufferWriter<byte>();
        output.Write(blob.AsSpan(0, 4));
        output.Write(body);
        var framed = output.WrittenSpan.ToArray();
        return [.. framed, .. BitConverter.GetBytes(StateFormat.Checksum(framed))];
    }

    private static CollectingSink Replay(IReadOnlyList<string> lines, IReadOnlyList<int> cuts, Func<DetectionEngine, DetectionEngine> carry)
    {
        var engine = new DetectionEngine(RegistryLoader.Parse(Night.RegistryJson));
        var sink = new CollectingSink();
        for (var i = 0; i < lines.Count; i++)
        {
            if (cuts.Contains(i))
            {
                engine = carry(engine);
            }

            ReplayRunner.ProcessLine(engine, Encoding.UTF8.GetBytes(lines[i]), sink);
        }

        return sink;
    }

    /// <summary>The night replayed without a stop, and where to cut it.</summary>
    private sealed record Uninterrupted(CollectingSink Sink, IReadOnlyList<int> Cuts, (int Cut, int Opened) ChargeBeforeConfirmation)
    {
        public static Uninterrupted Run(LabelledNight night)
        {
            var engine = new DetectionEngine(RegistryLoader.Parse(night.RegistryJson));
            var sink = new CollectingSink();
            var transitionsAfter = new int[night.Lines.Count];
            var commandsAfter = new int[night.Lines.Count];
            var ts = new long[night.Lines.Count];
            for (var i = 0; i < night.Lines.Count; i++)
            {
                ReplayRunner.ProcessLine(engine, Encoding.UTF8.GetBytes(night.Lines[i]), sink);
                transitionsAfter[i] = sink.Transitions.Count;
                commandsAfter[i] = sink.Commands.Count;
                using var line = JsonDocument.Parse(night.Lines[i]);
                ts[i] = line.RootElement.GetProperty("payload").TryGetProperty("ts", out var t) && EventTime.TryParse(t.GetString(), out var time) ? time.ToUnixTimeMilliseconds() : ts[Math.Max(0, i - 1)];
            }

            int LineOf(int transition) => Array.FindIndex(transitionsAfter, n => n > transition);
            int Middle(AlertType type)
            {
                var opened = sink.Transitions.FindIndex(t => t.Alert.Type == type && t.Kind == TransitionKind.Opened);
                var cleared = sink.Transitions.FindIndex(opened, t => t.Alert.AlertId == sink.Transitions[opened].Alert.AlertId && t.Kind == TransitionKind.Cleared);
                return (LineOf(opened) + (cleared < 0 ? night.Lines.Count : LineOf(cleared))) / 2;
            }

            // A charger that is found: cut 5 minutes after it was plugged in, while it is a candidate being watched.
            var charging = sink.Transitions.First(t => t.Alert.Type == AlertType.IllegalCharging && t.Kind == TransitionKind.Opened);
            var plugged = night.Incidents.First(i => i.Type == "illegal-charging" && i.DeviceId == charging.Alert.DeviceId).Start.ToUnixTimeMilliseconds();
            var watched = Array.FindIndex(ts, t => t >= plugged + (5 * 60_000));
            var chargingOpened = LineOf(sink.Transitions.IndexOf(charging));
            int[] cuts =
            [
                1, // the clock has seen one reading
                Middle(AlertType.Overload),
                Middle(AlertType.Offline),
                (Array.FindIndex(commandsAfter, n => n > 0) + Middle(AlertType.PortOverpower)) / 2, // a port stopped, its incident open
                watched,
                (chargingOpened + night.Lines.Count) / 2, // a confirmed charger
                night.Lines.Count * 2 / 3,
            ];
            return new(sink, [.. cuts.Distinct().Order()], (watched, chargingOpened));
        }
    }
}
