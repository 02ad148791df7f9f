using System.Diagnostics;

namespace SmartPower.Pipeline.Tests;

/// <summary>The local host (<c>SmartPower.Host serve</c>) as a real child process, to kill and restart.</summary>
internal sealed class HostProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _output = [];

    private HostProcess(Process process) => _process = process;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return string.Join('\n', _output);
            }
        }
    }

    public bool HasExited => _process.HasExited;

    /// <summary>Starts <c>serve</c> with <paramref name="args"/> and waits until the broker listens.</summary>
    public static async Task<HostProcess> StartAsync(params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "SmartPower.Host.dll");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(dll);
        info.ArgumentList.Add("serve");
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        var host = new HostProcess(Process.Start(info) ?? throw new InvalidOperationException("could not start the host"));
        var listening = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnLine(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (host._output)
            {
                host._output.Add(line);
            }

            if (line.StartsWith("HTTP listening", StringComparison.Ordinal))
            {
                listening.TrySetResult();
            }
        }

        host._process.OutputDataReceived += (_, e) => OnLine(e.Data);
        host._process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        host._process.BeginOutputReadLine();
        host._process.BeginErrorReadLine();
        var exited = host._process.WaitForExitAsync();
        if (await Task.WhenAny(listening.Task, exited, Task.Delay(TimeSpan.FromSeconds(60))) != listening.Task)
        {
            host.Kill();
            throw new InvalidOperationException("the host did not start listening:\n" + host.Output);
        }

        return host;
    }

    /// <summary>Writes the story's registry and issues tokens for <paramref name="devices"/> into a new store in <paramref name="directory"/>.</summary>
    public static async Task<(string Registry, string Database, Dictionary<string, string> Tokens)> PrepareAsync(TempDirectory directory, params string[] devices)
    {
        var registry = directory.File("registry.json");
        await File.WriteAllTextAsync(registry, Feed.RegistryJson);
        var database = directory.File("store.db");
        var tokens = new Dictionary<string, string>(StringComparer.Ordinal);
        await using var store = await Sqlite.SqliteStore.OpenAsync(new Sqlite.SqliteStoreOptions { Path = database });
        foreach (var id in devices)
        {
            tokens[id] = await store.IssueAsync(id, CancellationToken.None);
        }

        return (registry, database, tokens);
    }

    /// <summary>SIGKILL: no shutdown code runs.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
    }

    /// <summary>SIGTERM, as systemd or Ctrl+C would: the host drains and checkpoints, then exits.</summary>
    public async Task<int> StopAsync()
    {
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return _process.ExitCode;
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }
}
