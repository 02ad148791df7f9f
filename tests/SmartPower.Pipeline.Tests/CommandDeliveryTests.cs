using SmartPower.Contract;
using SmartPower.Mqtt;
using SmartPower.Pipeline;

namespace SmartPower.Pipeline.Tests;

/// <summary>
/// A stop-port for a pile that is not subscribed at that moment (reconnecting; or the replay of a restarted host, whose
/// consumers run before the devices are back). Devices connect with a clean start, so no broker keeps it for them, and
/// the engine sends a stop once per alert: it is held and sent when the pile is back. Found in review: on the old code
/// the send completed and the command was gone.
/// </summary>
public sealed class CommandDeliveryTests : IDisposable
{
    private static readonly DeviceCommand Stop = new("xihu-wutong", DeviceKind.Pile, "p-0001", DeviceCommand.StopPort, 2, "alert-1", "port-overpower");
    private readonly TempDirectory _directory = new("command-delivery");

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task The_embedded_broker_sends_a_stop_the_pile_missed_when_it_subscribes_again()
    {
        using var ingress = new Ingress(Story.Registry(), new NoLog());
        var port = FreePorts.Next();
        await using var broker = new EmbeddedBroker(new EmbeddedBrokerOptions { Port = port, BindAddress = System.Net.IPAddress.Loopback }, ingress, new AnyToken());
        await broker.StartAsync();
        await broker.SendAsync(Stop, CancellationToken.None); // nobody subscribed

        await using var pile = new TestDevice("p-0001", "token", port);
        await pile.ConnectAsync();
        await pile.SubscribeAsync(Feed.Topic("p-0001", "pile", "command"));
        await broker.SendAsync(Stop with { Port = 3, AlertId = "alert-2" }, CancellationToken.None);
        await AssertReceivedAsync(pile, [2, 3]);
    }

    [Fact]
    public async Task The_bridge_sends_a_stop_the_pile_missed_when_the_pile_is_heard_from_again()
    {
        using var mosquitto = await MosquittoBroker.StartAsync(_directory.File("mosquitto"));
        using var ingress = new Ingress(Story.Registry(), new NoLog());
        await using var bridge = new BrokerBridge(mosquitto.BridgeOptions(), ingress);
        await bridge.StartAsync(CancellationToken.None);
        await bridge.SendAsync(Stop, CancellationToken.None); // nobody subscribed: mosquitto answers "no matching subscribers"

        await using var pile = new TestDevice("p-0001", "-", mosquitto.Port);
        await pile.ConnectAsync();
        await pile.SubscribeAsync(Feed.Topic("p-0001", "pile", "command"));
        await pile.PublishAsync(Feed.Topic("p-0001", "pile"), Feed.PilePayload(0, 1, 150, 0, 0, 0)); // heard from again
        await AssertReceivedAsync(pile, [2]);
    }

    private static async Task AssertReceivedAsync(TestDevice pile, int[] ports)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            lock (pile.Commands)
            {
                if (pile.Commands.Count >= ports.Length)
                {
                    break;
                }
            }

            await Task.Delay(50);
        }

        await Task.Delay(300); // nothing more (no command sent twice)
        lock (pile.Commands)
        {
            Assert.Equal(ports, pile.Commands.Select(PortOf).Order());
        }
    }

    private static int PortOf(string command)
    {
        using var json = System.Text.Json.JsonDocument.Parse(command);
        return json.RootElement.GetProperty("port").GetInt32();
    }

    private sealed class NoLog : ITelemetryLog
    {
        public int PartitionCount => 1;

        public ValueTask AppendAsync(TelemetryMessage message, CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }

    private sealed class AnyToken : IDeviceCredentials
    {
        public ValueTask<bool> VerifyAsync(string deviceId, string token, CancellationToken cancellationToken) => ValueTask.FromResult(true);

        public Task<string> IssueAsync(string deviceId, CancellationToken cancellationToken) => Task.FromResult("token");

        public Task<int> RevokeAsync(string deviceId, CancellationToken cancellationToken) => Task.FromResult(0);
    }
}
