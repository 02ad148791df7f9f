using Microsoft.Extensions.Logging.Abstractions;
using SmartPower.Host;
using SmartPower.Registry;

namespace SmartPower.Pipeline.Tests;

/// <summary>A <see cref="LocalPipeline"/> on free ports in a temporary directory, with tokens for the story's devices.</summary>
internal sealed class PipelineHarness : IAsyncDisposable
{
    private PipelineHarness(LocalPipeline pipeline, TempDirectory directory, int port, Dictionary<string, string> tokens)
    {
        Pipeline = pipeline;
        Directory = directory;
        MqttPort = port;
        Tokens = tokens;
    }

    public LocalPipeline Pipeline { get; }

    public TempDirectory Directory { get; }

    public int MqttPort { get; }

    public IReadOnlyDictionary<string, string> Tokens { get; }

    public static async Task<PipelineHarness> StartAsync(DeviceRegistry? registry = null, Action<LocalPipelineOptions>? configure = null, Microsoft.Extensions.Logging.ILoggerFactory? loggers = null)
    {
        registry ??= Story.Registry();
        var directory = new TempDirectory("pipeline");
        var port = FreePorts.Next();
        var options = new LocalPipelineOptions { DatabasePath = directory.File("store.db") };
        options.Broker.Port = port;
        options.Broker.BindAddress = System.Net.IPAddress.Loopback;
        options.Consumer.Poll = TimeSpan.FromMilliseconds(20);
        configure?.Invoke(options);
        var pipeline = await LocalPipeline.StartAsync(registry, options, loggers ?? NullLoggerFactory.Instance, CancellationToken.None);
        var tokens = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var device in registry.Devices)
        {
            tokens[device.DeviceId] = await pipeline.Store.IssueAsync(device.DeviceId, CancellationToken.None);
        }

        return new PipelineHarness(pipeline, directory, port, tokens);
    }

    public async Task<TestDevice> ConnectAsync(string deviceId, string? token = null)
    {
        var device = new TestDevice(deviceId, token ?? Tokens[deviceId], MqttPort);
        await device.ConnectAsync();
        return device;
    }

    /// <summary>Waits until every message the ingress appended has been processed and stored.</summary>
    public async Task WaitCaughtUpAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            var m = Pipeline.Metrics;
            if (m.Accepted + m.Duplicates + m.StatusMessages + m.Rejected >= Pipeline.Ingress.Appended && Pipeline.Consumers.All(c => c.Lag == 0))
            {
                return;
            }

            await Task.Delay(20);
        }

        throw new TimeoutException("the pipeline did not catch up with the log within 20 s");
    }

    public async ValueTask DisposeAsync()
    {
        await Pipeline.DisposeAsync();
        Directory.Dispose();
    }
}
