namespace SmartPower.DeviceSim.Tests;

/// <summary>A temporary folder, deleted on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "device-sim-" + Guid.NewGuid().ToString("N"));

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public string Write(string name, string text)
    {
        System.IO.File.WriteAllText(File(name), text);
        return File(name);
    }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

/// <summary>Runs the simulator's command line in process and keeps what it printed.</summary>
internal static class SimCli
{
    public static async Task<(int Exit, string Out, string Err)> RunAsync(params string[] args) =>
        await RunAsync(CancellationToken.None, args);

    public static async Task<(int Exit, string Out, string Err)> RunAsync(CancellationToken cancellationToken, params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var exit = await SmartPower.DeviceSim.Cli.Verbs.RunAsync(args, stdout, stderr, TimeProvider.System, cancellationToken);
        return (exit, stdout.ToString(), stderr.ToString());
    }
}
