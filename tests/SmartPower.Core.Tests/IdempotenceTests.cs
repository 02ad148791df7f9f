using System.Text;
using SmartPower.DeviceSim.Simulation;
using SmartPower.DeviceSim.Truth;
using SmartPower.Registry;
using SmartPower.Replay;

namespace SmartPower.Tests;

/// <summary>Duplicated, reordered and replayed input adds no alerts, on a labelled night with every incident type.</summary>
public sealed class IdempotenceTests
{
    private static LabelledNight Night => Nights.EveryType;

    private static string Replay(IEnumerable<string> lines, int partitions = 1)
    {
        var registry = RegistryLoader.Parse(Night.RegistryJson);
        using var input = new MemoryStream(Encoding.UTF8.GetBytes(string.Join('\n', lines)));
        using var output = new MemoryStream();
        ReplayRunner.Run(registry, input, output, partitions: partitions);
        return Encoding.UTF8.GetString(output.ToArray());
    }

    private static string DeviceOf(string line) => line.Split('/')[4];

    [Fact]
    public void Duplicate_deliveries_change_nothing()
    {
        var original = Replay(Night.Lines);
        Assert.NotEmpty(original);
        var random = new Random(3);
        var withDuplicates = new List<string>(Night.Lines);
        for (var i = Night.Lines.Count - 1; i >= 0; i -= 7)
        {
            var late = Math.Min(withDuplicates.Count, i + 1 + random.Next(50)); // redelivered a little later, as QoS 1 does
            withDuplicates.Insert(late, Night.Lines[i]);
        }

        Assert.Equal(original, Replay(withDuplicates));
    }

    [Fact]
    public void Interleaving_across_devices_changes_nothing()
    {
        // MQTT keeps each client's order, not the order between clients: swap neighbours of different devices.
        var original = Replay(Night.Lines);
        var reordered = new List<string>(Night.Lines);
        for (var i = 0; i + 1 < reordered.Count; i += 2)
        {
            if (DeviceOf(reordered[i]) != DeviceOf(reordered[i + 1]))
            {
                (reordered[i], reordered[i + 1]) = (reordered[i + 1], reordered[i]);
            }
        }

        Assert.Equal(original, Replay(reordered));
    }

    [Fact]
    public void A_replay_of_everything_already_seen_adds_nothing()
    {
        var original = Replay(Night.Lines);
        Assert.Equal(original, Replay(Night.Lines.Concat(Night.Lines)));
        Assert.Equal(Replay(Night.Lines, partitions: 3), Replay(Night.Lines.Concat(Night.Lines), partitions: 3));
    }

    [Fact]
    public void Late_out_of_order_readings_of_a_device_add_no_incident()
    {
        // Dropping a late reading may move the moment a hold is met (and so an alert's id), but must never add an incident.
        static Dictionary<string, int> Incidents(string alerts) => alerts.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(SmartPower.Alerts.AlertJson.Parse)
            .GroupBy(a => $"{a.Type} {a.DeviceId} {a.Port}")
            .ToDictionary(g => g.Key, g => g.Count());

        var original = Incidents(Replay(Night.Lines));
        var late = new List<string>(Night.Lines);
        for (var i = 0; i + 200 < late.Count; i += 101)
        {
            // One reading in a hundred arrives after the device's next readings: it is older, so it is dropped.
            var line = late[i];
            late.RemoveAt(i);
            late.Insert(i + 200, line);
        }

        foreach (var (key, count) in Incidents(Replay(late)))
        {
            Assert.True(count <= original.GetValueOrDefault(key), $"{key}: {count} incidents, {original.GetValueOrDefault(key)} without reordering");
        }
    }
}
