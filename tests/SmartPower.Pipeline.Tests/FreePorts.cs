using System.Net.Sockets;

namespace SmartPower.Tests;

/// <summary>
/// Ports for the servers the tests start (brokers, mosquitto, the host's HTTP, webhook receivers). Not port 0: the kernel
/// hands those out from the ephemeral range, where the tests' own outgoing connections get their ports too, so one of them
/// could take the port between picking it and the server binding it. These come from below that range, from a block that
/// this test process claims for itself (dotnet test runs the test assemblies at once), and each is checked to be free.
/// </summary>
internal static class FreePorts
{
    private const int Lowest = 10_000;
    private const int BlockSize = 1_000;

    // The claim is a listener on the block's first port, held until the process exits: the kernel lets only one process have it.
    private static readonly (TcpListener Claim, int First) Block = ClaimBlock();
    private static int _handedOut;

    /// <summary>A port nothing listens on, IPv4 or IPv6, that no other test process hands out.</summary>
    public static int Next()
    {
        for (var tries = 0; tries < BlockSize; tries++)
        {
            var port = Block.First + 1 + (Interlocked.Increment(ref _handedOut) % (BlockSize - 1));
            if (Listen(port) is { } probe)
            {
                probe.Dispose();
                return port;
            }
        }

        throw new InvalidOperationException($"no free port in {Block.First + 1}-{Block.First + BlockSize - 1}");
    }

    private static (TcpListener, int) ClaimBlock()
    {
        var ephemeral = EphemeralRangeStart();
        for (var first = Lowest; first + BlockSize <= ephemeral; first += BlockSize)
        {
            if (Listen(first) is { } claim)
            {
                return (claim, first);
            }
        }

        throw new InvalidOperationException($"no free block of {BlockSize} ports between {Lowest} and the ephemeral range at {ephemeral}");
    }

    private static int EphemeralRangeStart()
    {
        const string range = "/proc/sys/net/ipv4/ip_local_port_range";
        return File.Exists(range) && int.TryParse(File.ReadAllText(range).Split()[0], out var start) ? start : 32768;
    }

    /// <summary>Listens on the port on every address, IPv6 and IPv4 (dual mode where IPv6 is there); null when it is taken.</summary>
    private static TcpListener? Listen(int port)
    {
        var listener = TcpListener.Create(port);
        try
        {
            listener.Start();
            return listener;
        }
        catch (SocketException)
        {
            listener.Dispose();
            return null;
        }
    }
}
