using SmartPower.Contract;
using SmartPower.Registry;

namespace SmartPower.Tests;

public sealed class RegistryTests
{
    [Fact]
    public void The_contract_example_registry_loads_with_its_devices_and_locations()
    {
        var registry = RegistryLoader.Parse(Feed.RegistryJson);
        Assert.Equal(4, registry.DeviceCount);
        Assert.True(registry.TryGetDevice("m-0100", out var stairwell));
        Assert.Equal((DeviceKind.Meter, Circuit.CommonArea, 16.0), (stairwell.Kind, stairwell.Circuit, stairwell.RatedCurrentA!.Value));
        Assert.True(registry.TryGetDevice("p-0001"u8, out var pile));
        Assert.Equal((4, 400.0), (pile.PortCount!.Value, pile.PortMaxW!.Value));
        Assert.Equal("xihu-3", registry.GetSite("xihu-wutong").FireStation);
    }

    [Theory]
    [InlineData("""{"sites":[],"devices":[{"deviceId":"m-1","siteId":"nowhere","kind":"meter","circuit":"dwelling","ratedCurrentA":40}]}""", "siteId 'nowhere' is not a listed site")]
    [InlineData("""{"sites":[{"siteId":"s","name":"S"}],"devices":[{"deviceId":"m-1","siteId":"s","kind":"meter","circuit":"dwelling"}]}""", "needs ratedCurrentA")]
    [InlineData("""{"sites":[{"siteId":"s","name":"S"}],"devices":[{"deviceId":"p-1","siteId":"s","kind":"pile","circuit":"pile","portCount":4}]}""", "needs portMaxW")]
    [InlineData("""{"sites":[{"siteId":"s","name":"S"}],"devices":[{"deviceId":"p-1","siteId":"s","kind":"pile","circuit":"pile","portCount":4,"portMaxW":6000}]}""", "portMaxW between 0 and 5000")]
    [InlineData("""{"sites":[{"siteId":"s","name":"S"}],"devices":[{"deviceId":"m-1","siteId":"s","kind":"meter","circuit":"dwelling","ratedCurrentA":40},{"deviceId":"m-1","siteId":"s","kind":"meter","circuit":"dwelling","ratedCurrentA":40}]}""", "listed twice")]
    [InlineData("""{"sites":[{"siteId":"s","name":"S"}],"devices":[{"deviceId":"../m","siteId":"s","kind":"meter","circuit":"dwelling","ratedCurrentA":40}]}""", "id rule")]
    [InlineData("""{"sites":[{"siteId":"s","name":"S"}],"devices":[{"deviceId":"m-1","siteId":"s","kind":"toaster","circuit":"dwelling","ratedCurrentA":40}]}""", "kind 'toaster'")]
    [InlineData("""{"sites":[{"siteId":"s","name":"S"}],"devices":[{"deviceId":"m-1","siteId":"s","kind":"meter","circuit":"pile","ratedCurrentA":40}]}""", "cannot be on a 'pile' circuit")]
    [InlineData("""{"sites":[{"siteId":"s","name":"S","thresholds":{"overlaodWarningHoldS":10}}],"devices":[]}""", "thresholds.overlaodWarningHoldS is not a known threshold")]
    [InlineData("""{"sites":[{"siteId":"s","name":"S","thresholds":{"overloadWarningHoldS":"soon"}}],"devices":[]}""", "must be a non-negative number")]
    [InlineData("""{"sites":[{"siteId":"s","name":"S","timeZone":"Mars/Olympus"}],"devices":[]}""", "not a known IANA time zone")]
    [InlineData("""{"sites":[{"siteId":"s","name":"S"}],"devices":[""", "not JSON at all")]
    public void A_bad_registry_fails_with_a_message_that_says_where_and_why(string json, string expected)
    {
        var error = Assert.Throws<RegistryException>(() => RegistryLoader.Parse(json));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }
}
