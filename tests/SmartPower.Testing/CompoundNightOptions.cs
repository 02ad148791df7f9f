namespace SmartPower.Testing;

/// <summary>What night to generate. Everything is deterministic from <see cref="Seed"/>.</summary>
public sealed record CompoundNightOptions
{
    public int Seed { get; init; } = 1;

    /// <summary>Default 2026-11-26T10:00:00Z, which is 18:00 in Asia/Shanghai.</summary>
    public DateTimeOffset Start { get; init; } = new(2026, 11, 26, 10, 0, 0, TimeSpan.Zero);

    public TimeSpan Duration { get; init; } = TimeSpan.FromHours(12);

    public int Dwellings { get; init; } = 60;

    public int CommonAreas { get; init; } = 6;

    public int Piles { get; init; } = 3;

    public int ReportIntervalS { get; init; } = 10;

    public bool InjectIncidents { get; init; } = true;

    public bool IncludeLookAlikes { get; init; } = true;
}
