using System.Text;
using SmartPower.Alerts;
using SmartPower.Detection;
using SmartPower.Registry;
using SmartPower.Replay;

namespace SmartPower.Pipeline.Tests;

/// <summary>
/// Ten minutes of Feed's small compound with four incidents: critical leakage on m-0001, an overload warning on
/// m-0002, an arc fault on the common-area meter m-0100, and a modified battery over-powering port 2 of pile p-0001
/// (which must be stopped). Every device reports every 10 s. <see cref="Expected"/> is what the engine itself makes of
/// the same messages, so the pipeline must store exactly those alerts, with the same ids.
/// </summary>
internal static class Story
{
    public static readonly string[] Devices = ["m-0001", "m-0002", "m-0100", "p-0001"];

    public static DeviceRegistry Registry() => RegistryLoader.Parse(Feed.RegistryJson);

    /// <summary>The story's messages in time order, <paramref name="seconds"/> long.</summary>
    public static IReadOnlyList<(string DeviceId, string Topic, string Payload)> Messages(double seconds = 600)
    {
        var messages = new List<(string, string, string)>();
        for (var t = 0.0; t < seconds; t += 10)
        {
            var seq = 1000 + (long)(t / 10);
            messages.Add(("m-0001", Feed.Topic("m-0001"), Feed.MeterPayload(t, seq, 6, leakageMa: t >= 100 ? 350 : 3)));
            messages.Add(("m-0002", Feed.Topic("m-0002"), Feed.MeterPayload(t, seq, t >= 200 ? 52 : 8)));
            messages.Add(("m-0100", Feed.Topic("m-0100"), Feed.MeterPayload(t, seq, 2, arc: t is >= 300 and < 320)));
            messages.Add(("p-0001", Feed.Topic("p-0001", "pile"), Feed.PilePayload(t, seq, 120, t >= 150 ? 600 : 180, 0, 0)));
        }

        return messages;
    }

    /// <summary>
    /// Plays <paramref name="messages"/> as devices in real time would: each reporting instant's readings published
    /// together (each device its own), the next instant only after those are acknowledged. Publishing every device's
    /// readings as fast as it can instead would let one device run minutes ahead of the others, which no real fleet does
    /// (and which the engine rightly refuses as out of range).
    /// </summary>
    public static async Task PlayAsync(
        IReadOnlyList<(string DeviceId, string Topic, string Payload)> messages,
        Func<string, TestDevice> device,
        CancellationToken cancellationToken,
        TimeSpan? pause = null,
        Action? sent = null)
    {
        var width = messages.Select(m => m.DeviceId).Distinct().Count(); // messages come an instant at a time
        for (var i = 0; i < messages.Count; i += width)
        {
            await Task.WhenAll(messages.Skip(i).Take(width)
                .Select(m => device(m.DeviceId).PublishReliablyAsync(m.Topic, m.Payload, cancellationToken))).ConfigureAwait(false);
            for (var k = 0; k < width; k++)
            {
                sent?.Invoke();
            }

            if (pause is { } p)
            {
                await Task.Delay(p, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The alerts the engine raises for <paramref name="messages"/>, each in its final state, by id.</summary>
    public static IReadOnlyDictionary<string, Alert> Expected(IEnumerable<(string DeviceId, string Topic, string Payload)> messages)
    {
        var engine = new DetectionEngine(Registry());
        var book = new AlertBook();
        foreach (var (_, topic, payload) in messages)
        {
            engine.Process(Encoding.UTF8.GetBytes(topic), Encoding.UTF8.GetBytes(payload), book);
        }

        return book.Alerts.ToDictionary(a => a.AlertId);
    }
}
