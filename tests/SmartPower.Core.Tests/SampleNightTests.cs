using System.IO.Compression;
using System.Text;
using SmartPower.DeviceSim.Simulation;
using SmartPower.DeviceSim.Truth;

namespace SmartPower.Tests;

/// <summary>The sample in samples/ that the README replays is exactly what the generator makes.</summary>
public sealed class SampleNightTests
{
    public static readonly Scenario Options = new()
    {
        Seed = 7,
        Duration = TimeSpan.FromHours(6),
        Dwellings = 24,
        CommonAreas = 3,
        Piles = 2,
    };

    private static string SampleFile(string name)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "SmartPower.sln")))
        {
            dir = dir.Parent;
        }

        return Path.Combine(dir?.FullName ?? throw new DirectoryNotFoundException("repository root not found"), "samples", "wutong-evening", name);
    }

    [Fact]
    public void The_committed_sample_is_what_the_generator_makes()
    {
        var night = CompoundNight.Generate(Options);
        Assert.Equal(night.RegistryJson, File.ReadAllText(SampleFile("registry.json")));

        using var truth = new MemoryStream();
        night.WriteGroundTruth(truth);
        Assert.Equal(Encoding.UTF8.GetString(truth.ToArray()), File.ReadAllText(SampleFile("truth.jsonl")));

        using var replay = new MemoryStream();
        night.WriteReplay(replay);
        using var gzip = new GZipStream(File.OpenRead(SampleFile("night.jsonl.gz")), CompressionMode.Decompress);
        using var committed = new MemoryStream();
        gzip.CopyTo(committed);
        Assert.True(replay.ToArray().AsSpan().SequenceEqual(committed.ToArray()), "samples/wutong-evening/night.jsonl.gz differs from the generator's output");
    }
}
