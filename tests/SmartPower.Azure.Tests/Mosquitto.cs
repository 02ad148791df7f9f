using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace SmartPower.Azure.Tests;

/// <summary>
/// A mosquitto of the test's own (the binary test.sh installs), anonymous, on a free loopback port, so that what these
/// tests publish never reaches the other test projects' clients on the shared broker (whose observers see every
/// <c>smartpower/v1/#</c> message). Stopped on dispose.
/// </summary>
internal sealed class Mosquitto : IDisposable
{
    private readonly Process _process;
    private readonly string _config;

    private Mosquitto(Process process, string config, int port)
    {
        _process = process;
        _config = config;
        Port = port;
    }

    public int Port { get; }

    public static async Task<Mosquitto> StartAsync()
    {
        var port = FreePorts.Next();
        var config = Path.Combine(Path.GetTempPath(), $"smartpower-mosquitto-{Guid.NewGuid():N}.conf");
        await File.WriteAllTextAsync(config, $"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n");
        if (!OperatingSystem.IsWindows())
        {
            // Started as root, mosquitto drops to its own user, which must be able to read the file.
            File.SetUnixFileMode(config, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        }

        var process = Process.Start(new ProcessStartInfo("mosquitto", ["-c", config]) { RedirectStandardError = true, RedirectStandardOutput = true })
            ?? throw new InvalidOperationException("mosquitto did not start (test.sh installs it)");
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, port);
                return new Mosquitto(process, config, port);
            }
            catch (SocketException) when (!process.HasExited)
            {
                await Task.Delay(50);
            }
        }

        process.Kill();
        throw new InvalidOperationException($"mosquitto did not listen on {port}: {await process.StandardError.ReadToEndAsync()}");
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit();
        }

        _process.Dispose();
        File.Delete(_config);
    }
}
