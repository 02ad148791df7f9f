using SmartPower.Alerts;
using SmartPower.Registry;

namespace SmartPower.Tests;

/// <summary>
/// The threshold rules at edges a review found: optional measures left out of readings, and registry overrides that
/// would silently turn a safety rule off (each test failed on the code before its fix).
/// </summary>
public sealed class RuleEdgeTests
{
    private static string WithDeviceThresholds(string deviceId, string thresholds) =>
        Feed.RegistryJson.Replace(
            $"\"deviceId\":\"{deviceId}\",",
            $"\"thresholds\":{thresholds},\"deviceId\":\"{deviceId}\",",
            StringComparison.Ordinal);

    /// <summary>
    /// leakageMa is optional. A device that left it out of its readings for an hour did not interrupt the leakage hold,
    /// so two single 350 mA samples an hour apart counted as "2 consecutive readings" and raised a critical alert.
    /// </summary>
    [Fact]
    public void Leakage_two_one_sample_spikes_an_hour_apart_with_leakage_left_out_between_never_alert()
    {
        var f = new Feed();
        f.Meter("m-0001", 0, 10, leakageMa: 350);
        for (var s = 10; s < 3600; s += 10)
        {
            f.Meter("m-0001", s, 10); // an hour of readings without leakageMa
        }

        f.Meter("m-0001", 3600, 10, leakageMa: 350);
        f.Meter("m-0001", 3610, 10, leakageMa: 3);

        Assert.Empty(f.Of(AlertType.Leakage));
    }

    /// <summary>The same for the terminal temperature: two hot samples an hour apart made a 30 s hold of 3,600 s.</summary>
    [Fact]
    public void Overtemperature_two_one_sample_spikes_an_hour_apart_with_temperature_left_out_between_never_alert()
    {
        var f = new Feed();
        f.Meter("m-0001", 0, 10, tempC: 90);
        for (var s = 10; s < 3600; s += 10)
        {
            f.Meter("m-0001", s, 10);
        }

        f.Meter("m-0001", 3600, 10, tempC: 90);
        f.Meter("m-0001", 3610, 10, tempC: 40);

        Assert.Empty(f.Of(AlertType.Overtemperature));
    }

    /// <summary>Leakage reported on every reading still raises its critical alert on the second of two.</summary>
    [Fact]
    public void Leakage_on_two_consecutive_readings_is_still_critical()
    {
        var f = new Feed();
        f.Meter("m-0001", 0, 10, leakageMa: 350);
        f.Meter("m-0001", 10, 10, leakageMa: 350);
        Assert.Equal(Severity.Critical, Assert.Single(f.Of(AlertType.Leakage)).Alert.Severity);
    }

    /// <summary>
    /// Each override was accepted and switched a rule off: an offline limit of 0 (what one writes to "turn offline off")
    /// took every reading for a gap and interrupted every hold, so no overload, leakage, temperature or port alert could
    /// fire; 1e16 s overflowed the deadline and crashed the engine; critical levels past what a reading may report were
    /// never reached; a clear level of 0 never cleared, so a second leak hours later raised nothing. Each is now a
    /// registry error naming the device.
    /// </summary>
    [Theory]
    [InlineData("""{"offlineIntervals":0,"offlineMinS":0}""", "offline limit")]
    [InlineData("""{"offlineIntervals":1,"offlineMinS":5}""", "offline limit")]
    [InlineData("""{"offlineMinS":1e16}""", "offline limit")]
    [InlineData("""{"leakageCriticalMa":20000}""", "leakage levels")]
    [InlineData("""{"temperatureCriticalC":300}""", "temperature levels")]
    [InlineData("""{"overloadCriticalFactor":12}""", "overload factors")]
    [InlineData("""{"leakageClearMa":0}""", "clear level")]
    [InlineData("""{"overloadClearFactor":0}""", "clear level")]
    [InlineData("""{"portClearFactor":0}""", "clear level")]
    [InlineData("""{"reactiveHoldS":7200}""", "reactiveHoldS")]
    [InlineData("""{"reactiveHoldS":0}""", "reactiveHoldS")]
    public void An_override_that_would_switch_a_rule_off_is_a_registry_error(string thresholds, string named)
    {
        var error = Assert.Throws<RegistryException>(() => RegistryLoader.Parse(WithDeviceThresholds("m-0001", thresholds)));
        Assert.Contains("m-0001", error.Message, StringComparison.Ordinal);
        Assert.Contains(named, error.Message, StringComparison.Ordinal);
    }

    /// <summary>Overrides within what the rules can work with load as before.</summary>
    [Theory]
    [InlineData("""{"offlineIntervals":2,"offlineMinS":0}""")]
    [InlineData("""{"offlineMinS":86400}""")]
    [InlineData("""{"leakageCriticalMa":1000,"temperatureCriticalC":140,"overloadCriticalFactor":2}""")]
    public void An_override_the_rules_can_work_with_loads(string thresholds) =>
        Assert.NotNull(RegistryLoader.Parse(WithDeviceThresholds("m-0001", thresholds)));
}
