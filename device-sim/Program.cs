using SmartPower.DeviceSim.Cli;

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

return await Verbs.RunAsync(args, Console.Out, Console.Error, TimeProvider.System, cancel.Token).ConfigureAwait(false);
