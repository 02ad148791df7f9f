using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace SmartPower.Pipeline.Tests;

/// <summary>
/// A mosquitto of the test's own (the binary test.sh installs) on a fixed loopback port, with persistence on, so that it
/// can be stopped and started again the way an operator restarts the external broker: sessions and queued QoS 1
/// messages are saved on a graceful stop and restored on start.
/// </summary>
internal sealed class MosquittoBroker : IDisposable
{
    private readonly string _directory;
    private readonly string _config;
    private readonly List<string> _log = [];
    private Process? _process;

    private MosquittoBroker(string directory, int port)
    {
        _directory = directory;
        _config = Path.Combine(directory, "mosquitto.conf");
        Port = port;
    }

    public int Port { get; }

    /// <summary>A bridge's options for this broker: a session of its own (a fresh client id), a plain subscription, every site or <paramref name="sites"/>.</summary>
    public Mqtt.BrokerBridgeOptions BridgeOptions(IReadOnlyList<string>? sites = null) =>
        new() { Host = "127.0.0.1", Port = Port, ClientId = $"bridge-{Guid.NewGuid():N}", ShareGroup = null, Sites = sites };

    /// <summary>What mosquitto logged, across restarts.</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return string.Join('\n', _log);
            }
        }
    }

    /// <param name="users">When given, only these user names, each with its password, may connect (mosquitto_passwd).</param>
    public static async Task<MosquittoBroker> StartAsync(string directory, IReadOnlyDictionary<string, string>? users = null)
    {
        Directory.CreateDirectory(directory);
        var broker = new MosquittoBroker(directory, FreePorts.Next());
        var access = "allow_anonymous true\n";
        if (users is not null)
        {
            var passwords = Path.Combine(directory, "passwd");
            await File.WriteAllLinesAsync(passwords, users.Select(u => $"{u.Key}:{u.Value}"));
            using var hash = Process.Start("mosquitto_passwd", ["-U", passwords]) ?? throw new InvalidOperationException("mosquitto_passwd did not start");
            await hash.WaitForExitAsync();
            if (hash.ExitCode != 0)
            {
                throw new InvalidOperationException($"mosquitto_passwd exited with {hash.ExitCode}");
            }
            access = $"allow_anonymous false\npassword_file {passwords}\n";
        }

        await File.WriteAllTextAsync(broker._config,
            $"listener {broker.Port} 127.0.0.1\n{access}user root\npersistence true\npersistence_location {directory}/\nmax_queued_messages 100000\nlog_dest stderr\nlog_type all\n");
        await broker.StartAgainAsync();
        return broker;
    }

    /// <summary>Starts it (again) on the same port and persistence file.</summary>
    public async Task StartAgainAsync()
    {
        _process = Process.Start(new ProcessStartInfo("mosquitto", ["-c", _config]) { RedirectStandardError = true, RedirectStandardOutput = true })
            ?? throw new InvalidOperationException("mosquitto did not start (test.sh installs it)");
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (_log)
                {
                    _log.Add(e.Data);
                }
            }
        };
        _process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException) when (!_process.HasExited)
            {
                await Task.Delay(50);
            }
        }

        throw new InvalidOperationException($"mosquitto did not listen on {Port}");
    }

    /// <summary>SIGTERM: mosquitto saves its sessions and queued messages, then exits.</summary>
    public async Task StopAsync()
    {
        using (var kill = Process.Start("kill", ["-TERM", _process!.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        _process.Dispose();
        _process = null;
    }

    public void Dispose()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            _process.WaitForExit();
        }

        _process?.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
