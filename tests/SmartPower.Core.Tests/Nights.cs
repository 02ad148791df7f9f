using SmartPower.DeviceSim.Simulation;
using SmartPower.DeviceSim.Truth;

namespace SmartPower.Tests;

/// <summary>Labelled nights shared by test classes, each generated once.</summary>
internal static class Nights
{
    /// <summary>Four hours of 20 dwellings, 3 common areas and 2 piles: every incident type, six chargers, in well under a second.</summary>
    public static LabelledNight EveryType { get; } = CompoundNight.Generate(new Scenario
    {
        Seed = 11,
        Duration = TimeSpan.FromHours(4),
        Dwellings = 20,
        CommonAreas = 3,
        Piles = 2,
    });
}
