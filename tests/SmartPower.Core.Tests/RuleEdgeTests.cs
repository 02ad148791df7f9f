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
    /// leakageMa and tempC are optional. A device that left one out of its readings for an hour did not interrupt that
    /// rule's hold, so two single 350 mA samples an hour apart counted as "2 consecutive readings" and raised a critical
    /// alert, and two 90 C samples made a 30 s hold of 3,600 s.
    /// </summary>
    [Theory]
    [InlineData(AlertType.Leakage)]
    [InlineData(AlertType.Overtemperature)]
    public void Two_one_sample_spikes_an_hour_apart_with_the_measure_left_out_between_never_alert(AlertType type)
    {
        var f = new Feed();
        void Spike(double s, bool high) =>
            f.Meter("m-0001", s, 10, leakageMa: type == AlertType.Leakage ? (high ? 350 : 3) : null, tempC: type == AlertType.Overtemperature ? (high ? 90 : 40) : null);
        Spike(0, high: true);
        for (var s = 10; s < 3600; s += 10)
        {
            f.Meter("m-0001", s, 10); // an hour of readings without the measure
        }

        Spike(3600, high: true);
        Spike(3610, high: false);
        Assert.Empty(f.Of(type));
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
